//! The canonical payment status machine: a monotone lattice.
//!
//! Providers deliver updates late, twice and out of order, so a report is judged against the
//! current status by the partial order
//! `open < pending < authorized < {paid, failed, expired, canceled}` and `paid < reversed`:
//! a later status is applied, the same one is a no-op, an earlier one is stale, and one that is
//! neither earlier nor later (paid after canceled) is a conflict. No report ever moves a payment back.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Open,
    Pending,
    Authorized,
    Paid,
    Failed,
    Expired,
    Canceled,
    Reversed,
}

/// How a reported status relates to the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A forward move: apply it.
    Advance,
    /// The status the payment already has: nothing changes.
    Same,
    /// An earlier status, delivered late: acknowledged and recorded, nothing changes.
    Stale,
    /// Contradicts the current status (neither earlier nor later): not applied, needs review.
    Conflict,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 8] = [
        Self::Open,
        Self::Pending,
        Self::Authorized,
        Self::Paid,
        Self::Failed,
        Self::Expired,
        Self::Canceled,
        Self::Reversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Canceled => "canceled",
            Self::Reversed => "reversed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// True when `self` lies strictly below `other` in the lattice.
    pub fn precedes(self, other: PaymentStatus) -> bool {
        use PaymentStatus::*;
        match other {
            Open => false,
            Pending => self == Open,
            Authorized => matches!(self, Open | Pending),
            Paid | Failed | Expired | Canceled => matches!(self, Open | Pending | Authorized),
            Reversed => matches!(self, Open | Pending | Authorized | Paid),
        }
    }

    /// True when no status lies above this one except through a conflict: the payment is settled.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Expired | Self::Canceled | Self::Reversed)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status machine: judges a reported status against the current one. Pure and total.
pub fn judge(current: PaymentStatus, reported: PaymentStatus) -> Transition {
    if reported == current {
        Transition::Same
    } else if current.precedes(reported) {
        Transition::Advance
    } else if reported.precedes(current) {
        Transition::Stale
    } else {
        Transition::Conflict
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus::*;
    use super::*;
    use proptest::prelude::*;

    /// The whole table, written out by hand: every (current, reported) pair.
    #[test]
    fn every_pair() {
        use Transition::*;
        let table: [(PaymentStatus, [Transition; 8]); 8] = [
            //            open     pending  authorized paid      failed    expired   canceled  reversed
            (Open, [Same, Advance, Advance, Advance, Advance, Advance, Advance, Advance]),
            (Pending, [Stale, Same, Advance, Advance, Advance, Advance, Advance, Advance]),
            (Authorized, [Stale, Stale, Same, Advance, Advance, Advance, Advance, Advance]),
            (Paid, [Stale, Stale, Stale, Same, Conflict, Conflict, Conflict, Advance]),
            (Failed, [Stale, Stale, Stale, Conflict, Same, Conflict, Conflict, Conflict]),
            (Expired, [Stale, Stale, Stale, Conflict, Conflict, Same, Conflict, Conflict]),
            (Canceled, [Stale, Stale, Stale, Conflict, Conflict, Conflict, Same, Conflict]),
            (Reversed, [Stale, Stale, Stale, Stale, Conflict, Conflict, Conflict, Same]),
        ];
        for (current, row) in table {
            for (reported, expected) in PaymentStatus::ALL.into_iter().zip(row) {
                assert_eq!(judge(current, reported), expected, "{current} then {reported}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{status}\""));
        }
        assert_eq!(PaymentStatus::parse("PAID"), None);
    }

    #[test]
    fn precedes_is_a_strict_partial_order() {
        for a in PaymentStatus::ALL {
            assert!(!a.precedes(a));
            for b in PaymentStatus::ALL {
                assert!(!(a.precedes(b) && b.precedes(a)));
                for c in PaymentStatus::ALL {
                    if a.precedes(b) && b.precedes(c) {
                        assert!(a.precedes(c), "{a} < {b} < {c}");
                    }
                }
            }
        }
    }

    fn any_status() -> impl Strategy<Value = PaymentStatus> {
        proptest::sample::select(PaymentStatus::ALL.to_vec())
    }

    /// Folds reports the way the ledger does: only an advance changes the status.
    fn fold(start: PaymentStatus, reports: &[PaymentStatus]) -> PaymentStatus {
        reports.iter().fold(start, |current, &reported| match judge(current, reported) {
            Transition::Advance => reported,
            _ => current,
        })
    }

    /// A chain of the lattice (a monotone sequence of statuses), from a random walk upwards.
    fn any_chain() -> impl Strategy<Value = Vec<PaymentStatus>> {
        proptest::collection::vec(any_status(), 0..12).prop_map(|candidates| {
            let mut chain: Vec<PaymentStatus> = Vec::new();
            for s in candidates {
                if chain.last().is_none_or(|&top| top.precedes(s)) {
                    chain.push(s);
                }
            }
            chain
        })
    }

    proptest! {
        #[test]
        fn no_sequence_of_reports_moves_a_payment_backwards(reports in proptest::collection::vec(any_status(), 0..40)) {
            let mut current = Open;
            for reported in reports {
                let next = fold(current, &[reported]);
                prop_assert!(next == current || current.precedes(next), "{current} -> {next}");
                current = next;
            }
        }

        #[test]
        fn any_permutation_of_a_monotone_sequence_ends_in_the_same_state(
            (chain, shuffled) in any_chain().prop_flat_map(|chain| {
                let shuffled = Just(chain.clone()).prop_shuffle();
                (Just(chain), shuffled)
            }),
            duplicates in proptest::collection::vec(0usize..12, 0..6),
        ) {
            // Providers also deliver twice: repeat some reports of the shuffled sequence.
            let mut delivered = shuffled.clone();
            for index in duplicates {
                if let Some(&repeat) = shuffled.get(index % shuffled.len().max(1)) {
                    delivered.push(repeat);
                }
            }
            prop_assert_eq!(fold(Open, &delivered), fold(Open, &chain));
            prop_assert_eq!(fold(Open, &chain), chain.last().copied().unwrap_or(Open));
        }

        #[test]
        fn a_status_once_reached_is_never_left_except_forward(reports in proptest::collection::vec(any_status(), 1..40)) {
            let mut seen = vec![Open];
            let mut current = Open;
            for reported in reports {
                current = fold(current, &[reported]);
                seen.push(current);
            }
            for earlier in &seen {
                prop_assert!(*earlier == current || earlier.precedes(current));
            }
        }
    }
}
