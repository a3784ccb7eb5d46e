//! Gormic's `params` read strictly into the payment desk's inputs: only the members a route
//! documents (through the dialects' one reader, [`Members::only`]), each of its JSON type, with
//! Gormic's status vocabulary turned into targets. Pure: amounts stay text until the ledger knows
//! the order's currency.

use super::errors::Refusal;
use super::wire::Status;
use crate::dialects::json::{Members, Refused};
use paystate_domain::PaymentType;
use paystate_domain::order_book::MARKS_MEMBER;
use paystate_ledger::payment_desk::{DeskChange, DeskPayment, Field, MajorAmount};
use serde_json::{Map, Value};

/// Longest free text (transactionRef, invoiceId, note), as the domain allows.
const TEXT_MAX: usize = 2000;
/// Longest id or reference (orderId, methodId, customerUid…).
const ID_MAX: usize = 200;
/// What a number in `type` or `status` is told: an older revision of Gormic's documentation
/// showed them as integers (`"type": 1, "status": 1`), which name nothing paystate can map.
const NOT_CODES: &str = " (a string; the numeric codes of an older Gormic revision are not accepted)";

/// A refusal of a member of `params`, named in the message.
fn bad(field: &str, message: impl Into<String>) -> Refusal {
    Refusal::invalid(&format!("params.{field}"), message)
}

/// What the shared reader refused, in Gormic's words (`params: has an unknown member "x"`).
fn refused(refused: Refused) -> Refusal {
    Refusal::invalid(&refused.path, refused.message())
}

/// The members of `params`, any member not in `known` refused up front.
fn members<'a>(params: &'a Map<String, Value>, known: &[&str]) -> Result<Members<'a>, Refusal> {
    let members = Members::at(params, "params");
    members.only(known).map_err(refused)?;
    Ok(members)
}

/// A member as sent: absent, `null`, or a value.
fn take<'a>(m: &Members<'a>, key: &str) -> Result<Field<&'a Value>, Refusal> {
    Ok(match m.raw(key).map_err(refused)? {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(value) => Field::Set(value),
    })
}

fn string(m: &Members, key: &str, max: usize, reference: bool) -> Result<Field<String>, Refusal> {
    match take(m, key)? {
        Field::Set(Value::String(text)) => {
            let control = reference && text.chars().any(char::is_control);
            if text.chars().count() > max || control || (reference && text.is_empty()) {
                let what = if reference { " without control characters" } else { "" };
                let least = if reference { 1 } else { 0 };
                return Err(bad(key, format!("must be a string of {least} to {max} characters{what}")));
            }
            Ok(Field::Set(text.clone()))
        }
        Field::Set(_) => Err(bad(key, "must be a string")),
        Field::Null => Ok(Field::Null),
        Field::Absent => Ok(Field::Absent),
    }
}

/// An id or reference: 1 to 200 characters, no control characters.
fn id(m: &Members, key: &str) -> Result<Field<String>, Refusal> {
    string(m, key, ID_MAX, true)
}

/// Free text: at most 2000 characters.
fn text(m: &Members, key: &str) -> Result<Field<String>, Refusal> {
    string(m, key, TEXT_MAX, false)
}

/// Free text that Gormic's OpenAPI marks nullable (`transactionRef`, `note`): `null` is
/// absent, because clients generated from that specification send `null` for every member
/// they leave unset; the empty string is "no value" and clears the field.
fn nullable_text(m: &Members, key: &str) -> Result<Field<String>, Refusal> {
    Ok(match text(m, key)? {
        Field::Null => Field::Absent,
        Field::Set(text) if text.is_empty() => Field::Null,
        other => other,
    })
}

fn boolean(m: &Members, key: &str) -> Result<Field<bool>, Refusal> {
    match take(m, key)? {
        Field::Set(Value::Bool(flag)) => Ok(Field::Set(*flag)),
        Field::Set(_) => Err(bad(key, "must be true or false")),
        Field::Null => Ok(Field::Null),
        Field::Absent => Ok(Field::Absent),
    }
}

