//! What a reported payment state means for a payment paystate holds: the plan of a checkout's
//! report, in canonical terms.
//!
//! A checkout (Norce's, for one) does not send commands: it sends the whole state of a payment as
//! its shopper sees it, late, twice and out of order like any provider. This module decides what
//! such a report does to a payment in a given status (move it forward in steps, record it as stale
//! or as a conflict, or nothing), so that every surface that reads reported states reads them alike.
//! The vendor's own words for the states stay in its dialect, which maps them to [`ReportedState`].

use crate::payment::{Adjustment, MissingAmount};
use crate::status::{Transition, judge};
use crate::{Payment, PaymentCommand, PaymentStatus};

/// A payment state as a checkout reports it, in canonical terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportedState {
    /// A status of the canonical machine.
    Status(PaymentStatus),
    /// The payment was paid, then everything paid went back (Norce's `credited`).
    Refunded,
}

/// One change a report makes to a payment's status, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Report a canonical status to the machine.
    Report(PaymentStatus),
    /// Refund all that remains of a paid payment.
    RefundAll,
}

/// What a report does to a payment in a given status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The report agrees with paystate or moves the payment forward: the order and payment fields
    /// it carries are kept, then these steps run.
    Proceed(Vec<Step>),
    /// An earlier state delivered late: recorded as stale by the machine, nothing else changes.
    Stale(PaymentStatus),
    /// Paid for a payment paystate knows is refunded in full: late, nothing changes.
    Behind,
    /// Contradicts a settled status: recorded, flagged for review, nothing else changes.
    Conflict(Step),
}

impl Payment {
    /// A paid payment whose whole amount went back through refunds.
    pub fn refunded_in_full(&self) -> bool {
        self.has_refunds && self.remaining() == 0
    }
}

impl ReportedState {
    /// Whether this report says what a payment in `current` already shows: nothing to do.
    pub fn describes(self, current: PaymentStatus, refunded_in_full: bool) -> bool {
        use PaymentStatus::*;
        match self {
            Self::Refunded => current == Reversed || (current == Paid && refunded_in_full),
            Self::Status(Paid) => current == Paid && !refunded_in_full,
            // A checkout has no word for expiry: it shows an expired payment as failed, the same news.
            Self::Status(Failed) => matches!(current, Failed | Expired),
            Self::Status(status) => status == current,
        }
    }

    /// The steps of a report about a payment paystate does not hold yet. Such a payment is open,
    /// and every state is the same or later: it is never stale nor a conflict.
    pub fn first_steps(self) -> Vec<Step> {
        match self {
            Self::Status(PaymentStatus::Open) => vec![],
            Self::Status(status) => vec![Step::Report(status)],
            Self::Refunded => vec![Step::Report(PaymentStatus::Paid), Step::RefundAll],
        }
    }
}

/// Decides what a report of `reported` does to a payment in `current`.
pub fn plan(current: PaymentStatus, refunded_in_full: bool, reported: ReportedState) -> Plan {
    if reported.describes(current, refunded_in_full) {
        return Plan::Proceed(vec![]);
    }
    match reported {
        ReportedState::Status(status) => match judge(current, status) {
            Transition::Advance => Plan::Proceed(vec![Step::Report(status)]),
            // Only paid for a payment refunded in full gets here: the status is the same, the news old.
            Transition::Same => Plan::Behind,
            Transition::Stale => Plan::Stale(status),
            Transition::Conflict => Plan::Conflict(Step::Report(status)),
        },
        // A refund says the payment was paid first: what paystate missed of it is caught up.
        ReportedState::Refunded if current.precedes(PaymentStatus::Paid) => {
            Plan::Proceed(vec![Step::Report(PaymentStatus::Paid), Step::RefundAll])
        }
        ReportedState::Refunded if current == PaymentStatus::Paid => Plan::Proceed(vec![Step::RefundAll]),
        ReportedState::Refunded => Plan::Conflict(Step::RefundAll),
    }
}

impl Step {
    /// The command that takes this step on `payment`.
    pub fn command(self, payment: &Payment) -> PaymentCommand {
        match self {
            Step::Report(status) => PaymentCommand::ReportStatus { status, paid_at: None },
            // A payment of nothing has nothing left to refund: the refund is then a fact to record.
            Step::RefundAll => PaymentCommand::Adjust {
                kind: Adjustment::Refund,
                amount: None,
                missing: if payment.remaining() > 0 { MissingAmount::Remaining } else { MissingAmount::FlagOnly },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReportedState::{Refunded, Status};
    use super::Step::{RefundAll, Report};
    use super::*;
    use PaymentStatus as S;

    #[test]
    fn plans() {
        assert_eq!(plan(S::Open, false, Status(S::Open)), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Open, false, Status(S::Authorized)), Plan::Proceed(vec![Report(S::Authorized)]));
        assert_eq!(plan(S::Authorized, false, Refunded), Plan::Proceed(vec![Report(S::Paid), RefundAll]));
        assert_eq!(plan(S::Paid, false, Refunded), Plan::Proceed(vec![RefundAll]));
        assert_eq!(plan(S::Paid, true, Refunded), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Paid, true, Status(S::Paid)), Plan::Behind);
        assert_eq!(plan(S::Paid, false, Status(S::Authorized)), Plan::Stale(S::Authorized));
        assert_eq!(plan(S::Reversed, false, Status(S::Paid)), Plan::Stale(S::Paid));
        assert_eq!(plan(S::Reversed, false, Refunded), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Paid, false, Status(S::Failed)), Plan::Conflict(Report(S::Failed)));
        assert_eq!(plan(S::Canceled, false, Refunded), Plan::Conflict(RefundAll));
        // What a checkout shows for an expired payment does not come back as a conflict.
        assert_eq!(plan(S::Expired, false, Status(S::Failed)), Plan::Proceed(vec![]));
        assert_eq!(plan(S::Expired, false, Status(S::Paid)), Plan::Conflict(Report(S::Paid)));
    }

    #[test]
    fn a_payment_not_held_yet_only_moves_forward() {
        let every = S::ALL.into_iter().map(Status).chain([Refunded]);
        for reported in every {
            assert_eq!(plan(S::Open, false, reported), Plan::Proceed(reported.first_steps()), "{reported:?}");
        }
    }
}
