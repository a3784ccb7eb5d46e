//! Gormic's wire format and its translation: the `{"params": …}` bodies read strictly into typed
//! requests, the status vocabulary, the rules that decide what an action may do (the same
//! functions answer `can` and refuse requests, so `can` never offers an action that fails), and
//! the items and payment methods answered inside the envelope.

use super::Refusal;
use chrono::SecondsFormat;
use paystate_domain::payment::{Adjustment, MissingAmount};
use paystate_domain::{
    Currency, DomainError, MethodId, Order, OrderState, Payment, PaymentCommand, PaymentId, PaymentMethod,
    PaymentPatch, PaymentStatus, PaymentType, Timestamp,
};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// The member of a payment's `attrs` where this dialect keeps what has no canonical field:
/// `customerUid`, `progress` (true while a pending payment is Gormic's "progress") and `booked`
/// (true once a completed refund's amount is booked on its source receipt's `amount_refunded`).
/// Gormic's `attrs` never show it, and Gormic callers may not write it.
pub const RESERVED: &str = "_gormic";

/// Longest free text (transactionRef, invoiceId, note), as the domain allows.
const TEXT_MAX: usize = 2000;
/// Longest id or reference (orderId, methodId, customerUid…).
const ID_MAX: usize = 200;
/// What a number in `type` or `status` is told: an older revision of Gormic's documentation
/// showed them as integers (`"type": 1, "status": 1`), which name nothing paystate can map.
const NOT_CODES: &str = " (a string; the numeric codes of an older Gormic revision are not accepted)";

// --- statuses -------------------------------------------------------------------------------

/// Gormic's payment statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Complete,
    Pending,
    Progress,
    Reversed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Pending => "pending",
            Self::Progress => "progress",
            Self::Reversed => "reversed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Complete, Self::Pending, Self::Progress, Self::Reversed].into_iter().find(|s| s.as_str() == text)
    }

    /// The canonical status a Gormic status stands for.
    /// The canonical status this Gormic status reports for a payment now `current`. `reversed`
    /// of a payment never paid is a void, canonically `canceled`, so that a capture reported
    /// after it is a conflict (`canceled` then `paid`), not a stale report (`reversed` lies above
    /// `paid` in the lattice); a reversal of a paid payment stays `reversed`.
    pub fn canonical_for(self, current: PaymentStatus) -> PaymentStatus {
        match self {
            Self::Complete => PaymentStatus::Paid,
            Self::Pending | Self::Progress => PaymentStatus::Pending,
            Self::Reversed if matches!(current, PaymentStatus::Paid | PaymentStatus::Reversed) => {
                PaymentStatus::Reversed
            }
            Self::Reversed => PaymentStatus::Canceled,
        }
    }

    /// How a canonical payment reads in Gormic (payments of other APIs may hold statuses Gormic
    /// has no word for: open reads pending, authorized progress, and the failed, expired and
    /// canceled ones, which never became money, read reversed).
    pub fn of(payment: &Payment) -> Self {
        match payment.status {
            PaymentStatus::Pending if reserved_flag(payment, "progress") => Self::Progress,
            status => Self::of_canonical(status),
        }
    }

    /// A canonical status in Gormic's words, when the payment itself is not at hand.
    pub fn of_canonical(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Open | PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Progress,
            PaymentStatus::Paid => Self::Complete,
            PaymentStatus::Reversed | PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Canceled => {
                Self::Reversed
            }
        }
    }
}

// --- the reserved attrs member ------------------------------------------------------------

/// What this dialect keeps in `attrs._gormic`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reserved {
    pub customer_uid: Option<String>,
    pub progress: bool,
    pub booked: bool,
}

impl Reserved {
    pub fn of(payment: &Payment) -> Self {
        let member = payment.attrs.get(RESERVED);
        Reserved {
            customer_uid: member.and_then(|m| m.get("customerUid")).and_then(Value::as_str).map(str::to_owned),
            progress: reserved_flag(payment, "progress"),
            booked: reserved_flag(payment, "booked"),
        }
    }

    fn to_value(&self) -> Option<Value> {
        let mut member = Map::new();
        if let Some(customer) = &self.customer_uid {
            member.insert("customerUid".into(), customer.clone().into());
        }
        if self.progress {
            member.insert("progress".into(), true.into());
        }
        if self.booked {
            member.insert("booked".into(), true.into());
        }
        (!member.is_empty()).then_some(Value::Object(member))
    }
}

