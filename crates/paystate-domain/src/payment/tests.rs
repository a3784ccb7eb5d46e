//! The payment decision function, command by command, and a property over random command sequences.

use super::*;
use crate::money::Currency;
use crate::order::NewOrder;
use proptest::prelude::*;

/// A native API caller of a fresh tenant (the order book's tests use it too).
pub(crate) fn actor() -> Actor {
    Actor {
        tenant_id: crate::TenantId::generate(),
        key_id: None,
        user_id: None,
        source: Source::Native,
        request_id: "req".into(),
        request_body: None,
    }
}

/// An open EUR order of 100.00 (the order book's tests use it too).
pub(crate) fn order() -> Order {
    let new = NewOrder {
        reference: "A-1".into(),
        currency: Currency::parse("EUR").unwrap(),
        total_amount: 10_000,
        customer: serde_json::Value::Null,
        attributes: serde_json::Value::Null,
    };
    Order::open(new, &actor(), chrono::Utc::now()).unwrap().0
}

fn payment(amount: i64) -> Payment {
    let new = NewPayment { amount, ..Default::default() };
    Payment::create(&order(), new, &actor(), chrono::Utc::now()).unwrap().0
}

fn run(payment: &Payment, command: PaymentCommand) -> Result<Decision, DomainError> {
    decide(payment, &command, &actor(), chrono::Utc::now())
}

fn report(status: PaymentStatus) -> PaymentCommand {
    PaymentCommand::ReportStatus { status, paid_at: None }
}

fn paid(amount: i64) -> Payment {
    run(&payment(amount), report(PaymentStatus::Paid)).unwrap().payment
}

fn refund(amount: Option<i64>) -> PaymentCommand {
    PaymentCommand::Adjust { kind: Adjustment::Refund, amount, missing: MissingAmount::Remaining }
}

#[test]
fn advance_sets_paid_at_and_bumps_the_version() {
    let p = payment(1000);
    let at = "2025-12-11T01:03:02Z".parse().unwrap();
    let d = run(&p, PaymentCommand::ReportStatus { status: PaymentStatus::Paid, paid_at: Some(at) }).unwrap();
    assert_eq!(d.outcome, Outcome::Applied);
    assert_eq!(d.payment.status, PaymentStatus::Paid);
    assert_eq!(d.payment.paid_at, Some(at));
    assert!(d.payment.completed_at.is_some());
    assert_eq!(d.payment.version, p.version + 1);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].kind, EventType::PaymentStatusChanged);
}

#[test]
fn paid_without_a_time_uses_the_time_of_the_update() {
    let now = chrono::Utc::now();
    let d = decide(&payment(1), &report(PaymentStatus::Paid), &actor(), now).unwrap();
    assert_eq!(d.payment.paid_at, Some(now));
}

#[test]
fn the_same_status_again_is_a_silent_no_op() {
    let p = paid(1000);
    let d = run(&p, report(PaymentStatus::Paid)).unwrap();
    assert_eq!(d.outcome, Outcome::Unchanged);
    assert!(d.events.is_empty());
    assert_eq!(d.payment, p);
}

#[test]
fn a_late_earlier_status_is_stale_recorded_and_not_applied() {
    let p = paid(1000);
    let d = run(&p, report(PaymentStatus::Pending)).unwrap();
    assert_eq!(d.outcome, Outcome::Stale);
    assert_eq!(d.payment, p);
    assert_eq!(d.events[0].kind, EventType::PaymentStaleUpdate);
    assert!(!d.payment_changed());
}

#[test]
fn a_contradiction_is_a_conflict_that_flags_the_payment() {
    let canceled = run(&payment(1000), report(PaymentStatus::Canceled)).unwrap().payment;
    let d = run(&canceled, report(PaymentStatus::Paid)).unwrap();
    assert_eq!(d.outcome, Outcome::Conflict { current: PaymentStatus::Canceled, reported: PaymentStatus::Paid });
    assert_eq!(d.payment.status, PaymentStatus::Canceled);
    assert!(d.payment.needs_review);
    assert_eq!(d.events[0].kind, EventType::PaymentConflict);
    assert!(d.payment_changed());
}

#[test]
fn resolve_clears_the_flag_and_may_force_a_status() {
    let canceled = run(&payment(1000), report(PaymentStatus::Canceled)).unwrap().payment;
    let flagged = run(&canceled, report(PaymentStatus::Paid)).unwrap().payment;
    let d = run(&flagged, PaymentCommand::Resolve { status: Some(PaymentStatus::Paid) }).unwrap();
    assert!(!d.payment.needs_review);
    assert_eq!(d.payment.status, PaymentStatus::Paid);
    assert_eq!(d.events[0].kind, EventType::PaymentResolved);
    // Nothing to resolve on a payment that is not flagged and would not change.
    assert!(run(&d.payment, PaymentCommand::Resolve { status: None }).is_err());
}

#[test]
fn refunds_keep_the_status_paid_and_never_exceed_what_was_paid() {
    let p = paid(1000);
    let d = run(&p, refund(Some(300))).unwrap();
    assert_eq!(d.payment.status, PaymentStatus::Paid);
    assert_eq!(d.payment.amount_refunded, 300);
    assert!(d.payment.has_refunds);
    assert_eq!(
        run(&d.payment, refund(Some(701))),
        Err(DomainError::ExceedsAvailable { requested: 701, available: 700 })
    );
    let rest = run(&d.payment, refund(None)).unwrap().payment;
    assert_eq!(rest.amount_refunded, 1000);
    // Refunding "what remains" again changes nothing.
    assert_eq!(run(&rest, refund(None)).unwrap().outcome, Outcome::Unchanged);
    assert!(run(&p, refund(Some(0))).is_err());
    assert!(run(&p, refund(Some(-5))).is_err());
}

