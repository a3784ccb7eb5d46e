//! The checkout use case's result in Norce's words: the JSON Patch answer, pure.
//!
//! The answer brings the checkout's order in line with what paystate knows of the payment: its
//! state when paystate holds another one, and the PSP reference when paystate has one and the
//! order has none. Every path exists in the order that was sent (`payments/{i}` is the entry the
//! hook is about), or is an `add` of a member to that entry.

use super::parse::SentPayment;
use super::wire::{NorcePatchOperation, NorcePaymentState};
use paystate_domain::{Payment, PaymentStatus};
use serde_json::json;

impl NorcePaymentState {
    /// The state Norce would show for what paystate knows of a payment. Norce has no word for
    /// an expired payment (written `failed`) nor for a reversal (money went back: `credited`).
    pub fn of_status(status: PaymentStatus, refunded_in_full: bool) -> Self {
        match status {
            PaymentStatus::Open => Self::Intent,
            PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Reserved,
            PaymentStatus::Paid if refunded_in_full => Self::Credited,
            PaymentStatus::Paid => Self::Captured,
            PaymentStatus::Failed | PaymentStatus::Expired => Self::Failed,
            PaymentStatus::Canceled => Self::Removed,
            PaymentStatus::Reversed => Self::Credited,
        }
    }

    pub fn of(payment: &Payment) -> Self {
        Self::of_status(payment.status, payment.refunded_in_full())
    }

    /// Two states that say the same thing to paystate (`processing` and `pending`).
    pub fn agrees_with(self, other: Self) -> bool {
        self.reported() == other.reported()
    }

    /// This state in the casing of `sent` (`Captured` after `Reserved`, `CAPTURED` after `RESERVED`).
    pub fn written_like(self, sent: &str) -> String {
        let word = self.as_str();
        let letters: Vec<char> = sent.chars().filter(|c| c.is_alphabetic()).collect();
        if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
            word.to_ascii_uppercase()
        } else if sent.chars().next().is_some_and(char::is_uppercase) {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        } else {
            word.to_owned()
        }
    }
}

/// The JSON Patch that brings the checkout's order in line with `payment` as paystate holds it.
pub fn answer(sent: &SentPayment, payment: &Payment) -> Vec<NorcePatchOperation> {
    let mut operations = Vec::new();
    let entry = format!("/payments/{}", sent.index);
    let ours = NorcePaymentState::of(payment);
    if !ours.agrees_with(sent.state) {
        operations.push(NorcePatchOperation {
            op: "replace".into(),
            path: format!("{entry}/state"),
            value: json!(ours.written_like(&sent.state_text)),
        });
    }
    if let Some(reference) = &payment.transaction_ref
        && !sent.has_reference
    {
        operations.push(NorcePatchOperation {
            op: if sent.reference_member { "replace" } else { "add" }.into(),
            path: format!("{entry}/reference"),
            value: json!(reference),
        });
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::NorcePaymentState::*;
    use super::*;
    use PaymentStatus as S;
    use paystate_domain::payment::reported::{Plan, ReportedState, Step, plan};

    #[test]
    fn states_read_case_insensitively_and_write_back_in_the_senders_casing() {
        assert_eq!(NorcePaymentState::parse("Intent"), Some(Intent));
        assert_eq!(NorcePaymentState::parse("CAPTURED"), Some(Captured));
        assert_eq!(NorcePaymentState::parse("Refunded"), Some(Refunded));
        assert_eq!(NorcePaymentState::parse("paid"), None);
        assert_eq!(Captured.written_like("Reserved"), "Captured");
        assert_eq!(Captured.written_like("RESERVED"), "CAPTURED");
        assert_eq!(Captured.written_like("reserved"), "captured");
        assert_eq!(Intent.written_like("x"), "intent");
    }

    #[test]
    fn every_state_maps_to_the_canonical_machine_and_back() {
        let table = [
            (Intent, S::Open),
            (Processing, S::Pending),
            (Pending, S::Pending),
            (Confirmed, S::Authorized),
            (Reserved, S::Authorized),
            (Captured, S::Paid),
            (Declined, S::Failed),
            (Failed, S::Failed),
            (Removed, S::Canceled),
            (Cancelled, S::Canceled),
        ];
        for (state, status) in table {
            assert_eq!(state.reported(), ReportedState::Status(status), "{state:?}");
            assert!(NorcePaymentState::of_status(status, false).agrees_with(state), "{state:?}");
        }
        assert_eq!(Credited.reported(), ReportedState::Refunded);
        assert_eq!(Refunded.reported(), ReportedState::Refunded);
        assert!(Refunded.agrees_with(Credited) && Cancelled.agrees_with(Removed));
        assert!(!Captured.agrees_with(Credited) && !Intent.agrees_with(Pending));
        assert_eq!(NorcePaymentState::of_status(S::Paid, true), Credited);
        assert_eq!(NorcePaymentState::of_status(S::Reversed, false), Credited);
        assert_eq!(NorcePaymentState::of_status(S::Expired, false), Failed);
    }

    /// The domain's plan, read through Norce's states: what Norce shows for a payment is what
    /// the domain says describes it, so paystate's own answer never comes back as news.
    #[test]
    fn plans_in_norces_words() {
        let norce = |status, refunded, state: NorcePaymentState| plan(status, refunded, state.reported());
        use Step::*;
        assert_eq!(norce(S::Open, false, Intent), Plan::Proceed(vec![]));
        assert_eq!(norce(S::Open, false, Reserved), Plan::Proceed(vec![Report(S::Authorized)]));
        assert_eq!(norce(S::Authorized, false, Credited), Plan::Proceed(vec![Report(S::Paid), RefundAll]));
        assert_eq!(norce(S::Paid, false, Credited), Plan::Proceed(vec![RefundAll]));
        assert_eq!(norce(S::Paid, true, Credited), Plan::Proceed(vec![]));
        assert_eq!(norce(S::Paid, true, Captured), Plan::Behind);
        assert_eq!(norce(S::Paid, false, Reserved), Plan::Stale(S::Authorized));
        assert_eq!(norce(S::Reversed, false, Captured), Plan::Stale(S::Paid));
        assert_eq!(norce(S::Reversed, false, Credited), Plan::Proceed(vec![]));
        assert_eq!(norce(S::Paid, false, Failed), Plan::Conflict(Report(S::Failed)));
        assert_eq!(norce(S::Canceled, false, Credited), Plan::Conflict(RefundAll));
        // What paystate writes back for an expired payment does not come back as a conflict.
        assert_eq!(norce(S::Expired, false, Failed), Plan::Proceed(vec![]));
        assert_eq!(norce(S::Expired, false, Captured), Plan::Conflict(Report(S::Paid)));
        for status in S::ALL {
            for refunded in [false, true] {
                let shown = NorcePaymentState::of_status(status, refunded);
                assert_eq!(norce(status, refunded, shown), Plan::Proceed(vec![]), "{status} {refunded}");
            }
        }
    }
}
