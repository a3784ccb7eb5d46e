//! The hook's body read into the ledger's checkout use case: pure, tested without a database.
//!
//! The whole Norce order is read member by member with the dialects' lenient reader, so that every
//! refusal names the field it is about (`payments[1].amount`) in Norce's words, fields Norce adds
//! later are tolerated, and the parts paystate keeps verbatim stay exactly as they came. Amounts
//! become integer minor units exactly; Norce's payment states become canonical reported states.

use super::wire::{NorceOrderStatus, NorcePaymentState, NorcePaymentType};
use crate::dialects::json::{Members, Refused, item};
use chrono::{DateTime, NaiveDateTime, Utc};
use paystate_domain::payment::reported::ReportedState;
use paystate_domain::{Currency, DomainError, PaymentStatus, Source, Timestamp};
use paystate_ledger::{CheckoutPayment, CheckoutUpdate};
use serde_json::{Map, Value};

/// The longest Norce id (order, payment, merchant, channel) accepted. Norce's own ids are 28
/// characters (`o_yClTSySjyAuuBjmiBlHCjuEcTf`); the bound keeps the references paystate derives
/// from them within the 200 characters a reference may have.
pub const MAX_ID_CHARS: usize = 64;

/// The longest PSP reference of a payment accepted (paystate's limit for a transaction reference).
const MAX_REFERENCE_CHARS: usize = 2000;

const ORDER_STATUSES: &str = "checkout, processing, accepted, completed, declined, removed";
const PAYMENT_STATES: &str =
    "intent, processing, pending, confirmed, reserved, captured, credited, declined, failed, removed";
const PAYMENT_TYPES: &str = "default, prepaid, voucher";

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