fn reserved_flag(payment: &Payment, flag: &str) -> bool {
    payment.attrs.get(RESERVED).and_then(|m| m.get(flag)).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether a completed refund's amount is already booked on its source receipt.
pub fn booked(payment: &Payment) -> bool {
    reserved_flag(payment, "booked")
}

/// The `attrs` a Gormic caller sees: the stored ones without the reserved member.
pub fn client_attrs(payment: &Payment) -> Map<String, Value> {
    let mut attrs = payment.attrs.as_object().cloned().unwrap_or_default();
    attrs.remove(RESERVED);
    attrs
}

/// The `attrs` to store: the caller's, plus the reserved member when it holds anything.
pub fn stored_attrs(mut client: Map<String, Value>, reserved: &Reserved) -> Value {
    client.remove(RESERVED);
    if let Some(member) = reserved.to_value() {
        client.insert(RESERVED.into(), member);
    }
    Value::Object(client)
}

// --- amounts ----------------------------------------------------------------------------------

/// An amount as sent: a JSON number or a decimal string, in major units of the order's currency.
#[derive(Clone, Debug, PartialEq)]
pub enum Amount {
    Number(Number),
    Text(String),
}

impl Amount {
    /// Minor units of `currency`, exactly; zero, negative, malformed, too precise or too large
    /// amounts are refused.
    pub fn minor(&self, currency: Currency) -> Result<i64, Refusal> {
        let converted = match self {
            // The number's own text (serde_json keeps it, `arbitrary_precision`): never a double.
            Amount::Number(number) => currency.minor_from_json_number(&number.to_string()),
            Amount::Text(text) => currency.minor_from_decimal_str(text),
        };
        let minor = converted.map_err(|error| match error {
            DomainError::TooManyDecimals { currency, exponent } => {
                bad("amount", format!("{currency} has {exponent} decimals; the amount has more"))
            }
            DomainError::AmountOutOfRange => bad("amount", "is too large"),
            _ => bad("amount", "must be a positive decimal number"),
        })?;
        if minor == 0 {
            return Err(bad("amount", "must be greater than zero"));
        }
        Ok(minor)
    }
}

/// Minor units as the JSON number Gormic shows (1250 EUR cents is 12.5, 1000 is 10), written
/// from its exact decimal text.
pub fn major(currency: Currency, minor: i64) -> Number {
    currency.major_text(minor).parse().unwrap_or_else(|_| Number::from(0))
}

// --- request bodies -------------------------------------------------------------------------

/// A field of a body: absent, explicitly `null`, or given.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    /// The value, treating `null` like an absent field.
    pub fn value(self) -> Option<T> {
        match self {
            Field::Set(value) => Some(value),
            Field::Absent | Field::Null => None,
        }
    }

    /// As a patch: `None` leaves the field, `Some(None)` clears it.
    pub fn patch(self) -> Option<Option<T>> {
        match self {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Set(value) => Some(Some(value)),
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> Refusal {
    Refusal::invalid(&format!("params.{field}"), message)
}

/// The `params` object of a body. An empty body, or one without `params`, is an empty object
/// unless the route needs one.
pub fn params(bytes: &[u8], required: bool) -> Result<Map<String, Value>, Refusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if required { Err(Refusal::invalid("params", "is required")) } else { Ok(Map::new()) };
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Refusal::invalid("body", format!("is not valid JSON ({e})")))?;
    let Value::Object(mut body) = value else { return Err(Refusal::invalid("body", "must be a JSON object")) };
    if let Some(unknown) = body.keys().find(|k| *k != "params") {
        return Err(Refusal::invalid("body", format!("has an unknown member {unknown:?}; send {{\"params\": {{…}}}}")));
    }
    match body.remove("params") {
        Some(Value::Object(params)) => Ok(params),
        None | Some(Value::Null) if !required => Ok(Map::new()),
        None | Some(Value::Null) => Err(Refusal::invalid("params", "is required")),
        Some(_) => Err(Refusal::invalid("params", "must be an object")),
    }
}

/// Reads the members of `params` one by one, refusing unknown ones up front.
struct Members(Map<String, Value>);

impl Members {
    fn new(params: Map<String, Value>, known: &[&str]) -> Result<Self, Refusal> {
        if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
            let name: String = unknown.chars().take(64).collect();
            return Err(Refusal::invalid("params", format!("has an unknown member {name:?}")));
        }
        Ok(Members(params))
    }

    fn take(&mut self, key: &str) -> Field<Value> {
        match self.0.remove(key) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(value) => Field::Set(value),
        }
    }

    fn string(&mut self, key: &str, max: usize, reference: bool) -> Result<Field<String>, Refusal> {
        match self.take(key) {
            Field::Set(Value::String(text)) => {
                let control = reference && text.chars().any(char::is_control);
                if text.chars().count() > max || control || (reference && text.is_empty()) {
                    let what = if reference { " without control characters" } else { "" };
                    let least = if reference { 1 } else { 0 };
                    return Err(bad(key, format!("must be a string of {least} to {max} characters{what}")));
                }
                Ok(Field::Set(text))
            }
            Field::Set(_) => Err(bad(key, "must be a string")),
            Field::Null => Ok(Field::Null),
            Field::Absent => Ok(Field::Absent),
        }
    }

    /// An id or reference: 1 to 200 characters, no control characters.
    fn id(&mut self, key: &str) -> Result<Field<String>, Refusal> {
        self.string(key, ID_MAX, true)
    }

    /// Free text: at most 2000 characters.
    fn text(&mut self, key: &str) -> Result<Field<String>, Refusal> {
        self.string(key, TEXT_MAX, false)
    }

    /// Free text that Gormic's OpenAPI marks nullable (`transactionRef`, `note`): `null` is
    /// absent, because clients generated from that specification send `null` for every member
    /// they leave unset; the empty string is "no value" and clears the field.
    fn nullable_text(&mut self, key: &str) -> Result<Field<String>, Refusal> {
        Ok(match self.text(key)? {
            Field::Null => Field::Absent,
            Field::Set(text) if text.is_empty() => Field::Null,
            other => other,
        })
    }

    fn boolean(&mut self, key: &str) -> Result<Field<bool>, Refusal> {
        match self.take(key) {
            Field::Set(Value::Bool(flag)) => Ok(Field::Set(flag)),
            Field::Set(_) => Err(bad(key, "must be true or false")),
            Field::Null => Ok(Field::Null),
            Field::Absent => Ok(Field::Absent),
        }
    }

    fn amount(&mut self) -> Result<Field<Amount>, Refusal> {
        match self.take("amount") {
            Field::Set(Value::Number(number)) => Ok(Field::Set(Amount::Number(number))),
            Field::Set(Value::String(text)) if text.len() <= 40 => Ok(Field::Set(Amount::Text(text))),
            Field::Set(_) => Err(bad("amount", "must be a positive decimal number")),
            Field::Null => Ok(Field::Null),
            Field::Absent => Ok(Field::Absent),
        }
    }

    fn status(&mut self) -> Result<Field<Status>, Refusal> {
        match self.take("status") {
            Field::Set(Value::String(text)) => Status::parse(&text)
                .map(Field::Set)
                .ok_or_else(|| bad("status", "must be complete, pending, progress or reversed")),
            Field::Set(Value::Number(_)) => {
                Err(bad("status", format!("must be complete, pending, progress or reversed{NOT_CODES}")))
            }
            Field::Set(_) => Err(bad("status", "must be complete, pending, progress or reversed")),
            Field::Null => Ok(Field::Null),
            Field::Absent => Ok(Field::Absent),
        }
    }

    fn attrs(&mut self) -> Result<Field<Map<String, Value>>, Refusal> {
        match self.take("attrs") {
            Field::Set(Value::Object(attrs)) if attrs.contains_key(RESERVED) => {
                Err(bad("attrs", format!("must not hold {RESERVED:?}, which paystate reserves")))
            }
            Field::Set(Value::Object(attrs)) => Ok(Field::Set(attrs)),
            Field::Set(_) => Err(bad("attrs", "must be an object")),
            Field::Null => Ok(Field::Null),
            Field::Absent => Ok(Field::Absent),
        }
    }
}

