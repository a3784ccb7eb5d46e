//! The order book's rules: the per-receipt refund cap, the marks, and the status targets.

use super::*;
use crate::order::NewOrder;
use crate::payment::NewPayment;
use crate::status::judge;
use crate::{Actor, Source, Transition};

fn actor() -> Actor {
    Actor {
        tenant_id: crate::TenantId::generate(),
        key_id: None,
        user_id: None,
        source: Source::Native,
        request_id: "req".into(),
        request_body: None,
    }
}

fn order() -> Order {
    let new = NewOrder {
        reference: "A-1".into(),
        currency: Currency::parse("EUR").unwrap(),
        total_amount: 10_000,
        customer: Value::Null,
        attributes: Value::Null,
    };
    Order::open(new, &actor(), chrono::Utc::now()).unwrap().0
}

fn payment(order: &Order, kind: PaymentType, source: Option<&Payment>, amount: i64) -> Payment {
    let new =
        NewPayment { kind: Some(kind), source_payment_id: source.map(|s| s.id.clone()), amount, ..Default::default() };
    Payment::create(order, new, &actor(), chrono::Utc::now()).unwrap().0
}

fn with_status(mut payment: Payment, status: PaymentStatus) -> Payment {
    payment.status = status;
    payment
}

/// Every target, reported in every canonical status, moves along the lattice: and a capture
/// after a void of an unpaid payment is a conflict, never stale.
#[test]
fn targets_respect_the_lattice() {
    let targets = [Target::Paid, Target::Pending, Target::InProgress, Target::Reversed];
    for current in PaymentStatus::ALL {
        for target in targets {
            let reported = target.canonical_for(current);
            if target == Target::Reversed && current.precedes(PaymentStatus::Paid) {
                assert_eq!(reported, PaymentStatus::Canceled, "a void of a {current} payment");
                assert_eq!(judge(reported, Target::Paid.canonical_for(reported)), Transition::Conflict);
                assert_eq!(judge(reported, Target::Reversed.canonical_for(reported)), Transition::Same);
            }
            if target == Target::Reversed && matches!(current, PaymentStatus::Paid | PaymentStatus::Reversed) {
                assert_eq!(reported, PaymentStatus::Reversed, "a reversal of a {current} payment");
            }
        }
    }
}

#[test]
fn refunds_of_a_receipt_never_take_more_than_it_paid() {
    let order = order();
    let receipt = with_status(payment(&order, PaymentType::Receipt, None, 10_000), PaymentStatus::Paid);
    let open = payment(&order, PaymentType::Refund, Some(&receipt), 3_000);
    let paid = with_status(payment(&order, PaymentType::Refund, Some(&receipt), 2_000), PaymentStatus::Paid);
    let voided = with_status(payment(&order, PaymentType::Refund, Some(&receipt), 9_000), PaymentStatus::Canceled);
    let payments = [receipt.clone(), open.clone(), paid.clone(), voided];
    let book = OrderBook::new(&order, &payments);
    assert_eq!(book.used(&receipt, None), 5_000, "open and unbooked paid refunds count, voided ones do not");
    assert_eq!(book.refundable(&receipt, None), 5_000);
    assert_eq!(book.refundable(&receipt, Some(&open.id)), 8_000, "a refund is not counted against itself");
    assert!(book.refund_fits(&receipt, 5_000, None).is_ok());
    assert_eq!(
        book.refund_fits(&receipt, 5_001, None),
        Err(BookError::RefundExceedsReceipt {
            receipt: receipt.id.clone(),
            currency: order.currency,
            requested: 5_001,
            available: 5_000
        })
    );
    assert!(matches!(
        DomainError::from(book.refund_fits(&receipt, 5_001, None).unwrap_err()),
        DomainError::ExceedsAvailable { requested: 5_001, available: 5_000 }
    ));
    assert!(book.actions(&receipt).contains(&Action::Refund));
    assert_eq!(book.check_confirm(&open), Ok(()));
    assert_eq!(book.check_reverse(&paid), Err(BookError::RefundFinal));
}

#[test]
fn a_booked_refund_counts_once_through_the_receipts_refunded_amount() {
    let order = order();
    let mut receipt = with_status(payment(&order, PaymentType::Receipt, None, 10_000), PaymentStatus::Paid);
    receipt.amount_refunded = 4_000;
    let mut booked = with_status(payment(&order, PaymentType::Refund, Some(&receipt), 4_000), PaymentStatus::Paid);
    booked.attrs = stored_attrs(Map::new(), &Marks { booked: true, ..Marks::default() });
    let payments = [receipt.clone(), booked.clone()];
    let book = OrderBook::new(&order, &payments);
    assert_eq!(book.used(&receipt, None), 4_000);
    assert!(Marks::of(&booked).booked);
    assert!(client_attrs(&booked).is_empty(), "callers never see the marks");
    let unpaid = payment(&order, PaymentType::Receipt, None, 10_000);
    assert_eq!(book.refundable(&unpaid, None), 0, "nothing of an unpaid receipt is refundable");
}
