//! A status report about the payment of an order, from a reporter that names the order only (a
//! back office that knows its own order reference, not paystate's payments): what the report
//! commands, which receipt it is about, and when a reported wall-clock time happened. The
//! ledger's `report_order_status` applies these rules; a dialect only translates into them.

use crate::payment::{Adjustment, MissingAmount};
use crate::{Payment, PaymentCommand, PaymentStatus, Timestamp};
use chrono::{NaiveDateTime, Offset, SubsecRound, TimeZone, Utc};

/// The time zones the rules place wall-clock times in (IANA names).
pub use chrono_tz::Tz;

/// What a report says of the payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportedStatus {
    /// The payment's status, run through the status machine.
    Status(PaymentStatus),
    /// Money that was paid went back (refund) or was pulled back (chargeback); only the fact is
    /// known, not the amount, and the status stays paid.
    Adjusted(Adjustment),
}

impl ReportedStatus {
    /// Whether the report is about money that was paid rather than about a status.
    pub fn is_adjustment(self) -> bool {
        matches!(self, Self::Adjusted(_))
    }

    /// The command of the canonical status machine this report is.
    pub fn command(self, paid_at: Option<Timestamp>) -> PaymentCommand {
        match self {
            Self::Status(status) => PaymentCommand::ReportStatus { status, paid_at },
            Self::Adjusted(kind) => PaymentCommand::Adjust { kind, amount: None, missing: MissingAmount::FlagOnly },
        }
    }
}

/// A time a report names: an exact instant, or a wall-clock time to be placed in the tenant's
/// zone (which is read only when it is needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportedTime {
    Exact(Timestamp),
    Local(NaiveDateTime),
}

impl ReportedTime {
    /// Whether [`ReportedTime::instant`] needs the tenant's zone.
    pub fn needs_zone(self) -> bool {
        matches!(self, Self::Local(_))
    }

    /// The instant, reading a wall-clock time in `zone`. A time that occurs twice (the hour the
    /// clocks go back) is the first occurrence; a time that does not exist (the hour the clocks
    /// go forward) is read with the offset in force before the gap, so it lands after the gap by
    /// as much as it lies inside it (RFC 9557's and Temporal's "compatible" choice). The result
    /// keeps microseconds, the precision paystate stores.
    pub fn instant(self, zone: Tz) -> Timestamp {
        let at = match self {
            Self::Exact(at) => at,
            Self::Local(local) => match zone.from_local_datetime(&local) {
                chrono::LocalResult::Single(at) => at.with_timezone(&Utc),
                chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                chrono::LocalResult::None => {
                    let before = zone.offset_from_utc_datetime(&(local - chrono::Duration::days(1))).fix();
                    (local - before).and_utc()
                }
            },
        };
        at.trunc_subsecs(6)
    }
}

