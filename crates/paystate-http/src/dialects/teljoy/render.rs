//! What the Teljoy plugins read back, and what paystate keeps so that it can answer them.
//!
//! `GET /api/status/{transaction-id}` answers `{order_id, status, trust_signature}`: the shop's
//! order id (the `reference` of the payment's order), the payment's status in Teljoy's five
//! words, and `trust_signature` = hex SHA-256 of (hex MD5 of the order id, then the `trust_Seed`
//! the shop sent). The seed a shop sends with a status report is kept in the payment's `attrs`
//! under [`ATTRS_MEMBER`] (`{"teljoy": {"trust_seed": "…"}}`), written through the ledger like any
//! other field of the payment.

use super::transformers::trust_value;
use paystate_domain::{Payment, PaymentStatus};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The member of a payment's `attrs` that holds what this dialect keeps of the shop's reports.
pub const ATTRS_MEMBER: &str = "teljoy";
/// The member of [`ATTRS_MEMBER`] that holds the last `trust_Seed` the shop sent, as sent.
pub const SEED_MEMBER: &str = "trust_seed";

/// The status words the plugins read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadStatus {
    Pending,
    Confirmed,
    Complete,
    Failed,
    Cancelled,
}

impl ReadStatus {
    /// A payment in Teljoy's words. Refunds and chargebacks are facts about a paid payment (it
    /// stays `complete`); a payment that never became money and never will (expired, canceled,
    /// reversed after payment, or deleted) is `cancelled`.
    pub fn of(payment: &Payment) -> Self {
        if payment.deleted_at.is_some() {
            return Self::Cancelled;
        }
        match payment.status {
            PaymentStatus::Open | PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Confirmed,
            PaymentStatus::Paid => Self::Complete,
            PaymentStatus::Failed => Self::Failed,
            PaymentStatus::Expired | PaymentStatus::Canceled | PaymentStatus::Reversed => Self::Cancelled,
        }
    }
}

/// The seed the shop sent last for this payment, if paystate has one.
pub fn stored_seed(payment: &Payment) -> Option<&str> {
    payment.attrs.get(ATTRS_MEMBER)?.get(SEED_MEMBER)?.as_str()
}

/// The payment's `attrs` with `seed` kept in [`ATTRS_MEMBER`], other members left as they are;
/// `None` when the payment already holds this seed.
pub fn attrs_with_seed(payment: &Payment, seed: &str) -> Option<Value> {
    if stored_seed(payment) == Some(seed) {
        return None;
    }
    let mut attrs = payment.attrs.as_object().cloned().unwrap_or_default();
    let mut member = match attrs.remove(ATTRS_MEMBER) {
        Some(Value::Object(member)) => member,
        _ => Map::new(),
    };
    member.insert(SEED_MEMBER.to_owned(), seed.into());
    attrs.insert(ATTRS_MEMBER.to_owned(), Value::Object(member));
    Some(Value::Object(attrs))
}

/// hex SHA-256 of (hex MD5 of the order id, then the seed), as the plugins compute it.
pub fn trust_signature(order_reference: &str, seed: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(trust_value(order_reference).as_bytes());
    digest.update(seed.as_bytes());
    hex::encode(digest.finalize())
}

/// The answer of `GET /api/status/{transaction-id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeljoyStatusReadBack {
    /// The shop's order id: the reference of the payment's order.
    #[schema(example = "76144")]
    pub order_id: String,
    /// The payment's status: pending, confirmed, complete, failed or cancelled.
    #[schema(value_type = String, example = "complete", pattern = "^(pending|confirmed|complete|failed|cancelled)$")]
    pub status: ReadStatus,
    /// hex SHA-256 of (hex MD5 of `order_id`, then the last `trust_Seed` the shop sent; the empty
    /// string when it sent none).
    #[schema(example = "5b0f3d6e…")]
    pub trust_signature: String,
}

