//! The order book: an order with its live payments, and the rules that decide what an action may
//! do to one of them. Above all the per-receipt refund cap: refund payments of a receipt never
//! take more than the receipt paid, whichever API creates, changes or completes them, and
//! refunds recorded on the receipt itself count them ([`OrderBook::check_change`], which the
//! ledger holds on every decision of the status machine).
//!
//! The rules answer [`BookError`], in domain terms; each surface words it in its own format. The
//! same checks that refuse actions compute [`OrderBook::actions`], so that no surface ever offers
//! an action that then fails. The marks the rules read (whether a completed refund is booked on
//! its receipt, whether a pending payment is in progress) are kept in [`Marks`].

use crate::payment::{Adjustment, MissingAmount};
use crate::{
    Actor, Currency, Decision, DomainError, Order, OrderState, Outcome, Payment, PaymentCommand, PaymentId,
    PaymentPatch, PaymentStatus, PaymentType, Timestamp,
};
use serde_json::{Map, Value, json};

// --- the marks kept in attrs ------------------------------------------------------------------

/// The member of a payment's `attrs` where paystate keeps the marks that have no canonical field.
/// It is named after the dialect that introduced it (Gormic OM); stored payments carry it under
/// this name, so the name stays. Callers never see nor write it.
pub const MARKS_MEMBER: &str = "_gormic";

/// What paystate keeps in [`MARKS_MEMBER`]: the customer's id as the caller knows it, whether a
/// pending payment is in progress, and whether a completed refund's amount is booked on its
/// source receipt's `amount_refunded` (so that it is not counted twice against the receipt).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub customer_uid: Option<String>,
    pub in_progress: bool,
    pub booked: bool,
}

impl Marks {
    pub fn of(payment: &Payment) -> Self {
        let member = payment.attrs.get(MARKS_MEMBER);
        let flag = |name: &str| member.and_then(|m| m.get(name)).and_then(Value::as_bool).unwrap_or(false);
        Marks {
            customer_uid: member.and_then(|m| m.get("customerUid")).and_then(Value::as_str).map(str::to_owned),
            in_progress: flag("progress"),
            booked: flag("booked"),
        }
    }

    fn to_value(&self) -> Option<Value> {
        let mut member = Map::new();
        if let Some(customer) = &self.customer_uid {
            member.insert("customerUid".into(), customer.clone().into());
        }
        if self.in_progress {
            member.insert("progress".into(), true.into());
        }
        if self.booked {
            member.insert("booked".into(), true.into());
        }
        (!member.is_empty()).then_some(Value::Object(member))
    }
}

/// The `attrs` a caller sees: the stored ones without the marks.
pub fn client_attrs(payment: &Payment) -> Map<String, Value> {
    let mut attrs = payment.attrs.as_object().cloned().unwrap_or_default();
    attrs.remove(MARKS_MEMBER);
    attrs
}

/// The `attrs` to store: the caller's, plus the marks when they hold anything.
pub fn stored_attrs(mut client: Map<String, Value>, marks: &Marks) -> Value {
    client.remove(MARKS_MEMBER);
    if let Some(member) = marks.to_value() {
        client.insert(MARKS_MEMBER.into(), member);
    }
    Value::Object(client)
}

/// The `attrs` a caller other than the payment desk writes, with the marks as `kept` holds them
/// (none for a new payment): whatever the caller put under [`MARKS_MEMBER`] is left out. The
/// marks are paystate's record of what the desk did, above all whether a completed refund is
/// booked on its receipt, which decides whether the refund cap counts it: a caller that could set
/// that mark would hide a paid refund from the cap, one that could clear it would count a booked
/// refund twice. Attrs that are no object are returned as they are, for the domain to refuse.
pub fn with_marks_of(attrs: Value, kept: Option<&Payment>) -> Value {
    let client = match attrs {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => return other,
    };
    stored_attrs(client, &kept.map(Marks::of).unwrap_or_default())
}