#[test]
fn a_flag_only_refund_sets_the_flag_once() {
    let p = paid(1000);
    let cmd = PaymentCommand::Adjust { kind: Adjustment::Refund, amount: None, missing: MissingAmount::FlagOnly };
    let d = run(&p, cmd.clone()).unwrap();
    assert!(d.payment.has_refunds);
    assert_eq!(d.payment.amount_refunded, 0);
    assert_eq!(run(&d.payment, cmd).unwrap().outcome, Outcome::Unchanged);
}

#[test]
fn chargebacks_share_the_available_amount_with_refunds() {
    let p = run(&paid(1000), refund(Some(600))).unwrap().payment;
    let cb =
        |amount| PaymentCommand::Adjust { kind: Adjustment::Chargeback, amount, missing: MissingAmount::Remaining };
    assert!(run(&p, cb(Some(401))).is_err());
    let d = run(&p, cb(None)).unwrap();
    assert_eq!(d.payment.amount_charged_back, 400);
    assert!(d.payment.has_chargebacks);
    assert_eq!(d.events[0].kind, EventType::PaymentChargedBack);
}

#[test]
fn refund_of_an_unpaid_payment_is_a_conflict() {
    let d = run(&payment(1000), refund(Some(100))).unwrap();
    assert!(matches!(d.outcome, Outcome::Conflict { .. }));
    assert!(d.payment.needs_review);
    assert_eq!(d.payment.amount_refunded, 0);
}

#[test]
fn settled_payments_change_only_by_audited_correction() {
    let p = paid(1000);
    let patch = PaymentPatch { amount: Some(1200), ..Default::default() };
    assert!(matches!(run(&p, PaymentCommand::Update(patch.clone())), Err(DomainError::NotAllowed { .. })));
    let d = run(&p, PaymentCommand::Update(PaymentPatch { correction: true, ..patch })).unwrap();
    assert_eq!(d.payment.amount, 1200);
    assert_eq!(d.events[0].detail["before"]["amount"], 1000);
    assert_eq!(d.events[0].detail["after"]["amount"], 1200);
    // A note on an open payment needs no correction.
    let open = payment(10);
    let d = run(&open, PaymentCommand::Update(PaymentPatch { note: Some(Some("hi".into())), ..Default::default() }))
        .unwrap();
    assert_eq!(d.payment.note.as_deref(), Some("hi"));
}

#[test]
fn delete_is_soft_refused_for_paid_and_final() {
    assert!(run(&paid(10), PaymentCommand::Delete).is_err());
    let d = run(&payment(10), PaymentCommand::Delete).unwrap();
    assert!(d.payment.deleted_at.is_some());
    assert_eq!(run(&d.payment, report(PaymentStatus::Paid)), Err(DomainError::Deleted));
}

#[test]
fn allowed_matches_decide() {
    let p = paid(1000);
    assert!(p.allowed(&refund(None)));
    assert!(p.allowed(&report(PaymentStatus::Reversed)));
    assert!(!p.allowed(&report(PaymentStatus::Canceled)));
    assert!(!p.allowed(&PaymentCommand::Delete));
    assert!(payment(1).allowed(&PaymentCommand::Delete));
}

#[test]
fn payments_of_closed_orders_and_foreign_currencies_are_refused() {
    let mut o = order();
    let eur = NewPayment { amount: 1, currency: Some(Currency::parse("USD").unwrap()), ..Default::default() };
    assert!(Payment::create(&o, eur, &actor(), chrono::Utc::now()).is_err());
    o.state = OrderState::Canceled;
    assert!(Payment::create(&o, NewPayment::default(), &actor(), chrono::Utc::now()).is_err());
    let refund_without_source = NewPayment { kind: Some(PaymentType::Refund), ..Default::default() };
    assert!(Payment::create(&order(), refund_without_source, &actor(), chrono::Utc::now()).is_err());
}

fn any_command() -> impl Strategy<Value = PaymentCommand> {
    let status = proptest::sample::select(PaymentStatus::ALL.to_vec());
    prop_oneof![
        4 => status.prop_map(report),
        1 => proptest::option::of(0i64..1500).prop_map(refund),
        1 => proptest::option::of(0i64..1500).prop_map(|amount| PaymentCommand::Adjust { kind: Adjustment::Chargeback, amount, missing: MissingAmount::FlagOnly }),
    ]
}

proptest! {
    #[test]
    fn no_command_sequence_regresses_a_payment_or_overdraws_it(commands in proptest::collection::vec(any_command(), 0..30)) {
        let mut current = payment(1000);
        for command in commands {
            if let Ok(decision) = run(&current, command) {
                let next = decision.payment;
                prop_assert!(next.status == current.status || current.status.precedes(next.status));
                prop_assert!(next.remaining() >= 0);
                prop_assert!(next.amount_refunded >= current.amount_refunded);
                prop_assert!(next.version >= current.version);
                prop_assert!(!current.needs_review || next.needs_review);
                current = next;
            }
        }
    }
}
