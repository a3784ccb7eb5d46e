//! The order book: an order with its live payments, and the rules that decide what an action may
//! do to one of them. Above all the per-receipt refund cap: refund payments of a receipt never
//! take more than the receipt paid, whichever API creates or confirms them.
//!
//! The rules answer [`BookError`], in domain terms; each surface words it in its own format. The
//! same checks that refuse actions compute [`OrderBook::actions`], so that no surface ever offers
//! an action that then fails. The marks the rules read (whether a completed refund is booked on
//! its receipt, whether a pending payment is in progress) are kept in [`Marks`].

use crate::payment::{Adjustment, MissingAmount};
use crate::{
    Currency, DomainError, Order, OrderState, Payment, PaymentCommand, PaymentId, PaymentPatch, PaymentStatus,
    PaymentType,
};
use serde_json::{Map, Value};

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

    /// What is spoken for of a receipt: refunds and chargebacks booked on it, plus its refund
    /// payments that may still become money (not yet complete) or became money without being
    /// booked on it (completed through another API). `except` leaves one refund out.
    pub fn used(&self, source: &Payment, except: Option<&PaymentId>) -> i64 {
        let refunds = self
            .payments
            .iter()
            .filter(|r| r.kind == PaymentType::Refund && r.source_payment_id.as_ref() == Some(&source.id))
            .filter(|r| Some(&r.id) != except && r.deleted_at.is_none())
            .filter(|r| match r.status {
                PaymentStatus::Open | PaymentStatus::Pending | PaymentStatus::Authorized => true,
                PaymentStatus::Paid => !Marks::of(r).booked,
                _ => false,
            })
            .fold(0_i64, |sum, r| sum.saturating_add(r.amount));
        source.amount_refunded.saturating_add(source.amount_charged_back).saturating_add(refunds)
    }

    /// What may still be refunded of a receipt (nothing unless it is complete).
    pub fn refundable(&self, source: &Payment, except: Option<&PaymentId>) -> i64 {
        let eligible = source.kind == PaymentType::Receipt
            && source.status == PaymentStatus::Paid
            && source.deleted_at.is_none()
            && source.order_id == self.order.id;
        if eligible { (source.amount - self.used(source, except)).max(0) } else { 0 }
    }

    /// The per-receipt refund cap: a refund of `amount` from `source` stays within what the
    /// receipt paid and is not yet spoken for. `except` is the refund itself, when it exists.
    pub fn refund_fits(&self, source: &Payment, amount: i64, except: Option<&PaymentId>) -> Result<(), BookError> {
        let available = self.refundable(source, except);
        let adjustable = amount == 0
            || source.allowed(&PaymentCommand::Adjust {
                kind: Adjustment::Refund,
                amount: Some(amount),
                missing: MissingAmount::Remaining,
            });
        if amount > available || !adjustable {
            return Err(BookError::RefundExceedsReceipt {
                receipt: source.id.clone(),
                currency: self.order.currency,
                requested: amount,
                available,
            });
        }
        Ok(())
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

fn not_now(payment: &Payment, step: Step) -> BookError {
    BookError::NotNow { status: payment.status, in_progress: Marks::of(payment).in_progress, step }
}

#[cfg(test)]
mod tests;