/// `POST /v1/om/payments`.
#[derive(Clone, Debug)]
pub struct Create {
    pub order: String,
    pub kind: PaymentType,
    pub status: Status,
    pub amount: Amount,
    pub method: Option<String>,
    pub source: Option<String>,
    pub customer_uid: Option<String>,
    pub transaction_ref: Option<String>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    pub attrs: Map<String, Value>,
    pub custom: bool,
}

pub fn create(params: Map<String, Value>) -> Result<Create, Refusal> {
    let mut m = Members::new(
        params,
        &[
            "orderId",
            "type",
            "custom",
            "amount",
            "methodId",
            "customerUid",
            "status",
            "sourcePaymentId",
            "transactionRef",
            "attrs",
            "invoiceId",
            "note",
        ],
    )?;
    let order = m.id("orderId")?.value().ok_or_else(|| bad("orderId", "is required"))?;
    let kind = match m.take("type") {
        Field::Set(Value::String(text)) => PaymentType::parse(&text),
        Field::Absent | Field::Null => return Err(bad("type", "is required")),
        Field::Set(Value::Number(_)) => return Err(bad("type", format!("must be receipt or refund{NOT_CODES}"))),
        Field::Set(_) => None,
    }
    .ok_or_else(|| bad("type", "must be receipt or refund"))?;
    Ok(Create {
        order,
        kind,
        custom: m.boolean("custom")?.value().unwrap_or(false),
        amount: m.amount()?.value().ok_or_else(|| bad("amount", "is required"))?,
        method: m.id("methodId")?.value(),
        customer_uid: m.id("customerUid")?.value(),
        status: m.status()?.value().unwrap_or(Status::Pending),
        source: m.id("sourcePaymentId")?.value(),
        transaction_ref: m.nullable_text("transactionRef")?.value(),
        attrs: m.attrs()?.value().unwrap_or_default(),
        invoice_id: m.text("invoiceId")?.value(),
        note: m.nullable_text("note")?.value(),
    })
}

