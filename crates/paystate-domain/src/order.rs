//! Orders: what a merchant takes payments against.

use crate::{Actor, Currency, DomainError, EventDraft, EventType, OrderId, Source, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Open,
    Closed,
    Canceled,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Closed, Self::Canceled].into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: OrderId,
    pub tenant_id: TenantId,
    /// The id the merchant or vendor uses for the order; unique per tenant.
    pub reference: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
    pub currency: Currency,
    /// The order's total in minor units.
    pub total_amount: i64,
    pub state: OrderState,
    /// A JSON object, or null when none is known.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub customer: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_via: Source,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_via: Source,
    pub version: i64,
}

/// What a caller gives to open an order.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub reference: String,
    pub currency: Currency,
    pub total_amount: i64,
    pub customer: serde_json::Value,
    pub attributes: serde_json::Value,
}

/// Changes to an order's descriptive fields; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct OrderPatch {
    pub total_amount: Option<i64>,
    pub customer: Option<serde_json::Value>,
    pub attributes: Option<serde_json::Value>,
}

impl Order {
    pub fn open(new: NewOrder, actor: &Actor, now: Timestamp) -> Result<(Order, EventDraft), DomainError> {
        let order = Order {
            id: OrderId::generate(),
            tenant_id: actor.tenant_id.clone(),
            reference: validate_reference("reference", &new.reference)?,
            currency: new.currency,
            total_amount: crate::money::check_range(new.total_amount)?,
            state: OrderState::Open,
            customer: object_or_null(new.customer, "customer")?,
            attributes: object_or_empty(new.attributes, "attributes")?,
            created_at: now,
            created_via: actor.source,
            updated_at: now,
            updated_via: actor.source,
            version: 1,
        };
        let event = EventDraft::order(EventType::OrderCreated, &order, serde_json::Value::Null);
        Ok((order, event))
    }

    /// Moves the order to `target`. Open orders may close or be canceled; a closed order may be
    /// reopened or canceled; a canceled order is final. The same state again changes nothing.
    pub fn change_state(
        &self,
        target: OrderState,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Option<(Order, EventDraft)>, DomainError> {
        if target == self.state {
            return Ok(None);
        }
        if self.state == OrderState::Canceled {
            return Err(DomainError::OrderNotOpen(self.state));
        }
        let mut next = self.clone();
        next.state = target;
        next.touch(actor, now);
        let detail = serde_json::json!({"previous_state": self.state});
        let event = EventDraft::order(EventType::OrderUpdated, &next, detail);
        Ok(Some((next, event)))
    }

    /// Applies a patch of descriptive fields; `None` when it changes nothing.
    pub fn patch(
        &self,
        patch: OrderPatch,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Option<(Order, EventDraft)>, DomainError> {
        let mut next = self.clone();
        if let Some(total) = patch.total_amount {
            next.total_amount = crate::money::check_range(total)?;
        }
        if let Some(customer) = patch.customer {
            next.customer = object_or_null(customer, "customer")?;
        }
        if let Some(attributes) = patch.attributes {
            next.attributes = object_or_empty(attributes, "attributes")?;
        }
        if next == *self {
            return Ok(None);
        }
        next.touch(actor, now);
        let event = EventDraft::order(EventType::OrderUpdated, &next, serde_json::Value::Null);
        Ok(Some((next, event)))
    }

    fn touch(&mut self, actor: &Actor, now: Timestamp) {
        self.updated_at = now;
        self.updated_via = actor.source;
        self.version += 1;
    }
}

/// A reference or external id: 1 to 200 characters, no control characters (NUL included).
pub fn validate_reference(field: &'static str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field,
            message: "must be 1 to 200 characters without control characters".into(),
        });
    }
    Ok(value.to_owned())
}

/// A customer is a JSON object, or null when none is known.
pub fn object_or_null(value: serde_json::Value, field: &'static str) -> Result<serde_json::Value, DomainError> {
    match value {
        serde_json::Value::Null | serde_json::Value::Object(_) => Ok(value),
        _ => Err(DomainError::Invalid { field, message: "must be a JSON object or null".into() }),
    }
}

/// Free-form attributes must be a JSON object (null means none).
pub fn object_or_empty(value: serde_json::Value, field: &'static str) -> Result<serde_json::Value, DomainError> {
    match value {
        serde_json::Value::Null => Ok(serde_json::Value::Object(Default::default())),
        serde_json::Value::Object(_) => Ok(value),
        _ => Err(DomainError::Invalid { field, message: "must be a JSON object".into() }),
    }
}