/// Reversed or voided (canceled): final, nothing turns it back into money.
pub fn is_final(payment: &Payment) -> bool {
    matches!(payment.status, PaymentStatus::Reversed | PaymentStatus::Canceled)
}

// --- targets, actions and refusals --------------------------------------------------------

/// A status a caller asks a payment to reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Paid,
    Pending,
    /// Pending, with work under way (an authorized payment may stay in progress).
    InProgress,
    /// Undone: reversed when it was paid, voided (canceled) when it never was.
    Reversed,
}

impl Target {
    /// The canonical status this target reports for a payment now `current`. Undoing a payment
    /// never paid is a void, canonically `canceled`, so that a capture reported after it is a
    /// conflict (`canceled` then `paid`), not a stale report (`reversed` lies above `paid` in the
    /// lattice); undoing a paid payment is a reversal.
    pub fn canonical_for(self, current: PaymentStatus) -> PaymentStatus {
        match self {
            Self::Paid => PaymentStatus::Paid,
            Self::Pending | Self::InProgress => PaymentStatus::Pending,
            Self::Reversed if matches!(current, PaymentStatus::Paid | PaymentStatus::Reversed) => {
                PaymentStatus::Reversed
            }
            Self::Reversed => PaymentStatus::Canceled,
        }
    }
}

/// What a caller may do to a payment of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Confirm,
    Update,
    Delete,
    Reverse,
    Refund,
}

/// The step a refused payment cannot take in its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Confirm,
    Reverse,
    Delete,
    /// Change fields without a correction.
    Update,
    /// Go back to pending or in progress.
    Become(Target),
}

/// Why the order book refuses an action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// A closed or canceled order takes no changes.
    #[error("the order is {0}")]
    OrderNotOpen(OrderState),
    /// A refund of `requested` exceeds the `available` still refundable of `receipt`.
    #[error("a refund of {requested} exceeds the {available} still refundable of payment {receipt}")]
    RefundExceedsReceipt { receipt: PaymentId, currency: Currency, requested: i64, available: i64 },
    /// A receipt's amount cannot fall below what its refunds and chargebacks take.
    #[error("refunds and chargebacks of this payment already take {used}")]
    BelowRefunded { currency: Currency, used: i64 },
    /// The payment's status does not allow the step now (`in_progress` as its marks say).
    #[error("a {status} payment cannot take the step {step:?}")]
    NotNow { status: PaymentStatus, in_progress: bool, step: Step },
    /// A refund to complete whose source is not a completed receipt of the order.
    #[error("the refund's source payment is not a completed receipt of the order")]
    SourceNotCompleted,
    /// A completed refund's money is booked on its receipt: it cannot be reversed.
    #[error("a completed refund is final and cannot be reversed")]
    RefundFinal,
    /// A completed refund's amount is booked on its receipt: it cannot change.
    #[error("the amount of a completed refund is final: it is booked on its source payment")]
    RefundAmountFinal,
}

impl From<BookError> for DomainError {
    /// The book's refusal for surfaces that speak [`DomainError`] (the native API).
    fn from(error: BookError) -> Self {
        match error {
            BookError::OrderNotOpen(state) => DomainError::OrderNotOpen(state),
            BookError::RefundExceedsReceipt { requested, available, .. } => {
                DomainError::ExceedsAvailable { requested, available }
            }
            BookError::BelowRefunded { .. } => DomainError::Invalid {
                field: "amount",
                message: "must not be below what was already refunded and charged back".into(),
            },
            BookError::NotNow { status, step, .. } => DomainError::NotAllowed { status, action: step.name() },
            BookError::SourceNotCompleted => DomainError::Invalid {
                field: "source_payment_id",
                message: "must name a paid receipt of the same order".into(),
            },
            BookError::RefundFinal => DomainError::NotAllowed { status: PaymentStatus::Paid, action: "reverse" },
            BookError::RefundAmountFinal => {
                DomainError::NotAllowed { status: PaymentStatus::Paid, action: "change of amount" }
            }
        }
    }
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Confirm => "confirm",
            Step::Reverse => "reverse",
            Step::Delete => "delete",
            Step::Update => "update",
            Step::Become(_) => "status change",
        }
    }
}

