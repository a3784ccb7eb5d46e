//! Gormic's request bodies, read strictly: `{"params": {…}}` with only the members a route
//! documents, each of its JSON type, into typed requests.

use super::{Amount, ID_MAX, NOT_CODES, RESERVED, Status, TEXT_MAX, bad};
use crate::dialects::gormic::Refusal;
use paystate_domain::PaymentType;
use serde_json::{Map, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn nullable_members_and_integer_codes() {
        let body = |text: &str| serde_json::from_str::<Map<String, Value>>(text).unwrap();
        let created = create(body(
            r#"{"orderId": "o", "type": "receipt", "amount": 1, "sourcePaymentId": null, "transactionRef": null,
                "note": ""}"#,
        ))
        .unwrap();
        assert_eq!((created.source, created.transaction_ref, created.note), (None, None, None));
        let change = update(body(r#"{"sourcePaymentId": null, "transactionRef": null, "note": ""}"#)).unwrap();
        assert_eq!(change.source, None);
        assert_eq!(change.transaction_ref, Field::Absent, "null is absent");
        assert_eq!(change.note, Field::Null, "the empty string clears");
        assert_eq!(update(body(r#"{"methodId": null}"#)).unwrap().method, Field::Null, "not nullable: null clears");
        assert_eq!(confirm(body(r#"{"transactionRef": null}"#)).unwrap().transaction_ref, Field::Absent);
        for text in [r#"{"orderId": "o", "type": 1, "status": 1, "amount": 1}"#, r#"{"status": 1}"#] {
            let refused = if text.contains("orderId") {
                create(body(text)).unwrap_err()
            } else {
                update(body(text)).unwrap_err()
            };
            assert_eq!(refused.code, "InvalidParameter");
            assert!(refused.message.ends_with("the numeric codes of an older Gormic revision are not accepted)"));
        }
    }
}
