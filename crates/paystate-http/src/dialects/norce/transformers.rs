//! Norce Checkout's wire format and its translation into paystate's domain and back.
//!
//! The body of the update-payment hook is the whole Norce order. It is read field by field from a
//! `serde_json::Value` rather than through derived deserializers, so that every refusal names the
//! field it is about (`payments[1].amount`), fields Norce adds later are tolerated, and the parts
//! paystate keeps verbatim (cart, customer, state, attributes) stay exactly as they came. The
//! structs deriving `ToSchema` describe that wire shape for the OpenAPI document.

use chrono::{DateTime, NaiveDateTime, Utc};
use paystate_domain::status::judge;
use paystate_domain::{Currency, DomainError, Payment, PaymentStatus, Timestamp, Transition};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The longest Norce id (order, payment, merchant, channel) accepted. Norce's own ids are 28
/// characters (`o_yClTSySjyAuuBjmiBlHCjuEcTf`); the bound keeps the references paystate derives
/// from them within the 200 characters a reference may have.
pub const MAX_ID_CHARS: usize = 64;

/// The longest PSP reference of a payment accepted (paystate's limit for a transaction reference).
const MAX_REFERENCE_CHARS: usize = 2000;

// --- wire types (for the OpenAPI document and the response) -----------------------------------

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

// --- the payment state machine, in Norce's words ----------------------------------------------

/// What a Norce payment state reports to the canonical machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    Status(PaymentStatus),
    /// `credited`: the captured payment was paid back in full (a refund of a paid payment).
    Credited,
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

    pub fn reported(self) -> Reported {
        use PaymentStatus::*;
        match self {
            Self::Intent => Reported::Status(Open),
            Self::Processing | Self::Pending => Reported::Status(Pending),
            Self::Confirmed | Self::Reserved => Reported::Status(Authorized),
            Self::Captured => Reported::Status(Paid),
            Self::Credited | Self::Refunded => Reported::Credited,
            Self::Declined | Self::Failed => Reported::Status(Failed),
            Self::Removed | Self::Cancelled => Reported::Status(Canceled),
        }
    }

    /// The state Norce would show for what paystate knows of a payment. Norce has no word for
    /// an expired payment (written `failed`) nor for a reversal (money went back: `credited`).
    pub fn of_status(status: PaymentStatus, fully_refunded: bool) -> Self {
        match status {
            PaymentStatus::Open => Self::Intent,
            PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Reserved,
            PaymentStatus::Paid if fully_refunded => Self::Credited,
            PaymentStatus::Paid => Self::Captured,
            PaymentStatus::Failed | PaymentStatus::Expired => Self::Failed,
            PaymentStatus::Canceled => Self::Removed,
            PaymentStatus::Reversed => Self::Credited,
        }
    }

    pub fn of(payment: &Payment) -> Self {
        Self::of_status(payment.status, fully_refunded(payment))
    }

    /// Two states that say the same thing to paystate (`processing` and `pending`).
    pub fn agrees_with(self, other: Self) -> bool {
        self.class() == other.class()
    }

    fn class(self) -> u8 {
        match self {
            Self::Intent => 0,
            Self::Processing | Self::Pending => 1,
            Self::Confirmed | Self::Reserved => 2,
            Self::Captured => 3,
            Self::Credited | Self::Refunded => 4,
            Self::Declined | Self::Failed => 5,
            Self::Removed | Self::Cancelled => 6,
        }
    }

    /// This state in the casing of `sent` (`Captured` after `Reserved`, `CAPTURED` after `RESERVED`).
    pub fn written_like(self, sent: &str) -> String {
        let word = self.as_str();
        let letters: Vec<char> = sent.chars().filter(|c| c.is_alphabetic()).collect();
        if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
            word.to_ascii_uppercase()
        } else if sent.chars().next().is_some_and(char::is_uppercase) {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        } else {
            word.to_owned()
        }
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

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

