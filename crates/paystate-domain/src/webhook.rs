//! Webhook endpoints as subscribers see them: where a tenant's events go and which ones.
//!
//! The signing secrets are not part of this record: they exist sealed in storage and in clear
//! only in the one response that issues them. URL policy (schemes, private networks) needs a
//! URL parser and the network configuration, so it lives with the dispatcher, not here.

use crate::{DomainError, EndpointId, EventType, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// The wildcard that subscribes an endpoint to every event type, present and future.
pub const ALL_EVENTS: &str = "*";

/// The event types an endpoint subscribes to: `["*"]`, or a list of known event types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct EventSelection(Vec<String>);

impl EventSelection {
    /// Every event type.
    pub fn all() -> Self {
        Self(vec![ALL_EVENTS.to_owned()])
    }

    /// Accepts `["*"]` or a non-empty list of known event types (duplicates are dropped).
    pub fn parse(list: Vec<String>) -> Result<Self, DomainError> {
        let invalid = |message: String| DomainError::Invalid { field: "events", message };
        if list.is_empty() {
            return Err(invalid("must list at least one event type, or \"*\" for all".into()));
        }
        if list.iter().any(|kind| kind == ALL_EVENTS) {
            if list.len() != 1 {
                return Err(invalid("\"*\" already means every event type; list it alone".into()));
            }
            return Ok(Self::all());
        }
        let mut kinds = Vec::with_capacity(list.len());
        for kind in list {
            if EventType::parse(&kind).is_none() {
                return Err(invalid(format!("{kind:?} is not an event type")));
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Self(kinds))
    }

    /// Reads back a stored selection, which was parsed before it was stored.
    pub fn from_trusted(list: Vec<String>) -> Self {
        Self(list)
    }

    /// Whether an event of this type goes to the endpoint.
    pub fn includes(&self, kind: &str) -> bool {
        self.0.iter().any(|k| k == ALL_EVENTS || k == kind)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// A webhook endpoint of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: EndpointId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: TenantId,
    pub url: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub events: EventSelection,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why paystate disabled the endpoint: `gone` (it answered 410) or `failing` (every attempt
    /// failed for days). Null while enabled or when disabled by hand.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the current unbroken run of failed attempts began; null after any success.
    pub failing_since: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl WebhookEndpoint {
    /// Whether an event of this type is delivered to the endpoint now.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled && self.events.includes(kind)
    }

    /// Turns the endpoint off because of its receiver's behaviour, saying why.
    pub fn disable(&mut self, reason: &str, at: Timestamp) {
        self.enabled = false;
        self.disabled_reason = Some(reason.to_owned());
        self.disabled_at = Some(at);
        self.updated_at = at;
    }

    /// Turns the endpoint on or off by hand; turning it on forgets why it was disabled and its
    /// run of failures, so that the five-day rule counts afresh.
    pub fn set_enabled(&mut self, enabled: bool, at: Timestamp) {
        if enabled && !self.enabled {
            self.disabled_reason = None;
            self.disabled_at = None;
            self.failing_since = None;
        } else if !enabled && self.enabled {
            self.disabled_reason = None;
            self.disabled_at = Some(at);
        }
        self.enabled = enabled;
        self.updated_at = at;
    }
}

/// A description: at most 500 characters without control characters.
pub fn validate_description(description: &str) -> Result<String, DomainError> {
    if description.chars().count() > 500 || description.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field: "description",
            message: "must be at most 500 characters without control characters".into(),
        });
    }
    Ok(description.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(kinds: &[&str]) -> Vec<String> {
        kinds.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn selections_parse_known_types_or_the_wildcard_alone() {
        let some = EventSelection::parse(list(&["payment.status_changed", "order.created", "order.created"])).unwrap();
        assert_eq!(some.as_slice(), ["payment.status_changed", "order.created"]);
        assert!(some.includes("order.created"));
        assert!(!some.includes("payment.refunded"));
        let all = EventSelection::parse(list(&["*"])).unwrap();
        assert!(all.includes("payment.refunded") && all.includes("webhook_endpoint.disabled"));
        assert!(EventSelection::parse(vec![]).is_err());
        assert!(EventSelection::parse(list(&["*", "order.created"])).is_err());
        assert!(EventSelection::parse(list(&["payment.paid"])).is_err());
    }

    #[test]
    fn enabling_by_hand_forgets_the_failure_run() {
        let at = chrono::Utc::now();
        let mut endpoint = WebhookEndpoint {
            id: EndpointId::generate(),
            tenant_id: TenantId::generate(),
            url: "https://example.com/hook".into(),
            events: EventSelection::all(),
            description: None,
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            failing_since: Some(at),
            created_at: at,
            updated_at: at,
        };
        endpoint.disable("gone", at);
        assert!(!endpoint.wants("order.created"));
        assert_eq!(endpoint.disabled_reason.as_deref(), Some("gone"));
        endpoint.set_enabled(true, at);
        assert!(endpoint.wants("order.created"));
        assert_eq!((endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since), (None, None, None));
        assert!(validate_description(&"x".repeat(501)).is_err());
        assert!(validate_description("line\nbreak").is_err());
    }
}