impl TeljoyStatusReadBack {
    pub fn of(payment: &Payment, order_reference: &str) -> Self {
        TeljoyStatusReadBack {
            order_id: order_reference.to_owned(),
            status: ReadStatus::of(payment),
            trust_signature: trust_signature(order_reference, stored_seed(payment).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_signature_is_sha256_of_the_md5_hex_then_the_seed() {
        // echo -n "c10cd9445121e4ed6ad0ab47cdde2882W3sic2t1IjoiQSJ9XQ==" | sha256sum
        let expected = hex::encode(Sha256::digest(b"c10cd9445121e4ed6ad0ab47cdde2882W3sic2t1IjoiQSJ9XQ=="));
        assert_eq!(trust_signature("76144", "W3sic2t1IjoiQSJ9XQ=="), expected);
        assert_eq!(trust_signature("76144", ""), hex::encode(Sha256::digest(b"c10cd9445121e4ed6ad0ab47cdde2882")));
        assert_eq!(trust_signature("76144", "x").len(), 64);
    }

    #[test]
    fn every_canonical_status_reads_as_one_of_the_five() {
        let words = |status| serde_json::to_value(status).unwrap();
        assert_eq!(words(ReadStatus::Confirmed), json!("confirmed"));
        let mut payment: Payment = serde_json::from_value(json!({
            "id": "pay_0192f3c4000000000000000000000000", "tenant_id": "ten_0192f3c4000000000000000000000000",
            "order_id": "ord_0192f3c4000000000000000000000000", "external_id": null, "type": "receipt",
            "source_payment_id": null, "method_id": null, "amount": 100, "currency": "EUR", "status": "open",
            "amount_refunded": 0, "amount_charged_back": 0, "has_refunds": false, "has_chargebacks": false,
            "paid_at": null, "completed_at": null, "reversed_at": null, "transaction_ref": null,
            "invoice_id": null, "note": null, "attrs": {"till": 3}, "custom": false, "needs_review": false,
            "deleted_at": null, "created_at": "2025-01-01T00:00:00Z", "created_by": "key", "created_via": "native",
            "updated_at": "2025-01-01T00:00:00Z", "updated_by": "key", "updated_via": "native", "version": 1
        }))
        .unwrap();
        let table = [
            (PaymentStatus::Open, ReadStatus::Pending),
            (PaymentStatus::Pending, ReadStatus::Pending),
            (PaymentStatus::Authorized, ReadStatus::Confirmed),
            (PaymentStatus::Paid, ReadStatus::Complete),
            (PaymentStatus::Failed, ReadStatus::Failed),
            (PaymentStatus::Expired, ReadStatus::Cancelled),
            (PaymentStatus::Canceled, ReadStatus::Cancelled),
            (PaymentStatus::Reversed, ReadStatus::Cancelled),
        ];
        assert_eq!(table.len(), PaymentStatus::ALL.len());
        for (status, expected) in table {
            payment.status = status;
            assert_eq!(ReadStatus::of(&payment), expected, "{status}");
        }
        payment.status = PaymentStatus::Pending;
        payment.deleted_at = Some(payment.created_at);
        assert_eq!(ReadStatus::of(&payment), ReadStatus::Cancelled, "a deleted payment");

        // The seed is kept beside the other attrs, and only a new one changes them.
        assert_eq!(stored_seed(&payment), None);
        payment.attrs = attrs_with_seed(&payment, "W10=").unwrap();
        assert_eq!(payment.attrs, json!({"till": 3, "teljoy": {"trust_seed": "W10="}}));
        assert_eq!(stored_seed(&payment), Some("W10="));
        assert_eq!(attrs_with_seed(&payment, "W10="), None);
        payment.attrs["teljoy"]["other"] = json!(1);
        assert_eq!(attrs_with_seed(&payment, "e30=").unwrap()["teljoy"], json!({"trust_seed": "e30=", "other": 1}));
        assert_eq!(TeljoyStatusReadBack::of(&payment, "76144").trust_signature, trust_signature("76144", "W10="));
    }
}