impl NorcePaymentType {
    fn parse(text: &str) -> Option<Self> {
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

/// A paid payment whose whole amount went back through refunds: Norce's `credited`.
pub fn fully_refunded(payment: &Payment) -> bool {
    payment.has_refunds && payment.remaining() == 0
}

/// One change the hook makes to the payment's status, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Report a canonical status to the machine.
    Report(PaymentStatus),
    /// Refund all that remains of a paid payment.
    RefundAll,
}

/// What a hook does to a payment in a given status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The hook agrees with paystate or moves the payment forward: the order and payment fields
    /// it carries are kept, then these steps run.
    Proceed(Vec<Step>),
    /// An earlier state delivered late: recorded as stale by the machine, nothing else changes.
    Stale(PaymentStatus),
    /// `captured` for a payment paystate knows is credited: late, nothing changes.
    Behind,
    /// Contradicts a settled status: recorded, flagged for review, nothing else changes.
    Conflict(Step),
}

/// Decides what a hook reporting `sent` does to a payment in `status`.
pub fn plan(status: PaymentStatus, refunded_in_full: bool, sent: NorcePaymentState) -> Plan {
    if sent.agrees_with(NorcePaymentState::of_status(status, refunded_in_full)) {
        return Plan::Proceed(vec![]);
    }
    match sent.reported() {
        Reported::Status(reported) => match judge(status, reported) {
            Transition::Advance => Plan::Proceed(vec![Step::Report(reported)]),
            // Only `captured` for a credited payment gets here: the state is the same, the news old.
            Transition::Same => Plan::Behind,
            Transition::Stale => Plan::Stale(reported),
            Transition::Conflict => Plan::Conflict(Step::Report(reported)),
        },
        // A credit says the payment was captured first: what paystate missed of it is caught up.
        Reported::Credited if status.precedes(PaymentStatus::Paid) => {
            Plan::Proceed(vec![Step::Report(PaymentStatus::Paid), Step::RefundAll])
        }
        Reported::Credited if status == PaymentStatus::Paid => Plan::Proceed(vec![Step::RefundAll]),
        Reported::Credited => Plan::Conflict(Step::RefundAll),
    }
}

// --- references paystate derives from Norce ids ---------------------------------------------------

/// Our order's reference: unique per tenant, merchant and Norce order. Ids never contain `:`.
pub fn order_reference(merchant: &str, order_id: &str) -> String {
    format!("norce:{merchant}:{order_id}")
}

/// Our payment's external id: unique per tenant, merchant, Norce order and Norce payment.
pub fn payment_external_id(merchant: &str, order_id: &str, payment_id: &str) -> String {
    format!("norce:{merchant}:{order_id}:{payment_id}")
}

// --- reading the hook -------------------------------------------------------------------------

/// A field of the request that is refused, and why; `message` follows the field's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid { field: field.into(), message: message.into() }
    }

    /// The whole sentence: `payments[0].amount must be a JSON number`.
    pub fn detail(&self) -> String {
        format!("{} {}", self.field, self.message)
    }
}

/// Why a hook's body is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    Invalid(Invalid),
    /// The path's payment is not among the order's payments.
    PaymentNotInOrder {
        payment_id: String,
    },
}

impl From<Invalid> for BodyError {
    fn from(invalid: Invalid) -> Self {
        BodyError::Invalid(invalid)
    }
}

/// The ids of a hook, from its path and headers, already checked with [`check_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub order_id: String,
    pub payment_id: String,
    pub merchant: String,
    pub channel: String,
}

/// A hook, read and checked: everything paystate takes from the order.
#[derive(Clone, Debug)]
pub struct Hook {
    pub ids: Ids,
    pub currency: Currency,
    /// `total.includingVat` in minor units.
    pub total: Option<i64>,
    pub last_modified: Option<Timestamp>,
    /// The order's customer verbatim (null when absent).
    pub customer: Value,
    /// What paystate keeps of the order verbatim, as its order's `attributes.norce`.
    pub order_snapshot: Value,
    pub payment: HookPayment,
}