/// `PATCH /v1/om/payments/{uid}` and, with `status: complete`, `…/confirm`.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// Must name the payment of the path when given.
    pub id: Option<String>,
    /// Must name the payment's order when given.
    pub order: Option<String>,
    pub amount: Option<Amount>,
    pub method: Field<String>,
    pub custom: Option<bool>,
    pub correction: bool,
    pub customer_uid: Field<String>,
    pub status: Option<Status>,
    /// A refund's source cannot change; when given it must be the one the payment has.
    pub source: Option<String>,
    pub transaction_ref: Field<String>,
    pub invoice_id: Field<String>,
    pub note: Field<String>,
    pub attrs: Field<Map<String, Value>>,
}

pub fn update(params: Map<String, Value>) -> Result<Change, Refusal> {
    let mut m = Members::new(
        params,
        &[
            "id",
            "orderId",
            "amount",
            "methodId",
            "custom",
            "correction",
            "customerUid",
            "status",
            "sourcePaymentId",
            "transactionRef",
            "attrs",
            "invoiceId",
            "note",
        ],
    )?;
    Ok(Change {
        id: m.id("id")?.value(),
        order: m.id("orderId")?.value(),
        amount: m.amount()?.value(),
        method: m.id("methodId")?,
        custom: m.boolean("custom")?.value(),
        correction: m.boolean("correction")?.value().unwrap_or(false),
        customer_uid: m.id("customerUid")?,
        status: m.status()?.value(),
        source: m.id("sourcePaymentId")?.value(),
        transaction_ref: m.nullable_text("transactionRef")?,
        attrs: m.attrs()?,
        invoice_id: m.text("invoiceId")?,
        note: m.nullable_text("note")?,
    })
}

pub fn confirm(params: Map<String, Value>) -> Result<Change, Refusal> {
    let mut m = Members::new(params, &["id", "orderId", "customerUid", "transactionRef", "attrs"])?;
    Ok(Change {
        id: m.id("id")?.value(),
        order: m.id("orderId")?.value(),
        customer_uid: m.id("customerUid")?,
        transaction_ref: m.nullable_text("transactionRef")?,
        attrs: m.attrs()?,
        status: Some(Status::Complete),
        ..Change::default()
    })
}

// --- the rules --------------------------------------------------------------------------------

/// An order and its live (not deleted) payments: what every rule of this dialect looks at.
pub struct Book<'a> {
    pub order: &'a Order,
    pub payments: &'a [Payment],
}

impl<'a> Book<'a> {
    pub fn new(order: &'a Order, payments: &'a [Payment]) -> Self {
        Book { order, payments }
    }

    /// A closed or canceled order takes no changes.
    pub fn open(&self) -> Result<(), Refusal> {
        match self.order.state {
            OrderState::Open => Ok(()),
            OrderState::Closed => Err(Refusal::order_closed()),
            OrderState::Canceled => Err(Refusal::order_canceled()),
        }
    }

