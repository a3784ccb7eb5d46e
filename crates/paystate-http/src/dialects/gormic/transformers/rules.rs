//! The rules of the Gormic dialect: what an action may do to a payment of an order, as refusals
//! in Gormic's codes. `can` is computed by the very checks that refuse the actions.

use super::{Status, booked, major};
use crate::dialects::gormic::Refusal;
use paystate_domain::payment::{Adjustment, MissingAmount};
use paystate_domain::{
    Order, OrderState, Payment, PaymentCommand, PaymentId, PaymentPatch, PaymentStatus, PaymentType,
};

// --- the rules --------------------------------------------------------------------------------

/// An order and its live (not deleted) payments: what every rule of this dialect looks at.
pub struct Book<'a> {
    pub order: &'a Order,
    pub payments: &'a [Payment],
}

impl<'a> Book<'a> {
    pub fn new(order: &'a Order, payments: &'a [Payment]) -> Self {
        Book { order, payments }
    }

    /// A closed or canceled order takes no changes.
    pub fn open(&self) -> Result<(), Refusal> {
        match self.order.state {
            OrderState::Open => Ok(()),
            OrderState::Closed => Err(Refusal::order_closed()),
            OrderState::Canceled => Err(Refusal::order_canceled()),
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
                PaymentStatus::Paid => !booked(r),
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

    /// A refund of `amount` from `source` stays within what the receipt paid (LIMIT_REACHED).
    pub fn refund_fits(&self, source: &Payment, amount: i64, except: Option<&PaymentId>) -> Result<(), Refusal> {
        let available = self.refundable(source, except);
        let adjustable = amount == 0
            || source.allowed(&PaymentCommand::Adjust {
                kind: Adjustment::Refund,
                amount: Some(amount),
                missing: MissingAmount::Remaining,
            });
        if amount > available || !adjustable {
            let currency = self.order.currency;
            return Err(Refusal::limit_reached(format!(
                "a refund of {} exceeds the {} still refundable of payment {}",
                major(currency, amount),
                major(currency, available),
                source.id
            )));
        }
        Ok(())
    }

    /// Confirming (completing) `payment`, with the amount it has or is about to have.
    pub fn check_confirm(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        match payment.status {
            PaymentStatus::Paid => return Ok(()),
            PaymentStatus::Open | PaymentStatus::Pending | PaymentStatus::Authorized => {}
            _ => return Err(not_now(payment, "be confirmed")),
        }
        if !payment.allowed(&PaymentCommand::ReportStatus { status: PaymentStatus::Paid, paid_at: None }) {
            return Err(not_now(payment, "be confirmed"));
        }
        if payment.kind == PaymentType::Refund {
            let source = payment.source_payment_id.as_ref().and_then(|id| self.find(id));
            match source {
                Some(source) if source.kind == PaymentType::Receipt && source.status == PaymentStatus::Paid => {
                    self.refund_fits(source, payment.amount, Some(&payment.id))?;
                }
                _ => {
                    return Err(Refusal::invalid_status(
                        "the refund's source payment is not a completed receipt of the order",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reversing `payment` (a completed refund is final: its money is booked on its receipt).
    /// Reversing a reversed or voided payment again changes nothing.
    pub fn check_reverse(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        if is_reversed(payment) {
            return Ok(());
        }
        if payment.kind == PaymentType::Refund && payment.status == PaymentStatus::Paid {
            return Err(Refusal::invalid_status("a completed refund is final and cannot be reversed"));
        }
        let status = Status::Reversed.canonical_for(payment.status);
        if !payment.allowed(&PaymentCommand::ReportStatus { status, paid_at: None }) {
            return Err(not_now(payment, "be reversed"));
        }
        Ok(())
    }

    /// Moving `payment` back to pending or progress: only a payment that is not complete yet.
    pub fn check_pending(&self, payment: &Payment, target: Status) -> Result<(), Refusal> {
        self.open()?;
        match payment.status {
            PaymentStatus::Open | PaymentStatus::Pending => Ok(()),
            PaymentStatus::Authorized if target == Status::Progress => Ok(()),
            _ => Err(Refusal::invalid_status(format!(
                "a {} payment cannot become {}",
                Status::of(payment).as_str(),
                target.as_str()
            ))),
        }
    }

    pub fn check_delete(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        if is_reversed(payment) || !payment.allowed(&PaymentCommand::Delete) {
            return Err(not_now(payment, "be deleted"));
        }
        Ok(())
    }

    /// Changing fields without `correction`.
    pub fn check_update(&self, payment: &Payment) -> Result<(), Refusal> {
        self.open()?;
        let probe = PaymentPatch { custom: Some(!payment.custom), ..PaymentPatch::default() };
        if is_reversed(payment) || !payment.allowed(&PaymentCommand::Update(probe)) {
            return Err(Refusal::invalid_status(format!(
                "a {} payment changes only with correction: true",
                Status::of(payment).as_str()
            )));
        }
        Ok(())
    }

    /// The actions `payment` allows now, each one exactly when its check passes.
    pub fn can(&self, payment: &Payment) -> Vec<&'static str> {
        let mut can = Vec::new();
        if payment.status != PaymentStatus::Paid && self.check_confirm(payment).is_ok() {
            can.push("confirm");
        }
        if self.check_update(payment).is_ok() {
            can.push("update");
        }
        if self.check_delete(payment).is_ok() {
            can.push("delete");
        }
        if !is_reversed(payment) && self.check_reverse(payment).is_ok() {
            can.push("reverse");
        }
        if payment.kind == PaymentType::Receipt && self.open().is_ok() && self.refund_fits(payment, 1, None).is_ok() {
            can.push("refund");
        }
        can
    }
}

/// Reversed or voided (`reversed` through Gormic, before or after capture): final, like a
/// reversal in Gormic's own model.
pub fn is_reversed(payment: &Payment) -> bool {
    matches!(payment.status, PaymentStatus::Reversed | PaymentStatus::Canceled)
}

fn not_now(payment: &Payment, action: &str) -> Refusal {
    Refusal::invalid_status(format!("a {} payment cannot {action}", Status::of(payment).as_str()))
}