/// The hook's payment: the entry of `payments[]` the path names.
#[derive(Clone, Debug)]
pub struct HookPayment {
    /// Its index in `payments[]`, for the answer's JSON Pointers.
    pub index: usize,
    pub state: NorcePaymentState,
    /// The state as it was written, for the casing of the answer.
    pub state_text: String,
    /// Minor units of the order's currency.
    pub amount: i64,
    /// `adapterId` then `name`: candidates for a payment method code.
    pub method_codes: Vec<String>,
    /// The PSP reference, when one was sent (an empty one counts as none).
    pub reference: Option<String>,
    /// Whether the entry has a `reference` member at all (even null).
    pub reference_member: bool,
    /// What paystate keeps of the entry verbatim, as its payment's `attrs.norce`.
    pub snapshot: Value,
}

impl HookPayment {
    pub fn field(&self, name: &str) -> String {
        format!("payments[{}].{name}", self.index)
    }
}

/// Checks an id from the path or a header: 1 to 64 characters, no `:` and no control characters.
pub fn check_id(field: &str, value: &str) -> Result<(), Invalid> {
    let count = value.chars().count();
    if count == 0 || count > MAX_ID_CHARS || value.chars().any(|c| c.is_control() || c == ':') {
        return Err(Invalid::new(field, "must be 1 to 64 characters without ':' or control characters"));
    }
    Ok(())
}

/// The members of an object under a path, read with type checks; null counts as absent.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.prefix) }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(Invalid::new(self.path(key), "must be a string")),
        }
    }

    fn required_string(&self, key: &str) -> Result<&'a str, Invalid> {
        self.string(key)?.ok_or_else(|| Invalid::new(self.path(key), "is required"))
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(Invalid::new(self.path(key), "must be a JSON object")),
        }
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, Invalid> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(Invalid::new(self.path(key), "must be a JSON array")),
        }
    }

    fn timestamp(&self, key: &str) -> Result<Option<Timestamp>, Invalid> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => parse_timestamp(text)
                .map(Some)
                .ok_or_else(|| Invalid::new(self.path(key), "must be an ISO 8601 date-time (2019-08-24T14:15:22Z)")),
        }
    }

    /// An enum value, read case-insensitively; answers it with the text as it was written.
    fn enumeration<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        names: &str,
    ) -> Result<Option<(T, &'a str)>, Invalid> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => match parse(text) {
                Some(value) => Ok(Some((value, text))),
                None => Err(Invalid::new(self.path(key), format!("must be one of {names}; {text:?} is not"))),
            },
        }
    }

    fn amount(&self, key: &str, currency: Currency) -> Result<Option<i64>, Invalid> {
        self.get(key).map(|value| minor_units(value, currency, &self.path(key))).transpose()
    }
}

/// An ISO 8601 date-time: with an offset (`Z`, `+02:00`), or without one as UTC (an ASP.NET habit).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|naive| naive.and_utc())
}

/// A major-unit JSON number in minor units of `currency`, exactly.
fn minor_units(value: &Value, currency: Currency, field: &str) -> Result<i64, Invalid> {
    let Value::Number(number) = value else {
        return Err(Invalid::new(field, "must be a JSON number in major units (199.95)"));
    };
    // The number's own text (serde_json keeps it, `arbitrary_precision`): never a double.
    let text = number.to_string();
    if text.starts_with('-') {
        return Err(Invalid::new(field, "must not be negative"));
    }
    let converted = currency.minor_from_json_number(&text);
    converted.map_err(|error| {
        let message = match error {
            DomainError::TooManyDecimals { currency, exponent } => {
                format!("has more decimals than {currency} has ({exponent}): {number}")
            }
            DomainError::AmountOutOfRange => format!("is out of range: {number}"),
            DomainError::Invalid { message, .. } => message,
            other => other.to_string(),
        };
        Invalid::new(field, message)
    })
}

