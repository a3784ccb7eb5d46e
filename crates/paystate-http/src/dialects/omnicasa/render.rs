//! The ledger's typed results into Omnicasa's answers (pure): what a report did as the update's
//! `Value`, and the payment a report would be about as the read side's `Payments`, told in
//! Omnicasa's words (its `StatusId`, a localized `StatusName`, wall-clock dates of the tenant's
//! zone as text).

use super::errors::{Failure, Language};
use super::wire::{MediaType, PaymentOrder, PaymentsResult, ReturnResult, StatusId};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use paystate_domain::{Outcome, Payment, PaymentStatus};
use paystate_ledger::{OrderStatus, OrderStatusReported};

/// An answer of either side in `media`: its content type, and `Retry-After` when busy.
pub fn answer(media: MediaType, status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The update's `Value`: how many payments changed state. A report contradicting a settled
/// status was recorded and the payment flagged, and is answered as a failure (code 13).
pub fn changed(reported: &OrderStatusReported) -> Result<i32, Failure> {
    match reported.outcome {
        Outcome::Conflict { .. } => Err(Failure::Conflict),
        Outcome::Applied => Ok(1),
        // A repeated or late report changes nothing, unless it created the payment.
        Outcome::Unchanged | Outcome::Stale => Ok(i32::from(reported.created)),
    }
}

/// The update's success.
pub fn updated(media: MediaType, value: i32) -> Response {
    let result = ReturnResult { success: true, code: 0, message: String::new(), value };
    answer(media, StatusCode::OK, result.to_bytes(media))
}

/// The read side's success: the payment order.
pub fn payment_order(media: MediaType, found: &OrderStatus, language: Language) -> Response {
    let value = Some(PaymentOrder::of(found, language));
    let result = PaymentsResult { success: true, code: 0, message: String::new(), value };
    answer(media, StatusCode::OK, result.to_bytes(media))
}

impl StatusId {
    /// What Omnicasa would hold for the payment: its status, and for money that went back, the
    /// last fact reported of it (a chargeback above a refund).
    pub fn of(payment: &Payment) -> StatusId {
        match payment.status {
            PaymentStatus::Open => Self::Open,
            PaymentStatus::Pending | PaymentStatus::Authorized => Self::Pending,
            PaymentStatus::Paid if payment.has_chargebacks => Self::HasChargebacks,
            PaymentStatus::Paid if payment.has_refunds => Self::HasRefunds,
            PaymentStatus::Paid => Self::Paid,
            PaymentStatus::Failed => Self::Failed,
            PaymentStatus::Expired => Self::Expired,
            PaymentStatus::Canceled => Self::Canceled,
            PaymentStatus::Reversed if payment.has_chargebacks => Self::HasChargebacks,
            PaymentStatus::Reversed => Self::HasRefunds,
        }
    }

    pub fn name(self, language: Language) -> &'static str {
        use Language::*;
        match (self, language) {
            (Self::Open, Nl | En) => "Open",
            (Self::Open, Fr) => "Ouvert",
            (Self::Paid, Nl) => "Betaald",
            (Self::Paid, Fr) => "Payé",
            (Self::Paid, En) => "Paid",
            (Self::Pending, Nl) => "In behandeling",
            (Self::Pending, Fr) => "En attente",
            (Self::Pending, En) => "Pending",
            (Self::Failed, Nl) => "Mislukt",
            (Self::Failed, Fr) => "Échoué",
            (Self::Failed, En) => "Failed",
            (Self::Expired, Nl) => "Verlopen",
            (Self::Expired, Fr) => "Expiré",
            (Self::Expired, En) => "Expired",
            (Self::Canceled, Nl) => "Geannuleerd",
            (Self::Canceled, Fr) => "Annulé",
            (Self::Canceled, En) => "Canceled",
            (Self::HasRefunds, Nl) => "Terugbetaald",
            (Self::HasRefunds, Fr) => "Remboursé",
            (Self::HasRefunds, En) => "Refunded",
            (Self::HasChargebacks, Nl) => "Teruggeboekt",
            (Self::HasChargebacks, Fr) => "Rétrofacturé",
            (Self::HasChargebacks, En) => "Charged back",
        }
    }
}

impl PaymentOrder {
    /// The payment of the order, with its dates in the tenant's zone.
    pub fn of(found: &OrderStatus, language: Language) -> PaymentOrder {
        let (order, payment) = (&found.order, &found.payment);
        let local = |at: DateTime<Utc>| at.with_timezone(&found.zone).format("%Y-%m-%d %H:%M:%S").to_string();
        let omnicasa = order.attributes.get("omnicasa");
        let number = |key: &str| omnicasa.and_then(|o| o.get(key)).and_then(serde_json::Value::as_i64);
        let text = |key: &str| omnicasa.and_then(|o| o.get(key)).and_then(serde_json::Value::as_str).map(str::to_owned);
        let status = StatusId::of(payment);
        let amount = payment.currency.major_text_fixed(payment.amount);
        PaymentOrder {
            id: payment.id.to_string(),
            order_id: order.reference.clone(),
            status_id: status as i32,
            status_name: status.name(language).to_owned(),
            // Digits with one optional point: always a valid JSON number.
            value: amount.parse().unwrap_or_else(|_| serde_json::Number::from(0)),
            description: payment.note.clone(),
            create_at: local(payment.created_at),
            paid_at: payment.paid_at.map(local),
            expires_at: (payment.status == PaymentStatus::Expired).then_some(payment.completed_at).flatten().map(local),
            person_id: number("PersonId"),
            property_id: number("PropertyId"),
            person_ident: text("PersonIdent"),
            property_ident: text("PropertyIdent"),
        }
    }
}
