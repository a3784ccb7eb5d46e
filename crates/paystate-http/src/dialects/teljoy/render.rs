//! The ledger's answers in Teljoy's words: an accepted report (`{"success": true}`, or the 409 of
//! a contradicted settled status), and what the plugins read back.
//!
//! `GET /api/status/{transaction-id}` answers `{order_id, status, trust_signature}`: the shop's
//! order id (the `reference` of the payment's order), the payment's status in Teljoy's five
//! words, and `trust_signature` = hex SHA-256 of (hex MD5 of the order id, then the `trust_Seed`
//! the shop sent). The seed a shop sends with a status report is kept in the payment's `attrs`
//! under [`ATTRS_MEMBER`] (`{"teljoy": {"trust_seed": "…"}}`), written by the ledger with the
//! report (see `parse::ledger_report`).

use super::errors::Failure;
use super::parse::{WooStatus, trust_value};
use super::wire::{ReadStatus, TeljoyStatusReadBack, TeljoyStatusResponse};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use paystate_domain::{Outcome, Payment, PaymentStatus};
use paystate_ledger::{PaymentReported, PaymentWithOrder};
use sha2::{Digest, Sha256};

/// The member of a payment's `attrs` that holds what this dialect keeps of the shop's reports.
pub const ATTRS_MEMBER: &str = "teljoy";
/// The member of [`ATTRS_MEMBER`] that holds the last `trust_Seed` the shop sent, as sent.
pub const SEED_MEMBER: &str = "trust_seed";

/// The answer to a report the ledger took: accepted when applied, already so, or an earlier
/// status delivered late; a 409 when it contradicts a settled status (the ledger recorded it and
/// flagged the payment for review).
pub fn report(reported: &PaymentReported, status: WooStatus) -> Result<Response, Failure> {
    match reported.outcome {
        Outcome::Applied | Outcome::Unchanged | Outcome::Stale => {
            Ok(json_answer(&TeljoyStatusResponse { success: true }))
        }
        Outcome::Conflict { current, .. } => Err(Failure::conflict(format!(
            "The payment is {current}; the status \"{}\" contradicts it. The report is recorded and the payment \
             is flagged for review.",
            status.as_str()
        ))),
    }
}

/// The read-back's answer; never cached, since a status changes.
pub fn read_back(read: &PaymentWithOrder) -> Response {
    let mut response = json_answer(&read_back_body(&read.payment, &read.order.reference));
    // A status changes: no cache between the shop and paystate may keep an old one.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 200 with a JSON body, as ASP.NET writes it (`charset=utf-8`).
fn json_answer(body: &impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// A payment in Teljoy's words. Refunds and chargebacks are facts about a paid payment (it
/// stays `complete`); a payment that never became money and never will (expired, canceled,
/// reversed after payment, or deleted) is `cancelled`.
pub fn read_status(payment: &Payment) -> ReadStatus {
    if payment.deleted_at.is_some() {
        return ReadStatus::Cancelled;
    }
    match payment.status {
        PaymentStatus::Open | PaymentStatus::Pending => ReadStatus::Pending,
        PaymentStatus::Authorized => ReadStatus::Confirmed,
        PaymentStatus::Paid => ReadStatus::Complete,
        PaymentStatus::Failed => ReadStatus::Failed,
        PaymentStatus::Expired | PaymentStatus::Canceled | PaymentStatus::Reversed => ReadStatus::Cancelled,
    }
}

/// The seed the shop sent last for this payment, if paystate has one.
pub fn stored_seed(payment: &Payment) -> Option<&str> {
    payment.attrs.get(ATTRS_MEMBER)?.get(SEED_MEMBER)?.as_str()
}

/// hex SHA-256 of (hex MD5 of the order id, then the seed), as the plugins compute it.
pub fn trust_signature(order_reference: &str, seed: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(trust_value(order_reference).as_bytes());
    digest.update(seed.as_bytes());
    hex::encode(digest.finalize())
}

/// What the plugins read back of a payment of the order `order_reference`.
pub fn read_back_body(payment: &Payment, order_reference: &str) -> TeljoyStatusReadBack {
    TeljoyStatusReadBack {
        order_id: order_reference.to_owned(),
        status: read_status(payment),
        trust_signature: trust_signature(order_reference, stored_seed(payment).unwrap_or_default()),
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
            assert_eq!(read_status(&payment), expected, "{status}");
        }
        payment.status = PaymentStatus::Pending;
        payment.deleted_at = Some(payment.created_at);
        assert_eq!(read_status(&payment), ReadStatus::Cancelled, "a deleted payment");

        // The seed is read where the ledger keeps it (`KeptValue`, tested in paystate-ledger).
        assert_eq!(stored_seed(&payment), None);
        payment.attrs = json!({"till": 3, "teljoy": {"trust_seed": "W10="}});
        assert_eq!(stored_seed(&payment), Some("W10="));
        assert_eq!(read_back_body(&payment, "76144").trust_signature, trust_signature("76144", "W10="));
    }
}