/// The members of `map` named in `keys`, verbatim (absent ones stay absent).
fn pick(map: &Map<String, Value>, keys: &[&str]) -> Value {
    Value::Object(keys.iter().filter_map(|k| map.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect())
}

const ORDER_STATUSES: &str = "checkout, processing, accepted, completed, declined, removed";
const PAYMENT_STATES: &str =
    "intent, processing, pending, confirmed, reserved, captured, credited, declined, failed, removed";
const PAYMENT_TYPES: &str = "default, prepaid, voucher";

/// Reads the hook's body: the whole Norce order.
pub fn parse(body: &Value, ids: Ids) -> Result<Hook, BodyError> {
    let Some(map) = body.as_object() else {
        return Err(Invalid::new("body", "must be a Norce order (a JSON object)").into());
    };
    let order = Fields { map, prefix: String::new() };
    let id = order.required_string("id")?;
    if id != ids.order_id {
        return Err(Invalid::new("id", format!("is {id:?}, but the path names order {:?}", ids.order_id)).into());
    }
    let merchant = order.required_string("merchant")?;
    if merchant != ids.merchant {
        let message = format!("is {merchant:?}, but the x-merchant header is {:?}", ids.merchant);
        return Err(Invalid::new("merchant", message).into());
    }
    let channel = order.required_string("channel")?;
    if channel != ids.channel {
        let message = format!("is {channel:?}, but the x-channel header is {:?}", ids.channel);
        return Err(Invalid::new("channel", message).into());
    }
    order.string("reference")?;
    order.timestamp("created")?;
    let last_modified = order.timestamp("lastModified")?;
    if let Some(state) = order.object("state")? {
        let state = Fields { map: state, prefix: "state".into() };
        state.enumeration("currentStatus", NorceOrderStatus::parse, ORDER_STATUSES)?;
        state.array("transitions")?;
    }
    order.string("culture")?;
    order.string("country")?;
    let currency_text = order.required_string("currency")?;
    let currency = Currency::parse(currency_text).map_err(|_| {
        Invalid::new("currency", format!("must be an ISO 4217 currency code; {currency_text:?} is not one"))
    })?;
    order.object("cart")?;
    let customer = order.object("customer")?.map_or(Value::Null, |c| Value::Object(c.clone()));
    let total = match order.object("total")? {
        Some(total) => Fields { map: total, prefix: "total".into() }.amount("includingVat", currency)?,
        None => None,
    };
    order.object("attributes")?;
    let payments = order.array("payments")?.ok_or_else(|| Invalid::new("payments", "is required"))?;

    let mut found = None;
    for (index, entry) in payments.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(Invalid::new(format!("payments[{index}]"), "must be a JSON object").into());
        };
        let entry_id = Fields { map: entry, prefix: format!("payments[{index}]") }.required_string("id")?;
        if entry_id == ids.payment_id {
            if found.is_some() {
                let message = format!("repeats payment {entry_id:?}");
                return Err(Invalid::new(format!("payments[{index}].id"), message).into());
            }
            found = Some((index, entry));
        }
    }
    let Some((index, entry)) = found else {
        return Err(BodyError::PaymentNotInOrder { payment_id: ids.payment_id });
    };
    let payment = read_payment(index, entry, id, currency)?;

    let order_snapshot = pick(
        map,
        &[
            "id",
            "merchant",
            "channel",
            "reference",
            "created",
            "lastModified",
            "state",
            "culture",
            "country",
            "cart",
            "total",
            "attributes",
        ],
    );
    Ok(Hook { ids, currency, total, last_modified, customer, order_snapshot, payment })
}

