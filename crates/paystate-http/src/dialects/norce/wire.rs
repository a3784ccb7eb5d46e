//! Norce Checkout's wire format: the order the update-payment hook receives, the JSON Patch it
//! answers, and Norce's own words for payment states, order statuses and payment kinds.
//!
//! The body is not bound to these structs: it is read member by member in `parse`, so that every
//! refusal names its field, fields Norce adds later are tolerated, and the parts paystate keeps
//! (cart, customer, state, attributes) stay exactly as they came. The structs describe that wire
//! shape for the OpenAPI document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A Norce payment state. Norce's schema writes them in lower case (`intent`), its samples
/// capitalized (`Intent`): they are read case-insensitively and written back as they were sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NorcePaymentState {
    Intent,
    Processing,
    Pending,
    Confirmed,
    Reserved,
    Captured,
    Credited,
    Declined,
    Failed,
    Removed,
    /// In Norce's current specifications: the payment was cancelled (read like `removed`).
    Cancelled,
    /// In Norce's current specifications: what remained was paid back (read like `credited`).
    Refunded,
}

/// A Norce order's status (`state.currentStatus`), kept as it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NorceOrderStatus {
    Checkout,
    Processing,
    Accepted,
    Completed,
    Declined,
    Removed,
}

/// The kind of a Norce payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NorcePaymentType {
    Default,
    Prepaid,
    Voucher,
}

/// A Norce order's state object.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NorceState {
    pub current_status: Option<NorceOrderStatus>,
    /// `[{status, timeStamp}]`, kept as it came.
    #[schema(value_type = Option<Vec<Object>>)]
    pub transitions: Option<Vec<Value>>,
}

/// An amount pair in major units (`199.95`, not cents).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NorceTotal {
    /// The order's total; paystate keeps it (in minor units) as the order's total amount.
    pub including_vat: Option<f64>,
    pub excluding_vat: Option<f64>,
}

/// One payment of a Norce order (`payments[]`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NorcePayment {
    /// Norce's payment id (`p_KBiXuYjvYxsezKCQAMuuSKGDaT`); the path's `payment_id` names one entry.
    pub id: String,
    /// The payment adapter; a tenant payment method whose code equals it becomes the payment's method.
    pub adapter_id: Option<String>,
    /// The method's display name; matched against method codes when no method matches `adapterId`.
    pub name: Option<String>,
    pub merchant: Option<String>,
    pub channel: Option<String>,
    /// Must be the order's currency when given.
    pub currency: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<NorcePaymentType>,
    /// Must be the order's id when given.
    pub order_id: Option<String>,
    /// Major units of the currency; required, converted exactly (more decimals than the currency has is refused).
    pub amount: f64,
    pub upper_limit_amount: Option<f64>,
    /// Required; read case-insensitively.
    pub state: NorcePaymentState,
    /// The payment service provider's reference; kept as the payment's transaction reference.
    pub reference: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Option<Vec<Value>>,
}

/// The whole Norce order, as the checkout sends it to the payment adapter's hook. Fields not listed
/// here are tolerated; the fields listed are type-checked when present.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NorceOrder {
    /// Required; must equal the path's `order_id`.
    pub id: String,
    /// Required; must equal the `x-merchant` header.
    pub merchant: String,
    /// Required; must equal the `x-channel` header.
    pub channel: String,
    pub reference: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// An order older than the one paystate already holds does not overwrite it.
    pub last_modified: Option<DateTime<Utc>>,
    pub state: Option<NorceState>,
    pub culture: Option<String>,
    /// Required ISO 4217 code; an order's currency never changes.
    pub currency: String,
    pub country: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub cart: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub shippings: Option<Vec<Value>>,
    /// Required; must hold the path's `payment_id`.
    pub payments: Vec<NorcePayment>,
    #[schema(value_type = Option<Object>)]
    pub customer: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub consents: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub hooks: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub validations: Option<Vec<Value>>,
    pub total: Option<NorceTotal>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// One RFC 6902 JSON Patch operation of the hook's answer, applied by the checkout to its order.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"op": "replace", "path": "/payments/0/state", "value": "Captured"}))]
pub struct NorcePatchOperation {
    /// `replace` or `add`.
    pub op: String,
    /// A JSON Pointer into the order that was sent.
    pub path: String,
    #[schema(value_type = Object)]
    pub value: Value,
}

impl NorcePaymentState {
    pub const ALL: [NorcePaymentState; 12] = [
        Self::Intent,
        Self::Processing,
        Self::Pending,
        Self::Confirmed,
        Self::Reserved,
        Self::Captured,
        Self::Credited,
        Self::Declined,
        Self::Failed,
        Self::Removed,
        Self::Cancelled,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Processing => "processing",
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Reserved => "reserved",
            Self::Captured => "captured",
            Self::Credited => "credited",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Removed => "removed",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// Reads a state case-insensitively (`Intent`, `intent`, `INTENT`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

impl NorceOrderStatus {
    const ALL: [NorceOrderStatus; 6] =
        [Self::Checkout, Self::Processing, Self::Accepted, Self::Completed, Self::Declined, Self::Removed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Checkout => "checkout",
            Self::Processing => "processing",
            Self::Accepted => "accepted",
            Self::Completed => "completed",
            Self::Declined => "declined",
            Self::Removed => "removed",
        }
    }

    /// Reads a status case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

impl NorcePaymentType {
    /// Reads a kind case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Default, Self::Prepaid, Self::Voucher].into_iter().find(|t| {
            let name = match t {
                Self::Default => "default",
                Self::Prepaid => "prepaid",
                Self::Voucher => "voucher",
            };
            name.eq_ignore_ascii_case(text)
        })
    }
}
