//! Gormic's wire format and its translation: the status vocabulary, the reserved `attrs` member and
//! amounts (here); the `{"params": …}` bodies read strictly into typed requests ([`parse`]); the
//! rules that decide what an action may do ([`rules`]: the same functions answer `can` and refuse
//! requests, so `can` never offers an action that fails); and the items and payment methods
//! answered inside the envelope, with the documentation of every body ([`wire`]).

mod parse;
mod rules;
mod wire;

pub use parse::*;
pub use rules::*;
pub use wire::*;

use super::Refusal;
use paystate_domain::{Currency, DomainError, Payment, PaymentStatus};
use serde_json::{Map, Number, Value};

/// The member of a payment's `attrs` where this dialect keeps what has no canonical field:
/// `customerUid`, `progress` (true while a pending payment is Gormic's "progress") and `booked`
/// (true once a completed refund's amount is booked on its source receipt's `amount_refunded`).
/// Gormic's `attrs` never show it, and Gormic callers may not write it.
pub const RESERVED: &str = "_gormic";

/// Longest free text (transactionRef, invoiceId, note), as the domain allows.
const TEXT_MAX: usize = 2000;
/// Longest id or reference (orderId, methodId, customerUid…).
const ID_MAX: usize = 200;
/// What a number in `type` or `status` is told: an older revision of Gormic's documentation
/// showed them as integers (`"type": 1, "status": 1`), which name nothing paystate can map.
const NOT_CODES: &str = " (a string; the numeric codes of an older Gormic revision are not accepted)";

// --- statuses -------------------------------------------------------------------------------

/// Gormic's payment statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Complete,
    Pending,
    Progress,
    Reversed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Pending => "pending",
            Self::Progress => "progress",
            Self::Reversed => "reversed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Complete, Self::Pending, Self::Progress, Self::Reversed].into_iter().find(|s| s.as_str() == text)
    }

    /// The canonical status a Gormic status stands for.
    /// The canonical status this Gormic status reports for a payment now `current`. `reversed`
    /// of a payment never paid is a void, canonically `canceled`, so that a capture reported
    /// after it is a conflict (`canceled` then `paid`), not a stale report (`reversed` lies above
    /// `paid` in the lattice); a reversal of a paid payment stays `reversed`.
    pub fn canonical_for(self, current: PaymentStatus) -> PaymentStatus {
        match self {
            Self::Complete => PaymentStatus::Paid,
            Self::Pending | Self::Progress => PaymentStatus::Pending,
            Self::Reversed if matches!(current, PaymentStatus::Paid | PaymentStatus::Reversed) => {
                PaymentStatus::Reversed
            }
            Self::Reversed => PaymentStatus::Canceled,
        }
    }

    /// How a canonical payment reads in Gormic (payments of other APIs may hold statuses Gormic
    /// has no word for: open reads pending, authorized progress, and the failed, expired and
    /// canceled ones, which never became money, read reversed).
    pub fn of(payment: &Payment) -> Self {
        match payment.status {
            PaymentStatus::Pending if reserved_flag(payment, "progress") => Self::Progress,
            status => Self::of_canonical(status),
        }
    }

    /// A canonical status in Gormic's words, when the payment itself is not at hand.
    pub fn of_canonical(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Open | PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Authorized => Self::Progress,
            PaymentStatus::Paid => Self::Complete,
            PaymentStatus::Reversed | PaymentStatus::Failed | PaymentStatus::Expired | PaymentStatus::Canceled => {
                Self::Reversed
            }
        }
    }
}

// --- the reserved attrs member ------------------------------------------------------------

/// What this dialect keeps in `attrs._gormic`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reserved {
    pub customer_uid: Option<String>,
    pub progress: bool,
    pub booked: bool,
}

impl Reserved {
    pub fn of(payment: &Payment) -> Self {
        let member = payment.attrs.get(RESERVED);
        Reserved {
            customer_uid: member.and_then(|m| m.get("customerUid")).and_then(Value::as_str).map(str::to_owned),
            progress: reserved_flag(payment, "progress"),
            booked: reserved_flag(payment, "booked"),
        }
    }

    fn to_value(&self) -> Option<Value> {
        let mut member = Map::new();
        if let Some(customer) = &self.customer_uid {
            member.insert("customerUid".into(), customer.clone().into());
        }
        if self.progress {
            member.insert("progress".into(), true.into());
        }
        if self.booked {
            member.insert("booked".into(), true.into());
        }
        (!member.is_empty()).then_some(Value::Object(member))
    }
}