fn read_payment(
    index: usize,
    entry: &Map<String, Value>,
    order_id: &str,
    currency: Currency,
) -> Result<HookPayment, Invalid> {
    let fields = Fields { map: entry, prefix: format!("payments[{index}]") };
    let (state, state_text) = fields
        .enumeration("state", NorcePaymentState::parse, PAYMENT_STATES)?
        .ok_or_else(|| Invalid::new(fields.path("state"), "is required"))?;
    let amount =
        fields.amount("amount", currency)?.ok_or_else(|| Invalid::new(fields.path("amount"), "is required"))?;
    if let Some(text) = fields.string("currency")? {
        match Currency::parse(text) {
            Ok(own) if own == currency => {}
            _ => {
                let message = format!("is {text:?}, but the order's currency is {currency}");
                return Err(Invalid::new(fields.path("currency"), message));
            }
        }
    }
    if let Some(own) = fields.string("orderId")?
        && own != order_id
    {
        return Err(Invalid::new(fields.path("orderId"), format!("is {own:?}, but the order is {order_id:?}")));
    }
    let method_codes: Vec<String> =
        [fields.string("adapterId")?, fields.string("name")?].into_iter().flatten().map(str::to_owned).collect();
    fields.enumeration("type", NorcePaymentType::parse, PAYMENT_TYPES)?;
    let reference = fields.string("reference")?.filter(|r| !r.is_empty()).map(str::to_owned);
    if reference.as_ref().is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS) {
        return Err(Invalid::new(fields.path("reference"), "must be at most 2000 characters"));
    }
    fields.object("attributes")?;
    // Order API v1 (hooks registered with `version: "v1"`): the payment's actions and whether it
    // is recurring, kept with the entry.
    fields.array("actions")?;
    if fields.get("recurring").is_some_and(|r| !r.is_boolean()) {
        return Err(Invalid::new(fields.path("recurring"), "must be true or false"));
    }
    Ok(HookPayment {
        index,
        state,
        state_text: state_text.to_owned(),
        amount,
        method_codes,
        reference,
        reference_member: entry.contains_key("reference"),
        snapshot: pick(entry, &["id", "adapterId", "name", "type", "attributes", "actions", "recurring"]),
    })
}

// --- the answer -----------------------------------------------------------------------------------