    pub fn find(&self, id: &PaymentId) -> Option<&'a Payment> {
        self.payments.iter().find(|p| &p.id == id)
    }

    /// What is spoken for of a receipt: refunds and chargebacks booked on it, plus its refund
    /// payments that may still become money (not yet complete) or became money without being
    /// booked on it (completed through another API). `except` leaves one refund out.
    pub fn used(&self, source: &Payment, except: Option<&PaymentId>) -> i64 {
        let refunds = self
            .payments
            .iter()
            .filter(|r| r.kind == PaymentType::Refund && r.source_payment_id.as_ref() == Some(&source.id))
            .filter(|r| Some(&r.id) != except && r.deleted_at.is_none())
            .filter(|r| match r.status {
                PaymentStatus::Open | PaymentStatus::Pending | PaymentStatus::Authorized => true,
                PaymentStatus::Paid => !booked(r),
                _ => false,
            })
            .fold(0_i64, |sum, r| sum.saturating_add(r.amount));
        source.amount_refunded.saturating_add(source.amount_charged_back).saturating_add(refunds)
    }

    /// What may still be refunded of a receipt (nothing unless it is complete).
    pub fn refundable(&self, source: &Payment, except: Option<&PaymentId>) -> i64 {
        let eligible = source.kind == PaymentType::Receipt
            && source.status == PaymentStatus::Paid
            && source.deleted_at.is_none()
            && source.order_id == self.order.id;
        if eligible { (source.amount - self.used(source, except)).max(0) } else { 0 }
    }

    /// A refund of `amount` from `source` stays within what the receipt paid (LIMIT_REACHED).
    pub fn refund_fits(&self, source: &Payment, amount: i64, except: Option<&PaymentId>) -> Result<(), Refusal> {
        let available = self.refundable(source, except);
        let adjustable = amount == 0
            || source.allowed(&PaymentCommand::Adjust {
                kind: Adjustment::Refund,
                amount: Some(amount),
                missing: MissingAmount::Remaining,
            });
        if amount > available || !adjustable {
            let currency = self.order.currency;
            return Err(Refusal::limit_reached(format!(
                "a refund of {} exceeds the {} still refundable of payment {}",
                major(currency, amount),
                major(currency, available),
                source.id
            )));
        }
        Ok(())
    }

    /// Confirming (completing) `payment`, with the amount it has or is about to have.
    pub fn check_confirm(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        match payment.status {
            PaymentStatus::Paid => return Ok(()),
            PaymentStatus::Open | PaymentStatus::Pending | PaymentStatus::Authorized => {}
            _ => return Err(not_now(payment, "be confirmed")),
        }
        if !payment.allowed(&PaymentCommand::ReportStatus { status: PaymentStatus::Paid, paid_at: None }) {
            return Err(not_now(payment, "be confirmed"));
        }
        if payment.kind == PaymentType::Refund {
            let source = payment.source_payment_id.as_ref().and_then(|id| self.find(id));
            match source {
                Some(source) if source.kind == PaymentType::Receipt && source.status == PaymentStatus::Paid => {
                    self.refund_fits(source, payment.amount, Some(&payment.id))?;
                }
                _ => {
                    return Err(Refusal::invalid_status(
                        "the refund's source payment is not a completed receipt of the order",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reversing `payment` (a completed refund is final: its money is booked on its receipt).
    /// Reversing a reversed or voided payment again changes nothing.
    pub fn check_reverse(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        if is_reversed(payment) {
            return Ok(());
        }
        if payment.kind == PaymentType::Refund && payment.status == PaymentStatus::Paid {
            return Err(Refusal::invalid_status("a completed refund is final and cannot be reversed"));
        }
        let status = Status::Reversed.canonical_for(payment.status);
        if !payment.allowed(&PaymentCommand::ReportStatus { status, paid_at: None }) {
            return Err(not_now(payment, "be reversed"));
        }
        Ok(())
    }

    /// Moving `payment` back to pending or progress: only a payment that is not complete yet.
    pub fn check_pending(&self, payment: &Payment, target: Status) -> Result<(), Refusal> {
        self.open()?;
        match payment.status {
            PaymentStatus::Open | PaymentStatus::Pending => Ok(()),
            PaymentStatus::Authorized if target == Status::Progress => Ok(()),
            _ => Err(Refusal::invalid_status(format!(
                "a {} payment cannot become {}",
                Status::of(payment).as_str(),
                target.as_str()
            ))),
        }
    }

    pub fn check_delete(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        if is_reversed(payment) || !payment.allowed(&PaymentCommand::Delete) {
            return Err(not_now(payment, "be deleted"));
        }
        Ok(())
    }

    /// Changing fields without `correction`.
    pub fn check_update(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        let probe = PaymentPatch { custom: Some(!payment.custom), ..PaymentPatch::default() };
        if is_reversed(payment) || !payment.allowed(&PaymentCommand::Update(probe)) {
            return Err(Refusal::invalid_status(format!(
                "a {} payment changes only with correction: true",
                Status::of(payment).as_str()
            )));
        }
        Ok(())
    }

    /// The actions `payment` allows now, each one exactly when its check passes.
    pub fn can(&self, payment: &Payment) -> Vec<&'static str> {
        let mut can = Vec::new();
        if payment.status != PaymentStatus::Paid && self.check_confirm(payment).is_ok() {
            can.push("confirm");
        }
        if self.check_update(payment).is_ok() {
            can.push("update");
        }
        if self.check_delete(payment).is_ok() {
            can.push("delete");
        }
        if !is_reversed(payment) && self.check_reverse(payment).is_ok() {
            can.push("reverse");
        }
        if payment.kind == PaymentType::Receipt && self.open().is_ok() && self.refund_fits(payment, 1, None).is_ok() {
            can.push("refund");
        }
        can
    }
}

/// Reversed or voided (`reversed` through Gormic, before or after capture): final, like a
/// reversal in Gormic's own model.
pub fn is_reversed(payment: &Payment) -> bool {
    matches!(payment.status, PaymentStatus::Reversed | PaymentStatus::Canceled)
}

fn not_now(payment: &Payment, action: &str) -> Refusal {
    Refusal::invalid_status(format!("a {} payment cannot {action}", Status::of(payment).as_str()))
}

// --- responses ----------------------------------------------------------------------------------

pub const APP: &str = "paystate";
pub const SERVICE: &str = "om";

/// Every answer of this dialect.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Envelope<T>)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Always "paystate".
    pub app: &'static str,
    /// Always "om".
    pub service: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Value>,
    /// Identifies the running paystate instance.
    pub instance_id: String,
    /// The request's id, also in the `x-request-id` header.
    pub request_id: String,
    pub data: T,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Created)]
pub struct Created {
    /// The new payment's id (the `uid` of the other routes).
    pub id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Updated)]
pub struct Updated {
    pub success: bool,
}

/// The order's payments after the change, and the payment methods they use.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Items)]
#[serde(rename_all = "camelCase")]
pub struct Items {
    pub items: Vec<Item>,
    pub payment_methods: Vec<MethodItem>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Payment)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// receipt or refund.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// complete, pending, progress or reversed.
    pub status: &'static str,
    pub completed_at: Option<String>,
    pub reversed_at: Option<String>,
    pub custom: bool,
    /// Major units of the order's currency.
    #[schema(value_type = f64, example = 12.5)]
    pub amount: Number,
    pub source_payment_id: Option<String>,
    pub transaction_ref: Option<String>,
    #[schema(value_type = Object)]
    pub attrs: Map<String, Value>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    pub created_at: String,
    /// The API the payment was created through (gormic, native, …).
    pub created_via: &'static str,
    /// The API key that created it.
    pub created_by: String,
    pub updated_at: String,
    pub updated_via: &'static str,
    pub updated_by: String,
    pub id: String,
    /// The actions the payment allows now: confirm, update, delete, reverse, refund.
    pub can: Vec<&'static str>,
    pub method_uid: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::PaymentMethod)]
