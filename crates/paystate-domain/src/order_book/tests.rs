//! The order book's rules: the per-receipt refund cap, the marks, and the status targets.

use super::*;
use crate::payment::NewPayment;
use crate::status::judge;
use crate::{Actor, Source, Transition};

use crate::payment::tests::{actor, order};

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

/// A refund of nothing passes the amount check, never the receipt's: both surfaces refuse it
/// when the receipt is not paid.
#[test]
fn a_refund_of_nothing_needs_a_paid_receipt() {
    let order = order();
    let reversed = with_status(payment(&order, PaymentType::Receipt, None, 10_000), PaymentStatus::Reversed);
    let nothing = payment(&order, PaymentType::Refund, Some(&reversed), 0);
    let payments = [reversed.clone(), nothing.clone()];
    let book = OrderBook::new(&order, &payments);
    assert_eq!(book.refund_fits(&reversed, 0, None), Err(BookError::SourceNotCompleted));
    assert_eq!(book.check_confirm(&nothing), Err(BookError::SourceNotCompleted));
    assert_eq!(
        book.check_change(&nothing, &with_status(nothing.clone(), PaymentStatus::Paid)),
        book.check_confirm(&nothing)
    );
    assert!(matches!(book.refund_fits(&reversed, 1, None), Err(BookError::RefundExceedsReceipt { available: 0, .. })));
}

/// A refund of a receipt not paid yet waits; one of a receipt that will never be paid does not.
#[test]
fn a_refund_waits_only_for_a_receipt_that_may_still_be_paid() {
    let order = order();
    let open = payment(&order, PaymentType::Receipt, None, 10_000);
    let failed = with_status(payment(&order, PaymentType::Receipt, None, 10_000), PaymentStatus::Failed);
    let payments = [open.clone(), failed.clone()];
    let book = OrderBook::new(&order, &payments);
    assert_eq!(book.refund_may_wait(&open, 20_000, None), Ok(()));
    assert!(book.refund_may_wait(&failed, 1, None).is_err());
    let refund = payment(&order, PaymentType::Refund, Some(&open), 1_000);
    assert!(book.check_change(&refund, &with_status(refund.clone(), PaymentStatus::Paid)).is_err());
}

/// Each change that takes money of a receipt is held, whichever command made it.
#[test]
fn every_change_that_takes_money_of_a_receipt_is_held() {
    let order = order();
    let receipt = with_status(payment(&order, PaymentType::Receipt, None, 10_000), PaymentStatus::Paid);
    let open = payment(&order, PaymentType::Refund, Some(&receipt), 3_000);
    let paid = with_status(payment(&order, PaymentType::Refund, Some(&receipt), 2_000), PaymentStatus::Paid);
    let payments = [receipt.clone(), open.clone(), paid.clone()];
    let book = OrderBook::new(&order, &payments);
    let amount = |payment: &Payment, amount: i64| Payment { amount, ..payment.clone() };

    // An open refund grows within what is left; a paid refund's amount is final.
    assert_eq!(book.check_change(&open, &amount(&open, 8_000)), Ok(()));
    assert!(matches!(book.check_change(&open, &amount(&open, 8_001)), Err(BookError::RefundExceedsReceipt { .. })));
    assert_eq!(book.check_change(&open, &amount(&open, 1)), Ok(()), "lowering frees");
    assert_eq!(book.check_change(&paid, &amount(&paid, 1_000)), Err(BookError::RefundAmountFinal));
    // A paid receipt covers its refund payments, open and paid.
    assert_eq!(book.check_change(&receipt, &amount(&receipt, 5_000)), Ok(()));
    let below = book.check_change(&receipt, &amount(&receipt, 4_999));
    assert_eq!(below, Err(BookError::BelowRefunded { currency: order.currency, used: 5_000 }));
    // Money recorded as gone back of the receipt: the paid refund payment counts, the open one
    // is a claim held when it completes.
    assert_eq!(book.gone(&receipt), 2_000);
    let refunded = |by: i64| Payment { amount_refunded: by, has_refunds: true, ..receipt.clone() };
    assert_eq!(book.check_change(&receipt, &refunded(8_000)), Ok(()));
    assert!(matches!(
        book.check_change(&receipt, &refunded(8_001)),
        Err(BookError::RefundExceedsReceipt { requested: 8_001, available: 8_000, .. })
    ));
    assert!(!concerns_cap(&receipt, &Payment { note: Some("x".into()), ..receipt.clone() }));
}

/// Beyond the cap, a provider's report of money gone back is a conflict to review; a command is refused.
#[test]
fn a_providers_report_beyond_the_cap_is_recorded_a_commands_is_refused() {
    let order = order();
    let receipt = with_status(payment(&order, PaymentType::Receipt, None, 10_000), PaymentStatus::Paid);
    let paid = with_status(payment(&order, PaymentType::Refund, Some(&receipt), 2_000), PaymentStatus::Paid);
    let payments = [receipt.clone(), paid];
    let book = OrderBook::new(&order, &payments);
    let command = PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::Remaining };
    let now = chrono::Utc::now();
    let native = actor();
    let decision = crate::payment::decide(&receipt, &command, &native, now).unwrap();
    assert!(book.hold(&receipt, &command, decision.clone(), &native, now).is_err());
    let teljoy = Actor { source: Source::Teljoy, ..actor() };
    let held = book.hold(&receipt, &command, decision, &teljoy, now).unwrap();
    assert_eq!(held.outcome, Outcome::Conflict { current: PaymentStatus::Paid, reported: PaymentStatus::Paid });
    assert!(held.payment.needs_review);
    assert_eq!(held.payment.amount_refunded, 0);
    assert_eq!(held.events.len(), 1);
    assert_eq!(held.events[0].kind, crate::EventType::PaymentConflict);
}