/// The JSON Patch that brings the checkout's order in line with what paystate knows of the
/// payment: its state when paystate holds a later one, and the PSP reference when paystate has
/// one and the order has none. Every path exists in the order that was sent (`payments/{i}` is
/// the entry the hook is about), or is an `add` of a member to that entry.
pub fn answer(sent: &HookPayment, payment: &Payment) -> Vec<NorcePatchOperation> {
    let mut operations = Vec::new();
    let entry = format!("/payments/{}", sent.index);
    let ours = NorcePaymentState::of(payment);
    if !ours.agrees_with(sent.state) {
        operations.push(NorcePatchOperation {
            op: "replace".into(),
            path: format!("{entry}/state"),
            value: json!(ours.written_like(&sent.state_text)),
        });
    }
    if let Some(reference) = &payment.transaction_ref
        && sent.reference.is_none()
    {
        operations.push(NorcePatchOperation {
            op: if sent.reference_member { "replace" } else { "add" }.into(),
            path: format!("{entry}/reference"),
            value: json!(reference),
        });
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::NorcePaymentState::*;
    use super::*;
    use PaymentStatus as S;

    fn ids() -> Ids {
        Ids { order_id: "o_1".into(), payment_id: "p_1".into(), merchant: "norce".into(), channel: "se".into() }
    }

    fn order(payment: Value) -> Value {
        json!({"id": "o_1", "merchant": "norce", "channel": "se", "currency": "SEK", "payments": [payment]})
    }

    fn invalid(body: Value) -> Invalid {
        match parse(&body, ids()) {
            Err(BodyError::Invalid(invalid)) => invalid,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn states_read_case_insensitively_and_write_back_in_the_senders_casing() {
        assert_eq!(NorcePaymentState::parse("Intent"), Some(Intent));
        assert_eq!(NorcePaymentState::parse("CAPTURED"), Some(Captured));
        assert_eq!(NorcePaymentState::parse("Refunded"), Some(Refunded));
        assert_eq!(NorcePaymentState::parse("paid"), None);
        assert_eq!(Captured.written_like("Reserved"), "Captured");
        assert_eq!(Captured.written_like("RESERVED"), "CAPTURED");
        assert_eq!(Captured.written_like("reserved"), "captured");
        assert_eq!(Intent.written_like("x"), "intent");
    }

    #[test]
    fn every_state_maps_to_the_canonical_machine_and_back() {
        let table = [
            (Intent, S::Open),
            (Processing, S::Pending),
            (Pending, S::Pending),
            (Confirmed, S::Authorized),
            (Reserved, S::Authorized),
            (Captured, S::Paid),
            (Declined, S::Failed),
            (Failed, S::Failed),
            (Removed, S::Canceled),
            (Cancelled, S::Canceled),
        ];
        for (state, status) in table {
            assert_eq!(state.reported(), Reported::Status(status), "{state:?}");
            assert!(NorcePaymentState::of_status(status, false).agrees_with(state), "{state:?}");
        }
        assert_eq!(Credited.reported(), Reported::Credited);
        assert_eq!(Refunded.reported(), Reported::Credited);
        assert!(Refunded.agrees_with(Credited) && Cancelled.agrees_with(Removed));
        assert_eq!(NorcePaymentState::of_status(S::Paid, true), Credited);
        assert_eq!(NorcePaymentState::of_status(S::Reversed, false), Credited);
        assert_eq!(NorcePaymentState::of_status(S::Expired, false), Failed);
    }

    #[test]
    fn plans() {
        use Step::*;
        assert_eq!(plan(S::Open, false, Intent), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Open, false, Reserved), Plan::Proceed(vec![Report(S::Authorized)]));
        assert_eq!(plan(S::Authorized, false, Credited), Plan::Proceed(vec![Report(S::Paid), RefundAll]));
        assert_eq!(plan(S::Paid, false, Credited), Plan::Proceed(vec![RefundAll]));
        assert_eq!(plan(S::Paid, true, Credited), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Paid, true, Captured), Plan::Behind);
        assert_eq!(plan(S::Paid, false, Reserved), Plan::Stale(S::Authorized));
        assert_eq!(plan(S::Reversed, false, Captured), Plan::Stale(S::Paid));
        assert_eq!(plan(S::Reversed, false, Credited), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Paid, false, Failed), Plan::Conflict(Report(S::Failed)));
        assert_eq!(plan(S::Canceled, false, Credited), Plan::Conflict(RefundAll));
        // What paystate writes back for an expired payment does not come back as a conflict.
        assert_eq!(plan(S::Expired, false, Failed), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Expired, false, Captured), Plan::Conflict(Report(S::Paid)));
    }

    #[test]
    fn a_complete_order_is_read() {
        let body = json!({
            "id": "o_1", "merchant": "norce", "channel": "se", "currency": "sek",
            "lastModified": "2024-05-01T10:00:00.1234567Z", "state": {"currentStatus": "Checkout"},
            "total": {"includingVat": 199.95}, "customer": {"type": "person"}, "unknownField": [1],
            "payments": [
                {"id": "p_0", "state": "whatever-not-ours", "amount": "not checked"},
                {"id": "p_1", "state": "Reserved", "amount": 199.95, "currency": "SEK", "adapterId": "klarna",
                 "name": "Klarna", "type": "Default", "reference": "", "actions": [{}]}
            ]
        });
        let hook = parse(&body, ids()).unwrap();
        assert_eq!(hook.currency.code(), "SEK");
        assert_eq!(hook.total, Some(19995));
        assert_eq!(hook.customer, json!({"type": "person"}));
        assert!(hook.order_snapshot.get("unknownField").is_none());
        assert_eq!(hook.payment.index, 1);
        assert_eq!(hook.payment.amount, 19995);
        assert_eq!(hook.payment.state, Reserved);
        assert_eq!(hook.payment.state_text, "Reserved");
        assert_eq!(hook.payment.method_codes, ["klarna", "Klarna"]);
        assert_eq!(hook.payment.reference, None);
        assert!(hook.payment.reference_member);
        assert_eq!(
            hook.payment.snapshot,
            json!({"id": "p_1", "adapterId": "klarna", "name": "Klarna", "type": "Default", "actions": [{}]})
        );
    }

    #[test]
    fn amounts_convert_exactly_or_are_refused() {
        let amount = |value: Value| parse(&order(json!({"id": "p_1", "state": "intent", "amount": value})), ids());
        assert_eq!(amount(json!(10)).unwrap().payment.amount, 1000);
        assert_eq!(amount(json!(0.1)).unwrap().payment.amount, 10);
        // Numbers as they are written on the wire, which a double would round.
        for (text, minor) in [("199.95", Some(19995)), ("1.5e2", Some(15000)), ("9.999999999999999999", None)] {
            let raw: Value = serde_json::from_str(text).unwrap();
            assert_eq!(amount(raw).ok().map(|hook| hook.payment.amount), minor, "{text}");
        }
        for text in ["10.000000000000000001", "1e-400", "-0.0"] {
            let raw: Value = serde_json::from_str(text).unwrap();
            assert!(matches!(amount(raw), Err(BodyError::Invalid(_))), "{text}");
        }
        for bad in [json!(1.001), json!(-1), json!(-0.5), json!("199.95"), json!(1e20), json!(true)] {
            match amount(bad.clone()) {
                Err(BodyError::Invalid(invalid)) => assert_eq!(invalid.field, "payments[0].amount", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_used_field_is_type_checked_and_named() {
        let cases = [
            (json!({"id": 5}), "id"),
            (json!({"id": "o_2"}), "id"),
            (json!({"merchant": "other"}), "merchant"),
            (json!({"channel": null}), "channel"),
            (json!({"currency": "XXQ"}), "currency"),
            (json!({"lastModified": "yesterday"}), "lastModified"),
            (json!({"state": {"currentStatus": "gone"}}), "state.currentStatus"),
            (json!({"state": "checkout"}), "state"),
            (json!({"total": {"includingVat": 1.001}}), "total.includingVat"),
            (json!({"customer": []}), "customer"),
            (json!({"cart": 1}), "cart"),
            (json!({"attributes": "x"}), "attributes"),
            (json!({"payments": {}}), "payments"),
            (json!({"payments": [1]}), "payments[0]"),
            (json!({"payments": [{"state": "intent"}]}), "payments[0].id"),
            (json!({"payments": [{"id": "p_1", "amount": 1}]}), "payments[0].state"),
            (json!({"payments": [{"id": "p_1", "amount": 1, "state": "paid"}]}), "payments[0].state"),
            (json!({"payments": [{"id": "p_1", "state": "intent"}]}), "payments[0].amount"),
            (
                json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "currency": "EUR"}]}),
                "payments[0].currency",
            ),
            (
                json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "orderId": "o_9"}]}),
                "payments[0].orderId",
            ),
            (json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "type": "gift"}]}), "payments[0].type"),
            (
                json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "reference": 7}]}),
                "payments[0].reference",
            ),
            (
                json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1, "attributes": []}]}),
                "payments[0].attributes",
            ),
            (json!({"payments": [{"id": "p_1", "state": "intent", "amount": 1}, {"id": "p_1"}]}), "payments[1].id"),
        ];
        for (change, field) in cases {
            let mut body = order(json!({"id": "p_1", "state": "intent", "amount": 1}));
            for (key, value) in change.as_object().unwrap() {
                body[key] = value.clone();
            }
            assert_eq!(invalid(body.clone()).field, field, "{body}");
        }
        assert_eq!(invalid(json!([1])).field, "body");
        let mut missing = order(json!({"id": "p_1", "state": "intent", "amount": 1}));
        missing.as_object_mut().unwrap().remove("currency");
        assert_eq!(invalid(missing).detail(), "currency is required");
        let unknown = parse(&order(json!({"id": "p_2", "state": "intent", "amount": 1})), ids());
        assert_eq!(unknown.unwrap_err(), BodyError::PaymentNotInOrder { payment_id: "p_1".into() });
    }

    #[test]
    fn ids_are_bounded_and_colon_free() {
        assert!(check_id("x-merchant", "norce").is_ok());
        assert!(check_id("x-merchant", "").is_err());
        assert!(check_id("order_id", "a:b").is_err());
        assert!(check_id("order_id", &"o".repeat(65)).is_err());
        assert!(check_id("order_id", "o\u{7}").is_err());
        let longest = "x".repeat(MAX_ID_CHARS);
        assert!(payment_external_id(&longest, &longest, &longest).chars().count() <= 200);
    }
}
