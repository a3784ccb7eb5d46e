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

#[cfg(test)]
mod tests {
    use super::*;
    use paystate_domain::order::NewOrder;
    use paystate_domain::order_report::Tz;
    use paystate_domain::payment::NewPayment;
    use paystate_domain::{Actor, Currency, Order, TenantId};

    fn order_and_payment() -> (Order, Payment) {
        let actor = Actor::cli(TenantId::generate(), "test");
        let new = NewOrder {
            reference: "OM-1".into(),
            currency: Currency::parse("EUR").unwrap(),
            total_amount: 1250,
            customer: serde_json::Value::Null,
            attributes: serde_json::json!({"omnicasa": {"PersonId": 7, "PropertyIdent": "P-9"}}),
        };
        let created = "2020-11-25T13:30:00Z".parse().unwrap();
        let order = Order::open(new, &actor, created).unwrap().0;
        let payment = NewPayment { amount: 1250, note: Some("deposit".into()), ..NewPayment::default() };
        let payment = Payment::create(&order, payment, &actor, created).unwrap().0;
        (order, payment)
    }

    #[test]
    fn the_value_counts_changed_payments_and_a_conflict_is_a_failure() {
        let (_, payment) = order_and_payment();
        let reported = |outcome, created| OrderStatusReported { payment: payment.clone(), outcome, created };
        assert_eq!(changed(&reported(Outcome::Applied, false)), Ok(1));
        assert_eq!(changed(&reported(Outcome::Unchanged, false)), Ok(0));
        assert_eq!(changed(&reported(Outcome::Stale, false)), Ok(0));
        assert_eq!(changed(&reported(Outcome::Unchanged, true)), Ok(1), "created by the report");
        let conflict = Outcome::Conflict { current: PaymentStatus::Failed, reported: PaymentStatus::Paid };
        assert_eq!(changed(&reported(conflict, false)), Err(Failure::Conflict));
    }

    #[test]
    fn money_that_went_back_is_told_by_its_last_fact() {
        let (_, mut payment) = order_and_payment();
        payment.status = PaymentStatus::Paid;
        assert_eq!(StatusId::of(&payment), StatusId::Paid);
        payment.has_refunds = true;
        assert_eq!(StatusId::of(&payment), StatusId::HasRefunds);
        payment.has_chargebacks = true;
        assert_eq!(StatusId::of(&payment), StatusId::HasChargebacks);
        payment.status = PaymentStatus::Authorized;
        assert_eq!(StatusId::of(&payment), StatusId::Pending);
        assert_eq!(StatusId::HasChargebacks.name(Language::Fr), "Rétrofacturé");
    }

    #[test]
    fn the_payment_order_is_told_in_the_tenants_zone() {
        let (order, payment) = order_and_payment();
        let found = OrderStatus { order, payment, zone: Tz::Europe__Brussels };
        let told = PaymentOrder::of(&found, Language::En);
        assert_eq!((told.order_id.as_str(), told.status_id, told.status_name.as_str()), ("OM-1", 1, "Open"));
        assert_eq!(told.value.to_string(), "12.50", "the currency's decimals, never a float");
        assert_eq!(told.create_at, "2020-11-25 14:30:00");
        assert_eq!((told.paid_at, told.expires_at), (None, None));
        assert_eq!((told.person_id, told.property_ident.as_deref()), (Some(7), Some("P-9")));
        assert_eq!(told.description.as_deref(), Some("deposit"));
    }
}