/// The reader's refusals are worded as Norce's hook has always worded them.
impl From<Refused> for Invalid {
    fn from(refused: Refused) -> Self {
        Invalid { message: refused.message(), field: refused.path }
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

impl From<Refused> for BodyError {
    fn from(refused: Refused) -> Self {
        BodyError::Invalid(refused.into())
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

/// A hook, read and checked: the ledger's input, and what the answer needs of the request.
#[derive(Clone, Debug)]
pub struct Hook {
    pub sent: Sent,
    pub update: CheckoutUpdate,
}

/// What the answer and the refusals say of the request as it was sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub ids: Ids,
    pub currency: Currency,
    pub payment: SentPayment,
}

/// The hook's payment as sent: the entry of `payments[]` the path names.
#[derive(Clone, Debug)]
pub struct SentPayment {
    /// Its index in `payments[]`, for the answer's JSON Pointers and the refusals' fields.
    pub index: usize,
    pub state: NorcePaymentState,
    /// The state as it was written, for the casing of the answer.
    pub state_text: String,
    /// Whether a PSP reference was sent (an empty one counts as none).
    pub has_reference: bool,
    /// Whether the entry has a `reference` member at all (even null).
    pub reference_member: bool,
}

impl SentPayment {
    pub fn field(&self, name: &str) -> String {
        format!("payments[{}].{name}", self.index)
    }
}

impl NorcePaymentState {
    /// What this state reports, in canonical terms.
    pub fn reported(self) -> ReportedState {
        use PaymentStatus::*;
        match self {
            Self::Intent => ReportedState::Status(Open),
            Self::Processing | Self::Pending => ReportedState::Status(Pending),
            Self::Confirmed | Self::Reserved => ReportedState::Status(Authorized),
            Self::Captured => ReportedState::Status(Paid),
            // The captured payment was paid back in full.
            Self::Credited | Self::Refunded => ReportedState::Refunded,
            Self::Declined | Self::Failed => ReportedState::Status(Failed),
            Self::Removed | Self::Cancelled => ReportedState::Status(Canceled),
        }
    }
}

/// Our order's reference: unique per tenant, merchant and Norce order. Ids never contain `:`.
pub fn order_reference(merchant: &str, order_id: &str) -> String {
    format!("norce:{merchant}:{order_id}")
}

/// Our payment's external id: unique per tenant, merchant, Norce order and Norce payment.
pub fn payment_external_id(merchant: &str, order_id: &str, payment_id: &str) -> String {
    format!("norce:{merchant}:{order_id}:{payment_id}")
}

/// Checks an id from the path or a header: 1 to 64 characters, no `:` and no control characters.
pub fn check_id(field: &str, value: &str) -> Result<(), Invalid> {
    let count = value.chars().count();
    if count == 0 || count > MAX_ID_CHARS || value.chars().any(|c| c.is_control() || c == ':') {
        return Err(Invalid::new(field, "must be 1 to 64 characters without ':' or control characters"));
    }
    Ok(())
}

/// An ISO 8601 date-time: with an offset (`Z`, `+02:00`), or without one as UTC (an ASP.NET habit).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|naive| naive.and_utc())
}

/// When the Norce order kept as a snapshot (`attributes.norce`) was last modified.
fn snapshot_last_modified(snapshot: &Value) -> Option<Timestamp> {
    snapshot.get("lastModified").and_then(Value::as_str).and_then(parse_timestamp)
}

/// Reads the hook's body, the whole Norce order, into the checkout use case's input.
pub fn parse(body: &Value, ids: Ids) -> Result<Hook, BodyError> {
    let Some(map) = body.as_object() else {
        return Err(Invalid::new("body", "must be a Norce order (a JSON object)").into());
    };
    let order = Members::root(map);
    check_order_ids(&order, &ids)?;
    order.string("reference")?;
    timestamp(&order, "created")?;
    let last_modified = timestamp(&order, "lastModified")?;
    if let Some(state) = order.object("state")? {
        let state = Members::at(state, "state");
        enumeration(&state, "currentStatus", NorceOrderStatus::parse, ORDER_STATUSES)?;
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
        Some(total) => amount(&Members::at(total, "total"), "includingVat", currency)?,
        None => None,
    };
    order.object("attributes")?;
    // Members paystate neither reads nor keeps are still type-checked, as the schema lists them.
    for listed in ["actions", "consents", "hooks", "shippings", "validations"] {
        order.array(listed)?;
    }
    let (index, entry) = payment_entry(&order, &ids.payment_id)?;
    let (sent, payment) = read_payment(index, entry, &ids.order_id, currency)?;

    let update = CheckoutUpdate {
        source: Source::Norce,
        merchant: ids.merchant.clone(),
        order_reference: order_reference(&ids.merchant, &ids.order_id),
        payment_external_id: payment_external_id(&ids.merchant, &ids.order_id, &ids.payment_id),
        currency,
        total,
        customer,
        order_snapshot: pick(map, ORDER_KEPT),
        modified_at: last_modified,
        snapshot_modified_at: snapshot_last_modified,
        payment,
    };
    Ok(Hook { sent: Sent { ids, currency, payment: sent }, update })
}

/// The members of the order kept verbatim as its snapshot.
const ORDER_KEPT: &[&str] = &[
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
];

/// The members of the payment kept verbatim as its snapshot.
const PAYMENT_KEPT: &[&str] = &["id", "adapterId", "name", "type", "attributes", "actions", "recurring"];

/// The body's `id`, `merchant` and `channel` must be the path's and the headers'.
fn check_order_ids(order: &Members, ids: &Ids) -> Result<(), Invalid> {
    let id = order.required_string("id")?;
    if id != ids.order_id {
        return Err(Invalid::new("id", format!("is {id:?}, but the path names order {:?}", ids.order_id)));
    }
    let merchant = order.required_string("merchant")?;
    if merchant != ids.merchant {
        let message = format!("is {merchant:?}, but the x-merchant header is {:?}", ids.merchant);
        return Err(Invalid::new("merchant", message));
    }
    let channel = order.required_string("channel")?;
    if channel != ids.channel {
        let message = format!("is {channel:?}, but the x-channel header is {:?}", ids.channel);
        return Err(Invalid::new("channel", message));
    }
    Ok(())
}

/// The one entry of `payments[]` the path names, with its index.
fn payment_entry<'a>(order: &Members<'a>, payment_id: &str) -> Result<(usize, &'a Map<String, Value>), BodyError> {
    let payments = order.array("payments")?.ok_or_else(|| Invalid::new("payments", "is required"))?;
    let mut found = None;
    for (index, entry) in payments.iter().enumerate() {
        let prefix = item("payments", index);
        let Value::Object(entry) = entry else {
            return Err(Invalid::new(prefix, "must be a JSON object").into());
        };
        let entry_id = Members::at(entry, &prefix).required_string("id")?;
        if entry_id == payment_id {
            if found.is_some() {
                let message = format!("repeats payment {entry_id:?}");
                return Err(Invalid::new(format!("{prefix}.id"), message).into());
            }
            found = Some((index, entry));
        }
    }
    found.ok_or_else(|| BodyError::PaymentNotInOrder { payment_id: payment_id.to_owned() })
}

fn read_payment(
    index: usize,
    entry: &Map<String, Value>,
    order_id: &str,
    currency: Currency,
) -> Result<(SentPayment, CheckoutPayment), Invalid> {
    let prefix = item("payments", index);
    let fields = Members::at(entry, &prefix);
    let (state, state_text) = enumeration(&fields, "state", NorcePaymentState::parse, PAYMENT_STATES)?
        .ok_or_else(|| Invalid::new(fields.path("state"), "is required"))?;
    let amount =
        amount(&fields, "amount", currency)?.ok_or_else(|| Invalid::new(fields.path("amount"), "is required"))?;
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
    enumeration(&fields, "type", NorcePaymentType::parse, PAYMENT_TYPES)?;
    let reference = fields.string("reference")?.filter(|r| !r.is_empty()).map(str::to_owned);
    if reference.as_ref().is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS) {
        return Err(Invalid::new(fields.path("reference"), "must be at most 2000 characters"));
    }
    fields.object("attributes")?;
    // Order API v1 (hooks registered with `version: "v1"`): the payment's actions and whether it
    // is recurring, kept with the entry.
    fields.array("actions")?;
    fields.boolean("recurring")?;
    fields.string("merchant")?;
    fields.string("channel")?;
    fields.number("upperLimitAmount")?;
    let sent = SentPayment {
        index,
        state,
        state_text: state_text.to_owned(),
        has_reference: reference.is_some(),
        reference_member: entry.contains_key("reference"),
    };
    let payment = CheckoutPayment {
        reported: state.reported(),
        amount,
        method_codes,
        transaction_ref: reference,
        snapshot: pick(entry, PAYMENT_KEPT),
    };
    Ok((sent, payment))
}

fn timestamp(members: &Members, key: &str) -> Result<Option<Timestamp>, Invalid> {
    match members.string(key)? {
        None => Ok(None),
        Some(text) => parse_timestamp(text)
            .map(Some)
            .ok_or_else(|| Invalid::new(members.path(key), "must be an ISO 8601 date-time (2019-08-24T14:15:22Z)")),
    }
}

/// An enum value, read case-insensitively; answers it with the text as it was written.
fn enumeration<'a, T>(
    members: &Members<'a>,
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
    names: &str,
) -> Result<Option<(T, &'a str)>, Invalid> {
    match members.string(key)? {
        None => Ok(None),
        Some(text) => match parse(text) {
            Some(value) => Ok(Some((value, text))),
            None => Err(Invalid::new(members.path(key), format!("must be one of {names}; {text:?} is not"))),
        },
    }
}

fn amount(members: &Members, key: &str, currency: Currency) -> Result<Option<i64>, Invalid> {
    members.get(key)?.map(|value| minor_units(value, currency, &members.path(key))).transpose()
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

#[cfg(test)]
mod tests;
