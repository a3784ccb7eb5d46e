//! The payment desk's outcomes in Gormic's words: the envelope, the items of an order with the
//! actions each allows (`can`, computed by the order book's own checks) and the payment methods
//! they use. Pure functions of what the ledger answered.

use super::wire::{Envelope, Item, Items, LocaleItem, MethodItem, Status};
use chrono::SecondsFormat;
use paystate_domain::order_book::{Action, OrderBook, client_attrs};
use paystate_domain::{Currency, MethodId, Payment, PaymentMethod, PaymentStatus, Timestamp};
use paystate_ledger::DeskBook;
use serde_json::Number;

pub const APP: &str = "paystate";
pub const SERVICE: &str = "om";

/// `data` in Gormic's envelope.
pub fn envelope<T>(instance_id: &str, request_id: &str, data: T) -> Envelope<T> {
    Envelope {
        app: APP,
        service: SERVICE,
        warnings: Vec::new(),
        instance_id: instance_id.to_owned(),
        request_id: request_id.to_owned(),
        data,
    }
}

/// Minor units as the JSON number Gormic shows (1250 EUR cents is 12.5, 1000 is 10), written
/// from its exact decimal text.
pub fn major(currency: Currency, minor: i64) -> Number {
    currency.major_text(minor).parse().unwrap_or_else(|_| Number::from(0))
}

/// Timestamps as JavaScript writes them (`2025-01-31T09:15:00.123Z`).
pub fn timestamp(at: &Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An action in Gormic's words.
fn action(action: Action) -> &'static str {
    match action {
        Action::Confirm => "confirm",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Reverse => "reverse",
        Action::Refund => "refund",
    }
}

pub fn item(payment: &Payment, book: &OrderBook<'_>) -> Item {
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
        can: book.actions(payment).into_iter().map(action).collect(),
        method_uid: payment.method_id.as_ref().map(ToString::to_string),
    }
}

pub fn method(method: &PaymentMethod) -> MethodItem {
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

/// The items of an order after a change, and the methods they use.
pub fn items(after: &DeskBook) -> Items {
    let book = OrderBook::new(&after.order, &after.payments);
    let used: Vec<&MethodId> = after.payments.iter().filter_map(|p| p.method_id.as_ref()).collect();
    Items {
        items: after.payments.iter().map(|p| item(p, &book)).collect(),
        payment_methods: after.methods.iter().filter(|m| used.contains(&&m.id)).map(method).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn amounts_are_shown_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&major(eur(), 1250)).unwrap(), "12.5");
        assert_eq!(serde_json::to_string(&major(eur(), 1000)).unwrap(), "10");
        assert_eq!(serde_json::to_string(&major(eur(), 1)).unwrap(), "0.01");
        assert_eq!(serde_json::to_string(&major(eur(), 19995)).unwrap(), "199.95");
    }
}