/// An amount as sent: a JSON number (its own text, never a double) or a decimal string, in
/// major units of the order's currency.
fn amount(m: &Members) -> Result<Field<MajorAmount>, Refusal> {
    match take(m, "amount")? {
        Field::Set(Value::Number(number)) => Ok(Field::Set(MajorAmount::Number(number.to_string()))),
        Field::Set(Value::String(text)) if text.len() <= 40 => Ok(Field::Set(MajorAmount::Decimal(text.clone()))),
        Field::Set(_) => Err(bad("amount", "must be a positive decimal number")),
        Field::Null => Ok(Field::Null),
        Field::Absent => Ok(Field::Absent),
    }
}

fn status(m: &Members) -> Result<Field<Status>, Refusal> {
    const STATUSES: &str = "must be complete, pending, progress or reversed";
    match take(m, "status")? {
        Field::Set(Value::String(text)) => Status::parse(text).map(Field::Set).ok_or_else(|| bad("status", STATUSES)),
        Field::Set(Value::Number(_)) => Err(bad("status", format!("{STATUSES}{NOT_CODES}"))),
        Field::Set(_) => Err(bad("status", STATUSES)),
        Field::Null => Ok(Field::Null),
        Field::Absent => Ok(Field::Absent),
    }
}

fn attrs(m: &Members) -> Result<Field<Map<String, Value>>, Refusal> {
    match take(m, "attrs")? {
        Field::Set(Value::Object(attrs)) if attrs.contains_key(MARKS_MEMBER) => {
            Err(bad("attrs", format!("must not hold {MARKS_MEMBER:?}, which paystate reserves")))
        }
        Field::Set(Value::Object(attrs)) => Ok(Field::Set(attrs.clone())),
        Field::Set(_) => Err(bad("attrs", "must be an object")),
        Field::Null => Ok(Field::Null),
        Field::Absent => Ok(Field::Absent),
    }
}

fn kind(m: &Members) -> Result<PaymentType, Refusal> {
    match take(m, "type")? {
        Field::Set(Value::String(text)) => PaymentType::parse(text),
        Field::Absent | Field::Null => return Err(bad("type", "is required")),
        Field::Set(Value::Number(_)) => return Err(bad("type", format!("must be receipt or refund{NOT_CODES}"))),
        Field::Set(_) => None,
    }
    .ok_or_else(|| bad("type", "must be receipt or refund"))
}