fn reserved_flag(payment: &Payment, flag: &str) -> bool {
    payment.attrs.get(RESERVED).and_then(|m| m.get(flag)).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether a completed refund's amount is already booked on its source receipt.
pub fn booked(payment: &Payment) -> bool {
    reserved_flag(payment, "booked")
}

/// The `attrs` a Gormic caller sees: the stored ones without the reserved member.
pub fn client_attrs(payment: &Payment) -> Map<String, Value> {
    let mut attrs = payment.attrs.as_object().cloned().unwrap_or_default();
    attrs.remove(RESERVED);
    attrs
}

/// The `attrs` to store: the caller's, plus the reserved member when it holds anything.
pub fn stored_attrs(mut client: Map<String, Value>, reserved: &Reserved) -> Value {
    client.remove(RESERVED);
    if let Some(member) = reserved.to_value() {
        client.insert(RESERVED.into(), member);
    }
    Value::Object(client)
}

/// A refusal of a member of `params`, named in the message.
fn bad(field: &str, message: impl Into<String>) -> Refusal {
    Refusal::invalid(&format!("params.{field}"), message)
}

// --- amounts ----------------------------------------------------------------------------------

/// An amount as sent: a JSON number or a decimal string, in major units of the order's currency.
#[derive(Clone, Debug, PartialEq)]
pub enum Amount {
    Number(Number),
    Text(String),
}

impl Amount {
    /// Minor units of `currency`, exactly; zero, negative, malformed, too precise or too large
    /// amounts are refused.
    pub fn minor(&self, currency: Currency) -> Result<i64, Refusal> {
        let converted = match self {
            // The number's own text (serde_json keeps it, `arbitrary_precision`): never a double.
            Amount::Number(number) => currency.minor_from_json_number(&number.to_string()),
            Amount::Text(text) => currency.minor_from_decimal_str(text),
        };
        let minor = converted.map_err(|error| match error {
            DomainError::TooManyDecimals { currency, exponent } => {
                bad("amount", format!("{currency} has {exponent} decimals; the amount has more"))
            }
            DomainError::AmountOutOfRange => bad("amount", "is too large"),
            _ => bad("amount", "must be a positive decimal number"),
        })?;
        if minor == 0 {
            return Err(bad("amount", "must be greater than zero"));
        }
        Ok(minor)
    }
}

/// Minor units as the JSON number Gormic shows (1250 EUR cents is 12.5, 1000 is 10), written
/// from its exact decimal text.
pub fn major(currency: Currency, minor: i64) -> Number {
    currency.major_text(minor).parse().unwrap_or_else(|_| Number::from(0))
}

#[cfg(test)]
mod tests {

    /// Every Gormic status, reported in every canonical status, moves along the lattice: and a
    /// capture after a void of an unpaid payment is a conflict, never stale.
    #[test]
    fn the_status_mapping_respects_the_lattice() {
        use paystate_domain::Transition;
        use paystate_domain::status::judge;
        let gormic = [Status::Complete, Status::Pending, Status::Progress, Status::Reversed];
        for current in PaymentStatus::ALL {
            for status in gormic {
                let reported = status.canonical_for(current);
                if status == Status::Reversed && current.precedes(PaymentStatus::Paid) {
                    assert_eq!(reported, PaymentStatus::Canceled, "a void of a {current} payment");
                    assert_eq!(judge(reported, Status::Complete.canonical_for(reported)), Transition::Conflict);
                    assert_eq!(judge(reported, Status::Reversed.canonical_for(reported)), Transition::Same);
                }
                if status == Status::Reversed && matches!(current, PaymentStatus::Paid | PaymentStatus::Reversed) {
                    assert_eq!(reported, PaymentStatus::Reversed, "a reversal of a {current} payment");
                }
            }
        }
    }

    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn amounts_convert_exactly_or_are_refused() {
        let number = |text: &str| Amount::Number(serde_json::from_str(text).unwrap());
        assert_eq!(number("12.5").minor(eur()), Ok(1250));
        assert_eq!(number("1").minor(eur()), Ok(100));
        assert_eq!(number("199.95").minor(eur()), Ok(19995));
        assert_eq!(Amount::Text("0.01".into()).minor(eur()), Ok(1));
        for refused in ["0", "-1", "-0.5", "1.005", "1e300", "0.30000000000000004"] {
            assert!(number(refused).minor(eur()).is_err(), "{refused}");
        }
        for refused in ["", "abc", "-1", "1,5", "1.001", "0.00", "1e3"] {
            assert!(Amount::Text(refused.into()).minor(eur()).is_err(), "{refused:?}");
        }
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(number("1200").minor(yen), Ok(1200));
        assert!(number("1.5").minor(yen).is_err());
    }

    #[test]
    fn amounts_are_shown_as_plain_numbers() {
        assert_eq!(serde_json::to_string(&major(eur(), 1250)).unwrap(), "12.5");
        assert_eq!(serde_json::to_string(&major(eur(), 1000)).unwrap(), "10");
        assert_eq!(serde_json::to_string(&major(eur(), 1)).unwrap(), "0.01");
        assert_eq!(serde_json::to_string(&major(eur(), 19995)).unwrap(), "199.95");
    }

    #[test]
    fn statuses_round_trip() {
        for status in [Status::Complete, Status::Pending, Status::Progress, Status::Reversed] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("COMPLETE"), None);
    }
}