#[serde(rename_all = "camelCase")]
pub struct MethodItem {
    pub locales: BTreeMap<String, LocaleItem>,
    pub visible: bool,
    pub created_at: String,
    pub created_via: &'static str,
    pub created_by: String,
    pub updated_at: String,
    pub updated_via: &'static str,
    pub updated_by: String,
    pub id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Locale)]
pub struct LocaleItem {
    pub name: String,
    pub description: String,
}

/// Timestamps as JavaScript writes them (`2025-01-31T09:15:00.123Z`).
pub fn timestamp(at: &Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Item {
    pub fn of(payment: &Payment, book: &Book<'_>) -> Item {
        Item {
            kind: payment.kind.as_str(),
            status: Status::of(payment).as_str(),
            completed_at: payment.completed_at.as_ref().map(timestamp),
            // A void (canceled) has no reversal time of its own: it is final, so its last change is it.
            reversed_at: match payment.status {
                PaymentStatus::Canceled => Some(timestamp(&payment.updated_at)),
                _ => payment.reversed_at.as_ref().map(timestamp),
            },
            custom: payment.custom,
            amount: major(payment.currency, payment.amount),
            source_payment_id: payment.source_payment_id.as_ref().map(ToString::to_string),
            transaction_ref: payment.transaction_ref.clone(),
            attrs: client_attrs(payment),
            invoice_id: payment.invoice_id.clone(),
            note: payment.note.clone(),
            created_at: timestamp(&payment.created_at),
            created_via: payment.created_via.as_str(),
            created_by: payment.created_by.clone(),
            updated_at: timestamp(&payment.updated_at),
            updated_via: payment.updated_via.as_str(),
            updated_by: payment.updated_by.clone(),
            id: payment.id.to_string(),
            can: book.can(payment),
            method_uid: payment.method_id.as_ref().map(ToString::to_string),
        }
    }
}

impl MethodItem {
    pub fn of(method: &PaymentMethod) -> MethodItem {
        MethodItem {
            locales: method
                .locales
                .iter()
                .map(|(tag, l)| (tag.clone(), LocaleItem { name: l.name.clone(), description: l.description.clone() }))
                .collect(),
            visible: method.visible,
            created_at: timestamp(&method.created_at),
            created_via: method.created_via.as_str(),
            created_by: method.created_by.clone(),
            updated_at: timestamp(&method.updated_at),
            updated_via: method.updated_via.as_str(),
            updated_by: method.updated_by.clone(),
            id: method.id.to_string(),
        }
    }
}

/// The items of an order and the methods they use.
pub fn items(order: &Order, payments: &[Payment], methods: &[PaymentMethod]) -> Items {
    let book = Book::new(order, payments);
    let used: Vec<&MethodId> = payments.iter().filter_map(|p| p.method_id.as_ref()).collect();
    Items {
        items: payments.iter().map(|p| Item::of(p, &book)).collect(),
        payment_methods: methods.iter().filter(|m| used.contains(&&m.id)).map(MethodItem::of).collect(),
    }
}

// --- documentation of the request bodies (the bodies themselves are read by `params`) ----------

/// `{"params": {…}}` of `POST /v1/om/payments`.
#[derive(utoipa::ToSchema)]
#[schema(as = gormic::CreateRequest)]
pub struct CreateRequest {
    pub params: CreateParams,
}

#[derive(utoipa::ToSchema)]
#[schema(as = gormic::CreateParams, rename_all = "camelCase")]
pub struct CreateParams {
    /// The order's id or reference (required).
    pub order_id: String,
    /// receipt or refund (required). A string: the integers of an older Gormic revision
    /// (`"type": 1`) are refused with InvalidParameter.
    #[schema(rename = "type", example = "receipt")]
    pub kind: String,
    pub custom: Option<bool>,
    /// Major units of the order's currency, a number or a decimal string; at most the
    /// currency's decimals, greater than zero (required).
    #[schema(value_type = f64, example = 12.5)]
    pub amount: f64,
    /// A visible payment method: its id or its code.
    pub method_id: Option<String>,
    pub customer_uid: Option<String>,
    /// complete, pending (default), progress or reversed. A string: the integers of an older
    /// Gormic revision (`"status": 1`) are refused with InvalidParameter.
    pub status: Option<String>,
    /// Required for a refund: a completed receipt of the same order. `null` is absent.
    pub source_payment_id: Option<String>,
    /// `null` and `""` are absent.
    pub transaction_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<Value>,
    pub invoice_id: Option<String>,
    /// `null` and `""` are absent.
    pub note: Option<String>,
}

/// `{"params": {…}}` of `PATCH /v1/om/payments/{uid}`.
#[derive(utoipa::ToSchema)]
#[schema(as = gormic::UpdateRequest)]
pub struct UpdateRequest {
    pub params: UpdateParams,
}

#[derive(utoipa::ToSchema)]
#[schema(as = gormic::UpdateParams, rename_all = "camelCase")]
pub struct UpdateParams {
    /// When given, the payment of the path.
    pub id: Option<String>,
    /// When given, the payment's order.
    pub order_id: Option<String>,
    #[schema(value_type = Option<f64>, example = 12.5)]
    pub amount: Option<f64>,
    /// A visible payment method (id or code); null removes it.
    pub method_id: Option<String>,
    pub custom: Option<bool>,
    /// Required to change a complete (or reversed) payment; recorded with before and after.
    pub correction: Option<bool>,
    pub customer_uid: Option<String>,
    /// complete, pending, progress or reversed (a string; integers are refused).
    pub status: Option<String>,
    /// When given, the refund's own source (it cannot change). `null` is absent.
    pub source_payment_id: Option<String>,
    /// `null` leaves it as it is; `""` clears it.
    pub transaction_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<Value>,
    pub invoice_id: Option<String>,
    /// `null` leaves it as it is; `""` clears it.
    pub note: Option<String>,
}

/// `{"params": {…}}` of `PATCH /v1/om/payments/{uid}/confirm` (the body is optional).
#[derive(utoipa::ToSchema)]
#[schema(as = gormic::ConfirmRequest)]
pub struct ConfirmRequest {
    pub params: ConfirmParams,
}

#[derive(utoipa::ToSchema)]
#[schema(as = gormic::ConfirmParams, rename_all = "camelCase")]
pub struct ConfirmParams {
    pub id: Option<String>,
    pub order_id: Option<String>,
    pub customer_uid: Option<String>,
    /// `null` leaves it as it is.
    pub transaction_ref: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attrs: Option<Value>,
}

/// Every refusal: HTTP 400 for the rules, 401, 403, 404, 413, 415 and 503 otherwise.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = gormic::ErrorDetail)]
pub struct ErrorDetail {
    /// INVALID_STATUS, LIMIT_REACHED, MethodNotFound, ORDER_CANCELED, ORDER_CLOSED,
    /// InvalidParameter, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, METHOD_NOT_ALLOWED,
    /// PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, SERVICE_UNAVAILABLE or INTERNAL_ERROR.
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {

    /// Every Gormic status, reported in every canonical status, moves along the lattice: and a
    /// capture after a void of an unpaid payment is a conflict, never stale.
    #[test]
    fn the_status_mapping_respects_the_lattice() {
        use paystate_domain::Transition;
        use paystate_domain::status::judge;
        let gormic = [Status::Complete, Status::Pending, Status::Progress, Status::Reversed];
        for current in PaymentStatus::ALL {
            for status in gormic {
                let reported = status.canonical_for(current);
                if status == Status::Reversed && current.precedes(PaymentStatus::Paid) {
                    assert_eq!(reported, PaymentStatus::Canceled, "a void of a {current} payment");
                    assert_eq!(judge(reported, Status::Complete.canonical_for(reported)), Transition::Conflict);
                    assert_eq!(judge(reported, Status::Reversed.canonical_for(reported)), Transition::Same);
                }
                if status == Status::Reversed && matches!(current, PaymentStatus::Paid | PaymentStatus::Reversed) {
                    assert_eq!(reported, PaymentStatus::Reversed, "a reversal of a {current} payment");
                }
            }
        }
    }

    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn amounts_convert_exactly_or_are_refused() {
        let number = |text: &str| Amount::Number(serde_json::from_str(text).unwrap());
        assert_eq!(number("12.5").minor(eur()), Ok(1250));
        assert_eq!(number("1").minor(eur()), Ok(100));
        assert_eq!(number("199.95").minor(eur()), Ok(19995));
        assert_eq!(Amount::Text("0.01".into()).minor(eur()), Ok(1));
        for refused in ["0", "-1", "-0.5", "1.005", "1e300", "0.30000000000000004"] {
            assert!(number(refused).minor(eur()).is_err(), "{refused}");
        }
        for refused in ["", "abc", "-1", "1,5", "1.001", "0.00", "1e3"] {
            assert!(Amount::Text(refused.into()).minor(eur()).is_err(), "{refused:?}");
        }
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(number("1200").minor(yen), Ok(1200));
        assert!(number("1.5").minor(yen).is_err());
    }

    #[test]
    fn amounts_are_shown_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&major(eur(), 1250)).unwrap(), "12.5");
        assert_eq!(serde_json::to_string(&major(eur(), 1000)).unwrap(), "10");
        assert_eq!(serde_json::to_string(&major(eur(), 1)).unwrap(), "0.01");
        assert_eq!(serde_json::to_string(&major(eur(), 19995)).unwrap(), "199.95");
    }

    #[test]
    fn bodies_are_read_strictly() {
        assert!(params(b"", false).unwrap().is_empty());
        assert!(params(b"{}", false).unwrap().is_empty());
        assert!(params(b"", true).is_err());
        assert!(params(b"{\"params\": []}", true).is_err());
        assert!(params(b"{\"params\": {}, \"x\": 1}", true).is_err());
        assert!(params(b"[1]", true).is_err());
        let refused =
            create(serde_json::from_str(r#"{"orderId": "o", "type": "receipt", "amount": 1, "x": 1}"#).unwrap());
        assert_eq!(refused.unwrap_err().code, "InvalidParameter");
        let missing = create(serde_json::from_str(r#"{"type": "receipt", "amount": 1}"#).unwrap()).unwrap_err();
        assert!(missing.message.starts_with("params.orderId"), "{}", missing.message);
        let wrong = create(serde_json::from_str(r#"{"orderId": "o", "type": "gift", "amount": 1}"#).unwrap());
        assert!(wrong.unwrap_err().message.starts_with("params.type"));
        let reserved = update(serde_json::from_str(r#"{"attrs": {"_gormic": {}}}"#).unwrap());
        assert!(reserved.unwrap_err().message.starts_with("params.attrs"));
    }

    #[test]
    fn statuses_round_trip() {
        for status in [Status::Complete, Status::Pending, Status::Progress, Status::Reversed] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("COMPLETE"), None);
    }
}