// --- the rules --------------------------------------------------------------------------------

/// An order and its live (not deleted) payments: what every rule looks at.
pub struct OrderBook<'a> {
    pub order: &'a Order,
    pub payments: &'a [Payment],
}

impl<'a> OrderBook<'a> {
    pub fn new(order: &'a Order, payments: &'a [Payment]) -> Self {
        OrderBook { order, payments }
    }

    /// A closed or canceled order takes no changes.
    pub fn open(&self) -> Result<(), BookError> {
        match self.order.state {
            OrderState::Open => Ok(()),
            state => Err(BookError::OrderNotOpen(state)),
        }
    }

    pub fn find(&self, id: &PaymentId) -> Option<&'a Payment> {
        self.payments.iter().find(|p| &p.id == id)
    }

    /// The refund payments of `source` that still count against it, each with whether it is
    /// already money: not yet complete (reserved: it may still become money), or complete without
    /// being booked on the receipt (completed through another API). `except` leaves one out.
    fn refunds_against<'s>(
        &'s self,
        source: &'s Payment,
        except: Option<&'s PaymentId>,
    ) -> impl Iterator<Item = (&'a Payment, bool)> + 's {
        self.payments
            .iter()
            .filter(move |r| r.kind == PaymentType::Refund && r.source_payment_id.as_ref() == Some(&source.id))
            .filter(move |r| Some(&r.id) != except && r.deleted_at.is_none())
            .filter_map(|r| match r.status {
                PaymentStatus::Open | PaymentStatus::Pending | PaymentStatus::Authorized => Some((r, false)),
                PaymentStatus::Paid if !Marks::of(r).booked => Some((r, true)),
                _ => None,
            })
    }

    /// What is spoken for of a receipt: refunds and chargebacks booked on it, plus its refund
    /// payments that may still become money (not yet complete) or became money without being
    /// booked on it (completed through another API). `except` leaves one refund out.
    pub fn used(&self, source: &Payment, except: Option<&PaymentId>) -> i64 {
        let refunds = self.refunds_against(source, except).fold(0_i64, |sum, (r, _)| sum.saturating_add(r.amount));
        source.amount_refunded.saturating_add(source.amount_charged_back).saturating_add(refunds)
    }

    /// What has already gone back of a receipt: refunds and chargebacks booked on it, plus its
    /// refund payments completed without being booked on it. Unlike [`Self::used`] it leaves out
    /// refund payments not complete yet: they are claims, held when they complete.
    pub fn gone(&self, source: &Payment) -> i64 {
        let refunds = self
            .refunds_against(source, None)
            .filter(|(_, money)| *money)
            .fold(0_i64, |sum, (r, _)| sum.saturating_add(r.amount));
        source.amount_refunded.saturating_add(source.amount_charged_back).saturating_add(refunds)
    }

    /// Whether refunds may be taken from `source` now: a paid, live receipt of this order.
    fn eligible(&self, source: &Payment) -> bool {
        source.kind == PaymentType::Receipt
            && source.status == PaymentStatus::Paid
            && source.deleted_at.is_none()
            && source.order_id == self.order.id
    }

    /// What may still be refunded of a receipt (nothing unless it is complete).
    pub fn refundable(&self, source: &Payment, except: Option<&PaymentId>) -> i64 {
        if self.eligible(source) { (source.amount - self.used(source, except)).max(0) } else { 0 }
    }

    /// The per-receipt refund cap: a refund of `amount` from `source` stays within what the
    /// receipt paid and is not yet spoken for. `except` is the refund itself, when it exists.
    /// A receipt that is not paid has nothing to refund, whatever the amount: a refund of nothing
    /// is refused too, so that every surface agrees with [`Self::check_confirm`].
    pub fn refund_fits(&self, source: &Payment, amount: i64, except: Option<&PaymentId>) -> Result<(), BookError> {
        if !self.eligible(source) {
            return Err(self.nothing_to_refund(Some(&source.id), amount));
        }
        let available = self.refundable(source, except);
        // The status machine refuses an adjustment of nothing, so a refund of nothing skips the probe.
        let adjustable = amount == 0
            || source.allowed(&PaymentCommand::Adjust {
                kind: Adjustment::Refund,
                amount: Some(amount),
                missing: MissingAmount::Remaining,
            });
        if amount > available || !adjustable {
            return Err(self.exceeds(&source.id, amount, available));
        }
        Ok(())
    }

    /// A refund payment that is not money yet, of `amount` (on creation, or when its amount
    /// grows): a paid receipt must cover it now, since it reserves its amount; a receipt that may
    /// still become paid (open, pending, authorized) lets it wait, and the cap is held when the
    /// refund completes ([`Self::check_change`]); any other receipt has nothing to refund.
    pub fn refund_may_wait(&self, source: &Payment, amount: i64, except: Option<&PaymentId>) -> Result<(), BookError> {
        let waits = source.kind == PaymentType::Receipt
            && source.deleted_at.is_none()
            && source.order_id == self.order.id
            && source.status.precedes(PaymentStatus::Paid);
        if waits { Ok(()) } else { self.refund_fits(source, amount, except) }
    }

    fn exceeds(&self, receipt: &PaymentId, requested: i64, available: i64) -> BookError {
        BookError::RefundExceedsReceipt {
            receipt: receipt.clone(),
            currency: self.order.currency,
            requested,
            available,
        }
    }

    /// The refusal of a refund of `amount` from a receipt that has nothing to refund (not paid,
    /// not of this order, or not found): a refund of something exceeds its 0 available, as every
    /// surface words the cap; a refund of nothing exceeds nothing, and is refused for what it
    /// lacks, a paid receipt.
    fn nothing_to_refund(&self, receipt: Option<&PaymentId>, amount: i64) -> BookError {
        match receipt {
            Some(receipt) if amount > 0 => self.exceeds(receipt, amount, 0),
            _ => BookError::SourceNotCompleted,
        }
    }

    /// A new amount for `payment`: a completed refund's is final, a refund's must fit its
    /// receipt (unless it is being reversed), a completed receipt's must cover what its refunds
    /// and chargebacks take.
    pub fn check_amount(
        &self,
        payment: &Payment,
        amount: i64,
        source: Option<&Payment>,
        reversing: bool,
    ) -> Result<(), BookError> {
        if amount == payment.amount {
            return Ok(());
        }
        match (payment.kind, payment.status) {
            (PaymentType::Refund, PaymentStatus::Paid) => Err(BookError::RefundAmountFinal),
            (PaymentType::Refund, _) if !reversing => match source {
                Some(source) => self.refund_fits(source, amount, Some(&payment.id)),
                None => Ok(()),
            },
            (PaymentType::Receipt, PaymentStatus::Paid) => {
                let used = self.used(payment, None);
                if amount < used {
                    Err(BookError::BelowRefunded { currency: self.order.currency, used })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Confirming (completing) `payment`, with the amount it has or is about to have.
    pub fn check_confirm(&self, payment: &Payment) -> Result<(), BookError> {
        self.open()?;
        match payment.status {
            PaymentStatus::Paid => return Ok(()),
            PaymentStatus::Open | PaymentStatus::Pending | PaymentStatus::Authorized => {}
            _ => return Err(not_now(payment, Step::Confirm)),
        }
        if !payment.allowed(&PaymentCommand::ReportStatus { status: PaymentStatus::Paid, paid_at: None }) {
            return Err(not_now(payment, Step::Confirm));
        }
        if payment.kind == PaymentType::Refund {
            let source = payment.source_payment_id.as_ref().and_then(|id| self.find(id));
            match source {
                Some(source) if source.kind == PaymentType::Receipt && source.status == PaymentStatus::Paid => {
                    self.refund_fits(source, payment.amount, Some(&payment.id))?;
                }
                _ => return Err(BookError::SourceNotCompleted),
            }
        }
        Ok(())
    }

    /// Reversing `payment` (a completed refund is final: its money is booked on its receipt).
    /// Reversing a reversed or voided payment again changes nothing.
    pub fn check_reverse(&self, payment: &Payment) -> Result<(), BookError> {
        self.open()?;
        if is_final(payment) {
            return Ok(());
        }
        if payment.kind == PaymentType::Refund && payment.status == PaymentStatus::Paid {
            return Err(BookError::RefundFinal);
        }
        let status = Target::Reversed.canonical_for(payment.status);
        if !payment.allowed(&PaymentCommand::ReportStatus { status, paid_at: None }) {
            return Err(not_now(payment, Step::Reverse));
        }
        Ok(())
    }

    /// Moving `payment` back to pending or in progress: only a payment that is not complete yet.
    pub fn check_pending(&self, payment: &Payment, target: Target) -> Result<(), BookError> {
        self.open()?;
        match payment.status {
            PaymentStatus::Open | PaymentStatus::Pending => Ok(()),
            PaymentStatus::Authorized if target == Target::InProgress => Ok(()),
            _ => Err(not_now(payment, Step::Become(target))),
        }
    }

    pub fn check_delete(&self, payment: &Payment) -> Result<(), BookError> {
        self.open()?;
        if is_final(payment) || !payment.allowed(&PaymentCommand::Delete) {
            return Err(not_now(payment, Step::Delete));
        }
        Ok(())
    }

    /// Changing fields without a correction.
    pub fn check_update(&self, payment: &Payment) -> Result<(), BookError> {
        self.open()?;
        let probe = PaymentPatch { custom: Some(!payment.custom), ..PaymentPatch::default() };
        if is_final(payment) || !payment.allowed(&PaymentCommand::Update(probe)) {
            return Err(not_now(payment, Step::Update));
        }
        Ok(())
    }

    /// The refund cap held on a change the status machine decided, whichever command and surface
    /// made it: `before` is the payment as this book holds it, `after` as the decision leaves it.
    /// Only what the change adds is checked, so that a receipt already over its cap (data older
    /// than the cap) still takes changes that do not make it worse.
    /// - A refund that becomes paid (a status report, or an admin's resolve) must fit in its paid
    ///   receipt.
    /// - A paid refund's amount is final: it is money gone back (and may be booked on its receipt).
    /// - A refund that may still become money and grows must fit, or wait ([`Self::refund_may_wait`]).
    /// - A paid receipt's amount cannot fall below what its refunds, reserved ones included, and
    ///   chargebacks take ([`Self::used`]).
    /// - A refund recorded as an adjustment of a paid receipt (its `amount_refunded`) cannot exceed
    ///   what has not gone back yet ([`Self::gone`]). Refund payments not complete yet do not count
    ///   here: an adjustment records money that already went back, which a waiting refund cannot
    ///   stop; the waiting refund is then held when it completes.
    pub fn check_change(&self, before: &Payment, after: &Payment) -> Result<(), BookError> {
        let Some(claim) = Claim::of(before, after) else {
            return Ok(());
        };
        let source = || before.source_payment_id.as_ref().and_then(|id| self.find(id));
        let missing = || self.nothing_to_refund(before.source_payment_id.as_ref(), after.amount);
        match claim {
            Claim::Completes => match source() {
                Some(source) => self.refund_fits(source, after.amount, Some(&before.id)),
                None => Err(missing()),
            },
            Claim::ChangesFinalAmount => Err(BookError::RefundAmountFinal),
            Claim::Grows => match source() {
                Some(source) => self.refund_may_wait(source, after.amount, Some(&before.id)),
                None => Err(missing()),
            },
            Claim::Lowers => {
                let used = self.used(before, None);
                if after.amount < used {
                    return Err(BookError::BelowRefunded { currency: self.order.currency, used });
                }
                Ok(())
            }
            Claim::Refunds(requested) => {
                let available = (before.amount - self.gone(before)).max(0);
                if requested > available {
                    return Err(self.exceeds(&before.id, requested, available));
                }
                Ok(())
            }
        }
    }

    /// [`Self::check_change`] on a decision, answering a refusal as its source would be answered:
    /// a provider's report ([`crate::Source::reports_facts`]: a status or money gone back) that
    /// exceeds the cap is a fact all the same, so it is recorded as a conflict and the payment
    /// flagged for review, not applied (as the status machine does with any report that
    /// contradicts what paystate holds); a command is refused.
    pub fn hold(
        &self,
        before: &Payment,
        command: &PaymentCommand,
        decision: Decision,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Decision, BookError> {
        if decision.outcome != Outcome::Applied {
            return Ok(decision);
        }
        let refusal = match self.check_change(before, &decision.payment) {
            Ok(()) => return Ok(decision),
            Err(refusal) => refusal,
        };
        let current = before.status;
        let detail = |reported: (&str, Value)| {
            let mut detail = json!({"current_status": current, "refund_cap": refusal.to_string()});
            detail[reported.0] = reported.1;
            detail
        };
        match command {
            PaymentCommand::ReportStatus { status, .. } if actor.source.reports_facts() => {
                let detail = detail(("reported_status", json!(status)));
                Ok(Decision::contradicted(before, *status, detail, actor, now))
            }
            PaymentCommand::Adjust { kind: Adjustment::Refund, .. } if actor.source.reports_facts() => {
                let detail = detail(("reported", json!("refund")));
                Ok(Decision::contradicted(before, PaymentStatus::Paid, detail, actor, now))
            }
            _ => Err(refusal),
        }
    }

    /// The actions `payment` allows now, each one exactly when its check passes.
    pub fn actions(&self, payment: &Payment) -> Vec<Action> {
        let mut can = Vec::new();
        if payment.status != PaymentStatus::Paid && self.check_confirm(payment).is_ok() {
            can.push(Action::Confirm);
        }
        if self.check_update(payment).is_ok() {
            can.push(Action::Update);
        }
        if self.check_delete(payment).is_ok() {
            can.push(Action::Delete);
        }
        if !is_final(payment) && self.check_reverse(payment).is_ok() {
            can.push(Action::Reverse);
        }
        if payment.kind == PaymentType::Receipt && self.open().is_ok() && self.refund_fits(payment, 1, None).is_ok() {
            can.push(Action::Refund);
        }
        can
    }
}

/// What a change of a payment asks of the refund cap (see [`OrderBook::check_change`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    /// A refund becomes paid.
    Completes,
    /// A paid refund's amount changes.
    ChangesFinalAmount,
    /// A refund that may still become money grows.
    Grows,
    /// A paid receipt's amount falls.
    Lowers,
    /// A paid receipt's `amount_refunded` grows by this much.
    Refunds(i64),
}

impl Claim {
    fn of(before: &Payment, after: &Payment) -> Option<Claim> {
        let paid = PaymentStatus::Paid;
        match before.kind {
            PaymentType::Refund if after.status == paid && before.status != paid => Some(Claim::Completes),
            PaymentType::Refund if after.amount == before.amount => None,
            PaymentType::Refund if before.status == paid => Some(Claim::ChangesFinalAmount),
            PaymentType::Refund if after.amount > before.amount && after.status.precedes(paid) => Some(Claim::Grows),
            PaymentType::Refund => None,
            PaymentType::Receipt if before.status != paid => None,
            PaymentType::Receipt if after.amount < before.amount => Some(Claim::Lowers),
            PaymentType::Receipt if after.amount_refunded > before.amount_refunded => {
                Some(Claim::Refunds(after.amount_refunded - before.amount_refunded))
            }
            PaymentType::Receipt => None,
        }
    }
}

/// Whether a change of a payment (`before`, then `after`) asks anything of the refund cap: only
/// then need its order book be read to hold it ([`OrderBook::hold`]).
pub fn concerns_cap(before: &Payment, after: &Payment) -> bool {
    Claim::of(before, after).is_some()
}

fn not_now(payment: &Payment, step: Step) -> BookError {
    BookError::NotNow { status: payment.status, in_progress: Marks::of(payment).in_progress, step }
}

#[cfg(test)]
mod tests;