/// The receipt a report is about, among an order's receipts: the newest one that is not
/// terminal, else the newest. An adjustment (refund, chargeback) is about money that was paid,
/// so it goes to the newest paid receipt when there is one. Ties on the creation time are broken
/// by the id, so that every reader chooses the same receipt.
pub fn target(receipts: &[Payment], adjustment: bool) -> Option<&Payment> {
    fn newest<'p>(payments: impl Iterator<Item = &'p Payment>) -> Option<&'p Payment> {
        payments.max_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())))
    }
    if adjustment && let Some(paid) = newest(receipts.iter().filter(|p| p.status == PaymentStatus::Paid)) {
        return Some(paid);
    }
    newest(receipts.iter().filter(|p| !p.status.is_terminal())).or_else(|| newest(receipts.iter()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::NewOrder;
    use crate::payment::NewPayment;
    use crate::{Actor, Currency, Order};

    fn receipts(statuses: &[PaymentStatus]) -> Vec<Payment> {
        let actor = Actor::cli(crate::TenantId::generate(), "test");
        let new = NewOrder {
            reference: "A-1".into(),
            currency: Currency::parse("EUR").unwrap(),
            total_amount: 0,
            customer: serde_json::Value::Null,
            attributes: serde_json::Value::Null,
        };
        let start = chrono::Utc::now();
        let order = Order::open(new, &actor, start).unwrap().0;
        let created = |index: usize| start + chrono::Duration::seconds(index as i64);
        (0..statuses.len())
            .map(|index| {
                let mut payment = Payment::create(&order, NewPayment::default(), &actor, created(index)).unwrap().0;
                payment.status = statuses[index];
                payment
            })
            .collect()
    }

    #[test]
    fn a_status_goes_to_the_newest_open_receipt_else_the_newest() {
        use PaymentStatus::*;
        let payments = receipts(&[Open, Pending, Failed]);
        assert_eq!(target(&payments, false).map(|p| &p.id), Some(&payments[1].id));
        // Paid is not terminal (money may still go back): it stays the one reports are about.
        let paid = receipts(&[Paid, Failed]);
        assert_eq!(target(&paid, false).map(|p| &p.id), Some(&paid[0].id));
        let settled = receipts(&[Failed, Canceled]);
        assert_eq!(target(&settled, false).map(|p| &p.id), Some(&settled[1].id));
        assert!(target(&[], false).is_none());
    }

    #[test]
    fn an_adjustment_goes_to_the_newest_paid_receipt_when_there_is_one() {
        use PaymentStatus::*;
        let payments = receipts(&[Paid, Paid, Open]);
        assert_eq!(target(&payments, true).map(|p| &p.id), Some(&payments[1].id));
        assert_eq!(target(&payments, false).map(|p| &p.id), Some(&payments[2].id));
        let unpaid = receipts(&[Open, Failed]);
        assert_eq!(target(&unpaid, true).map(|p| &p.id), Some(&unpaid[0].id));
    }

    #[test]
    fn reports_are_commands_of_the_status_machine() {
        assert_eq!(
            ReportedStatus::Status(PaymentStatus::Paid).command(None),
            PaymentCommand::ReportStatus { status: PaymentStatus::Paid, paid_at: None }
        );
        assert_eq!(
            ReportedStatus::Adjusted(Adjustment::Chargeback).command(None),
            PaymentCommand::Adjust { kind: Adjustment::Chargeback, amount: None, missing: MissingAmount::FlagOnly }
        );
        assert!(ReportedStatus::Adjusted(Adjustment::Refund).is_adjustment());
        assert!(!ReportedStatus::Status(PaymentStatus::Paid).is_adjustment());
    }

    #[test]
    fn wall_clock_times_are_placed_in_the_zone() {
        let at = |text: &str| {
            let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
            ReportedTime::Local(local).instant(Tz::Europe__Brussels).to_rfc3339()
        };
        // Winter (UTC+1) and summer (UTC+2).
        assert_eq!(at("2020-11-25 14:30:00"), "2020-11-25T13:30:00+00:00");
        assert_eq!(at("2021-07-01 14:30:00"), "2021-07-01T12:30:00+00:00");
        // The clocks go back on 2025-10-26 at 03:00 CEST: 02:30 happens twice; the first counts.
        assert_eq!(at("2025-10-26 02:30:00"), "2025-10-26T00:30:00+00:00");
        // The clocks go forward on 2025-03-30 at 02:00 CET: 02:30 does not exist; read as 03:30 CEST.
        assert_eq!(at("2025-03-30 02:30:00"), "2025-03-30T01:30:00+00:00");
        assert_eq!(at("2025-03-30 03:30:00"), "2025-03-30T01:30:00+00:00");
        // Microseconds are kept, nanoseconds are not.
        assert_eq!(at("2021-07-01 14:30:00.1234567"), "2021-07-01T12:30:00.123456+00:00");
        let exact = ReportedTime::Exact("2021-07-01T14:30:00.1234567Z".parse().unwrap());
        assert!(!exact.needs_zone());
        assert_eq!(exact.instant(Tz::Asia__Tokyo).to_rfc3339(), "2021-07-01T14:30:00.123456+00:00");
    }
}