/// `POST /v1/om/payments`.
pub fn create(params: &Map<String, Value>) -> Result<DeskPayment, Refusal> {
    let m = members(
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
    // Members are read (and refused) in this order.
    let order = id(&m, "orderId")?.value().ok_or_else(|| bad("orderId", "is required"))?;
    let kind = kind(&m)?;
    Ok(DeskPayment {
        order,
        kind,
        custom: boolean(&m, "custom")?.value().unwrap_or(false),
        amount: amount(&m)?.value().ok_or_else(|| bad("amount", "is required"))?,
        method: id(&m, "methodId")?.value(),
        customer_uid: id(&m, "customerUid")?.value(),
        target: status(&m)?.value().unwrap_or(Status::Pending).target(),
        source: id(&m, "sourcePaymentId")?.value(),
        transaction_ref: nullable_text(&m, "transactionRef")?.value(),
        attrs: attrs(&m)?.value().unwrap_or_default(),
        invoice_id: text(&m, "invoiceId")?.value(),
        note: nullable_text(&m, "note")?.value(),
    })
}

/// `PATCH /v1/om/payments/{uid}`.
pub fn update(params: &Map<String, Value>) -> Result<DeskChange, Refusal> {
    let m = members(
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
    Ok(DeskChange {
        id: id(&m, "id")?.value(),
        order: id(&m, "orderId")?.value(),
        amount: amount(&m)?.value(),
        method: id(&m, "methodId")?,
        custom: boolean(&m, "custom")?.value(),
        correction: boolean(&m, "correction")?.value().unwrap_or(false),
        customer_uid: id(&m, "customerUid")?,
        target: status(&m)?.value().map(Status::target),
        source: id(&m, "sourcePaymentId")?.value(),
        transaction_ref: nullable_text(&m, "transactionRef")?,
        attrs: attrs(&m)?,
        invoice_id: text(&m, "invoiceId")?,
        note: nullable_text(&m, "note")?,
    })
}

/// `PATCH /v1/om/payments/{uid}/confirm`: a change to complete.
pub fn confirm(params: &Map<String, Value>) -> Result<DeskChange, Refusal> {
    let m = members(params, &["id", "orderId", "customerUid", "transactionRef", "attrs"])?;
    Ok(DeskChange {
        id: id(&m, "id")?.value(),
        order: id(&m, "orderId")?.value(),
        customer_uid: id(&m, "customerUid")?,
        transaction_ref: nullable_text(&m, "transactionRef")?,
        attrs: attrs(&m)?,
        target: Some(Status::Complete.target()),
        ..DeskChange::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn params_are_read_strictly() {
        let refused = create(&body(r#"{"orderId": "o", "type": "receipt", "amount": 1, "x": 1}"#)).unwrap_err();
        assert_eq!(refused.code, "InvalidParameter");
        assert_eq!(refused.message, "params: has an unknown member \"x\"");
        let missing = create(&body(r#"{"type": "receipt", "amount": 1}"#)).unwrap_err();
        assert!(missing.message.starts_with("params.orderId"), "{}", missing.message);
        let wrong = create(&body(r#"{"orderId": "o", "type": "gift", "amount": 1}"#));
        assert!(wrong.unwrap_err().message.starts_with("params.type"));
        let reserved = update(&body(r#"{"attrs": {"_gormic": {}}}"#));
        assert!(reserved.unwrap_err().message.starts_with("params.attrs"));
    }

    #[test]
    fn nullable_members_and_integer_codes() {
        let created = create(&body(
            r#"{"orderId": "o", "type": "receipt", "amount": 1, "sourcePaymentId": null, "transactionRef": null,
                "note": ""}"#,
        ))
        .unwrap();
        assert_eq!((created.source, created.transaction_ref, created.note), (None, None, None));
        let change = update(&body(r#"{"sourcePaymentId": null, "transactionRef": null, "note": ""}"#)).unwrap();
        assert_eq!(change.source, None);
        assert_eq!(change.transaction_ref, Field::Absent, "null is absent");
        assert_eq!(change.note, Field::Null, "the empty string clears");
        assert_eq!(update(&body(r#"{"methodId": null}"#)).unwrap().method, Field::Null, "not nullable: null clears");
        assert_eq!(confirm(&body(r#"{"transactionRef": null}"#)).unwrap().transaction_ref, Field::Absent);
        for text in [r#"{"orderId": "o", "type": 1, "status": 1, "amount": 1}"#, r#"{"status": 1}"#] {
            let refused = if text.contains("orderId") {
                create(&body(text)).unwrap_err()
            } else {
                update(&body(text)).unwrap_err()
            };
            assert_eq!(refused.code, "InvalidParameter");
            assert!(refused.message.ends_with("the numeric codes of an older Gormic revision are not accepted)"));
        }
    }

    #[test]
    fn amounts_stay_their_own_text() {
        let created = create(&body(r#"{"orderId": "o", "type": "receipt", "amount": 12.50}"#)).unwrap();
        assert_eq!(created.amount, MajorAmount::Number("12.50".into()));
        let created = create(&body(r#"{"orderId": "o", "type": "receipt", "amount": "7.5"}"#)).unwrap();
        assert_eq!(created.amount, MajorAmount::Decimal("7.5".into()));
    }
}
