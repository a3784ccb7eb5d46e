//! The audit trail: every accepted command appends immutable events.

use crate::{KeyId, Order, Payment, Tenant, TenantId, UserId, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which API a change came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Native,
    Omnicasa,
    Norce,
    Gormic,
    Teljoy,
    Cli,
    /// paystate itself, acting without a request (the webhook dispatcher disabling an endpoint).
    System,
    /// A person signed in to the operator console.
    Dashboard,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Self::Native,
        Self::Omnicasa,
        Self::Norce,
        Self::Gormic,
        Self::Teljoy,
        Self::Cli,
        Self::System,
        Self::Dashboard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Omnicasa => "omnicasa",
            Self::Norce => "norce",
            Self::Gormic => "gormic",
            Self::Teljoy => "teljoy",
            Self::Cli => "cli",
            Self::System => "system",
            Self::Dashboard => "dashboard",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether this source reports what a payment provider did (Omnicasa, Norce, Teljoy) rather
    /// than asking paystate to do something. A provider's report is a fact: when it contradicts
    /// a rule it is recorded and the payment flagged for review, since refusing it would not undo
    /// what happened and the provider would only send it again. A command (native API, Gormic's
    /// desk, the console, the CLI) is refused instead, and its caller told why.
    pub fn reports_facts(self) -> bool {
        matches!(self, Self::Omnicasa | Self::Norce | Self::Teljoy)
    }

    /// Whether an API key may be limited to this source: the native API and the vendor
    /// dialects take keys; the CLI, paystate itself and the console (people) do not.
    pub fn takes_keys(self) -> bool {
        !matches!(self, Self::Cli | Self::System | Self::Dashboard)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked for a change, through which API, in which request. Carried into every event.
#[derive(Clone, Debug)]
pub struct Actor {
    pub tenant_id: TenantId,
    /// The API key that authenticated the request; `None` for the CLI and the console.
    pub key_id: Option<KeyId>,
    /// The console user who acted; `None` for API keys, the CLI and paystate itself.
    pub user_id: Option<UserId>,
    pub source: Source,
    pub request_id: String,
    /// The inbound request body verbatim, with secrets removed by the dialect that received it.
    pub request_body: Option<String>,
}

impl Actor {
    /// The actor of a command run through paystate's CLI: no key, no user; the request id
    /// names the command and when it ran.
    pub fn cli(tenant_id: TenantId, command: &str) -> Self {
        let at = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        Self {
            tenant_id,
            key_id: None,
            user_id: None,
            source: Source::Cli,
            request_id: format!("cli:{command}:{at}"),
            request_body: None,
        }
    }

    /// The `created_by`/`updated_by` value of records this actor writes.
    pub fn name(&self) -> String {
        match (&self.user_id, &self.key_id) {
            (Some(user), _) => user.to_string(),
            (None, Some(key)) => key.to_string(),
            (None, None) => self.source.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "payment.created")]
    PaymentCreated,
    #[serde(rename = "payment.status_changed")]
    PaymentStatusChanged,
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    #[serde(rename = "payment.charged_back")]
    PaymentChargedBack,
    #[serde(rename = "payment.updated")]
    PaymentUpdated,
    #[serde(rename = "payment.deleted")]
    PaymentDeleted,
    #[serde(rename = "payment.stale_update")]
    PaymentStaleUpdate,
    #[serde(rename = "payment.conflict")]
    PaymentConflict,
    #[serde(rename = "payment.resolved")]
    PaymentResolved,
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.updated")]
    OrderUpdated,
    /// The webhook dispatcher disabled an endpoint (it answered 410, or failed for days).
    #[serde(rename = "webhook_endpoint.disabled")]
    WebhookEndpointDisabled,
    /// A person or key created a webhook endpoint.
    #[serde(rename = "webhook_endpoint.created")]
    WebhookEndpointCreated,
    /// A person or key changed a webhook endpoint: edited, disabled, enabled or rotated its secret.
    #[serde(rename = "webhook_endpoint.updated")]
    WebhookEndpointUpdated,
    /// A person or key deleted a webhook endpoint.
    #[serde(rename = "webhook_endpoint.deleted")]
    WebhookEndpointDeleted,
    /// The tenant's name or settings changed (detail: before and after).
    #[serde(rename = "tenant.updated")]
    TenantUpdated,
    /// An API key was issued (never its secret or hash).
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    /// A console user was created (never the password or its hash).
    #[serde(rename = "user.created")]
    UserCreated,
    /// A console user's role changed (detail: before and after).
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.disabled")]
    UserDisabled,
}

impl EventType {
    pub const ALL: [EventType; 21] = [
        Self::PaymentCreated,
        Self::PaymentStatusChanged,
        Self::PaymentRefunded,
        Self::PaymentChargedBack,
        Self::PaymentUpdated,
        Self::PaymentDeleted,
        Self::PaymentStaleUpdate,
        Self::PaymentConflict,
        Self::PaymentResolved,
        Self::OrderCreated,
        Self::OrderUpdated,
        Self::WebhookEndpointDisabled,
        Self::WebhookEndpointCreated,
        Self::WebhookEndpointUpdated,
        Self::WebhookEndpointDeleted,
        Self::TenantUpdated,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentCreated => "payment.created",
            Self::PaymentStatusChanged => "payment.status_changed",
            Self::PaymentRefunded => "payment.refunded",
            Self::PaymentChargedBack => "payment.charged_back",
            Self::PaymentUpdated => "payment.updated",
            Self::PaymentDeleted => "payment.deleted",
            Self::PaymentStaleUpdate => "payment.stale_update",
            Self::PaymentConflict => "payment.conflict",
            Self::PaymentResolved => "payment.resolved",
            Self::OrderCreated => "order.created",
            Self::OrderUpdated => "order.updated",
            Self::WebhookEndpointDisabled => "webhook_endpoint.disabled",
            Self::WebhookEndpointCreated => "webhook_endpoint.created",
            Self::WebhookEndpointUpdated => "webhook_endpoint.updated",
            Self::WebhookEndpointDeleted => "webhook_endpoint.deleted",
            Self::TenantUpdated => "tenant.updated",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDisabled => "user.disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether events of this type are about the tenant's own set-up (keys, users, endpoints,
    /// settings) rather than an order or a payment: they carry no order id.
    pub fn is_tenant_level(self) -> bool {
        matches!(
            self,
            Self::WebhookEndpointDisabled
                | Self::WebhookEndpointCreated
                | Self::WebhookEndpointUpdated
                | Self::WebhookEndpointDeleted
                | Self::TenantUpdated
                | Self::ApiKeyCreated
                | Self::ApiKeyRevoked
                | Self::UserCreated
                | Self::UserUpdated
                | Self::UserDisabled
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about: the record as it stands after the change.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Payment(Box<Payment>),
    Order(Box<Order>),
    /// A webhook endpoint (never its secrets); such an event belongs to no order.
    Endpoint(Box<WebhookEndpoint>),
    /// The tenant itself (name and settings); such an event belongs to no order.
    Tenant(Box<Tenant>),
    /// Another record of the tenant's set-up (an API key, a console user) as a snapshot its
    /// builder wrote field by field, never with a secret, a password or a hash of either; such an
    /// event belongs to no order.
    Record(serde_json::Value),
}

/// An event as a decision produces it; the store numbers it and stamps it with the actor.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    pub kind: EventType,
    pub subject: Subject,
    /// What the snapshot alone does not say: the reported status of a stale report, the amounts
    /// of a refund, before and after of a correction.
    pub detail: serde_json::Value,
}

impl EventDraft {
    pub fn payment(kind: EventType, payment: &Payment, detail: serde_json::Value) -> Self {
        Self { kind, subject: Subject::Payment(Box::new(payment.clone())), detail }
    }

    pub fn order(kind: EventType, order: &Order, detail: serde_json::Value) -> Self {
        Self { kind, subject: Subject::Order(Box::new(order.clone())), detail }
    }

    pub fn endpoint(kind: EventType, endpoint: &WebhookEndpoint, detail: serde_json::Value) -> Self {
        Self { kind, subject: Subject::Endpoint(Box::new(endpoint.clone())), detail }
    }

    pub fn tenant(kind: EventType, tenant: &Tenant, detail: serde_json::Value) -> Self {
        Self { kind, subject: Subject::Tenant(Box::new(tenant.clone())), detail }
    }

    /// An event about a set-up record given as a snapshot that holds no secret.
    pub fn record(kind: EventType, snapshot: serde_json::Value, detail: serde_json::Value) -> Self {
        Self { kind, subject: Subject::Record(snapshot), detail }
    }

    pub fn payment_id(&self) -> Option<&crate::PaymentId> {
        match &self.subject {
            Subject::Payment(p) => Some(&p.id),
            Subject::Order(_) | Subject::Endpoint(_) | Subject::Tenant(_) | Subject::Record(_) => None,
        }
    }

    /// The order the event is about; `None` for an event about the tenant's set-up.
    pub fn order_id(&self) -> Option<&crate::OrderId> {
        match &self.subject {
            Subject::Payment(p) => Some(&p.order_id),
            Subject::Order(o) => Some(&o.id),
            Subject::Endpoint(_) | Subject::Tenant(_) | Subject::Record(_) => None,
        }
    }

    /// The snapshot as stored in the event's `data`.
    pub fn data(&self) -> serde_json::Value {
        match &self.subject {
            Subject::Payment(p) => serde_json::to_value(p),
            Subject::Order(o) => serde_json::to_value(o),
            Subject::Endpoint(e) => serde_json::to_value(e),
            Subject::Tenant(t) => serde_json::to_value(t),
            Subject::Record(snapshot) => Ok(snapshot.clone()),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

/// An event as stored: numbered per tenant, gap-free and in commit order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredEvent {
    pub id: crate::EventId,
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub payment_id: Option<crate::PaymentId>,
    /// Null only for events about the tenant's set-up (webhook endpoints, keys, users, settings).
    pub order_id: Option<crate::OrderId>,
    pub source: Source,
    pub actor: String,
    pub request_id: String,
    pub request_body: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// What the event adds to its data (the previous state, an amount), or null.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_one_name_that_parses_back() {
        let names: std::collections::HashSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), EventType::ALL.len());
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        }
        assert!(EventType::ApiKeyCreated.is_tenant_level() && !EventType::PaymentCreated.is_tenant_level());
    }
}
