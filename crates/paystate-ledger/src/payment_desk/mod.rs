//! The payment desk: create, update, confirm and delete a payment of an order, with the order
//! book's checks (the per-receipt refund cap among them), as a shop or point of sale does.
//!
//! Each request is one transaction (`transact`, retried on version conflicts). It locks the order
//! first and then the payments it reads, so that requests on one order serialize (two refunds can
//! never both take the last of a receipt) and always take their locks in the same order. Every
//! rule is checked before the first write, and a refusal rolls the whole transaction back
//! regardless. Status changes go through [`crate::apply`], i.e. the canonical status machine, so
//! every change is an event of the audit trail. A refund that becomes paid here is booked on its
//! receipt's `amount_refunded` and marked so ([`Marks::booked`]).
//!
//! [`Marks::booked`]: paystate_domain::order_book::Marks

mod requests;
mod steps;

use crate::Ledger;
use crate::transact::{Retry, Stop, transact};
use paystate_domain::order_book::{BookError, Target};
use paystate_domain::{
    Actor, Currency, DomainError, Order, OrderId, Outcome, Payment, PaymentId, PaymentMethod, PaymentStatus,
    PaymentType,
};
use paystate_store::StoreError;
use serde_json::{Map, Value};

// --- inputs ---------------------------------------------------------------------------------

/// A field of a change: absent, explicitly cleared (`null`), or given.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    /// The value, treating `null` like an absent field.
    pub fn value(self) -> Option<T> {
        match self {
            Field::Set(value) => Some(value),
            Field::Absent | Field::Null => None,
        }
    }

    /// As a patch: `None` leaves the field, `Some(None)` clears it.
    pub fn patch(self) -> Option<Option<T>> {
        match self {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Set(value) => Some(Some(value)),
        }
    }
}

/// An amount in major units of the order's currency, as its text was sent: converted once the
/// order (and so the currency) is known.
#[derive(Clone, Debug, PartialEq)]
pub enum MajorAmount {
    /// A JSON number's own text (`12.5`, `1.5e2`).
    Number(String),
    /// A decimal string (`"12.50"`).
    Decimal(String),
}

/// Why an amount is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{currency} has {exponent} decimals; the amount has more")]
    TooPrecise { currency: String, exponent: u32 },
    #[error("is too large")]
    TooLarge,
    #[error("must be a positive decimal number")]
    Malformed,
    #[error("must be greater than zero")]
    Zero,
}

impl MajorAmount {
    /// Minor units of `currency`, exactly; zero, negative, malformed, too precise or too large
    /// amounts are refused.
    pub fn minor(&self, currency: Currency) -> Result<i64, AmountError> {
        let converted = match self {
            MajorAmount::Number(text) => currency.minor_from_json_number(text),
            MajorAmount::Decimal(text) => currency.minor_from_decimal_str(text),
        };
        let minor = converted.map_err(|error| match error {
            DomainError::TooManyDecimals { currency, exponent } => AmountError::TooPrecise { currency, exponent },
            DomainError::AmountOutOfRange => AmountError::TooLarge,
            _ => AmountError::Malformed,
        })?;
        if minor == 0 {
            return Err(AmountError::Zero);
        }
        Ok(minor)
    }
}

/// A new payment of an order.
#[derive(Clone, Debug)]
pub struct DeskPayment {
    /// The order's id or reference.
    pub order: String,
    pub kind: PaymentType,
    /// The status the new payment reaches.
    pub target: Target,
    pub amount: MajorAmount,
    /// A visible payment method: its id or its code.
    pub method: Option<String>,
    /// For a refund: its completed receipt of the same order (id or external id).
    pub source: Option<String>,
    pub customer_uid: Option<String>,
    pub transaction_ref: Option<String>,
    pub invoice_id: Option<String>,
    pub note: Option<String>,
    pub attrs: Map<String, Value>,
    pub custom: bool,
}

/// A change of a payment's fields and, optionally, its status.
#[derive(Clone, Debug, Default)]
pub struct DeskChange {
    /// Must name the payment changed (id or external id) when given.
    pub id: Option<String>,
    /// Must name the payment's order (id or reference) when given.
    pub order: Option<String>,
    pub amount: Option<MajorAmount>,
    pub method: Field<String>,
    pub custom: Option<bool>,
    /// Required to change a complete (or reversed) payment.
    pub correction: bool,
    pub customer_uid: Field<String>,
    pub target: Option<Target>,
    /// A refund's source cannot change; when given it must be the one the payment has.
    pub source: Option<String>,
    pub transaction_ref: Field<String>,
    pub invoice_id: Field<String>,
    pub note: Field<String>,
    pub attrs: Field<Map<String, Value>>,
}

// --- outcomes -------------------------------------------------------------------------------

/// A status report the use case made, for the caller to count once it is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReport {
    pub outcome: Outcome,
    pub status: PaymentStatus,
}

/// A payment created.
#[derive(Clone, Debug)]
pub struct DeskCreated {
    pub id: PaymentId,
    pub reports: Vec<StatusReport>,
}

/// An order and its live payments after a change, with the tenant's methods they use.
#[derive(Clone, Debug)]
pub struct DeskBook {
    pub order: Order,
    pub payments: Vec<Payment>,
    pub methods: Vec<PaymentMethod>,
    pub reports: Vec<StatusReport>,
}

/// Why the payment desk refuses a request.
#[derive(Debug, thiserror::Error)]
pub enum PaymentDeskError {
    #[error("no such order")]
    OrderNotFound,
    #[error("no such payment")]
    PaymentNotFound,
    /// A field of the request (in domain terms: `source_payment_id`, `payment_id`, `order_id`).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: &'static str },
    #[error("amount: {0}")]
    Amount(#[from] AmountError),
    /// No visible payment method has this id or code.
    #[error("{0:?} is not a visible payment method")]
    MethodNotFound(String),
    #[error(transparent)]
    Rule(#[from] BookError),
    /// The payment's external id moved to a payment of another order meanwhile: try again.
    #[error("the payment moved to another order meanwhile")]
    Moved,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PaymentDeskError> for Stop<PaymentDeskError> {
    fn from(error: PaymentDeskError) -> Self {
        Stop::Refused(error)
    }
}

impl From<BookError> for Stop<PaymentDeskError> {
    fn from(error: BookError) -> Self {
        Stop::Refused(error.into())
    }
}

impl From<AmountError> for Stop<PaymentDeskError> {
    fn from(error: AmountError) -> Self {
        Stop::Refused(error.into())
    }
}

fn invalid(field: &'static str, message: &'static str) -> PaymentDeskError {
    PaymentDeskError::Invalid { field, message }
}

// --- the use case -----------------------------------------------------------------------------

impl Ledger {
    /// Creates a payment (a receipt, or a refund of a completed receipt) of an order and reports
    /// the status it is to reach.
    pub async fn desk_create(&self, actor: &Actor, input: DeskPayment) -> Result<DeskCreated, PaymentDeskError> {
        let (tenant, actor) = (actor.tenant_id.clone(), actor.clone());
        transact(&*self.store, &tenant, Retry::OnVersionConflict, move |tx| requests::create(tx, actor, input)).await
    }

    /// Changes a payment's fields and, optionally, its status; answers its order's book after.
    pub async fn desk_change(
        &self,
        actor: &Actor,
        uid: &str,
        change: DeskChange,
    ) -> Result<DeskBook, PaymentDeskError> {
        let order = self.desk_order_of(actor, uid).await?;
        let (tenant, actor, uid) = (actor.tenant_id.clone(), actor.clone(), uid.to_owned());
        transact(&*self.store, &tenant, Retry::OnVersionConflict, move |tx| {
            requests::change(tx, actor, order, uid, change)
        })
        .await
    }

    /// Deletes (soft) a payment that is not complete; deleting it again changes nothing.
    pub async fn desk_delete(&self, actor: &Actor, uid: &str) -> Result<DeskBook, PaymentDeskError> {
        let order = self.desk_order_of(actor, uid).await?;
        let (tenant, actor, uid) = (actor.tenant_id.clone(), actor.clone(), uid.to_owned());
        transact(&*self.store, &tenant, Retry::OnVersionConflict, move |tx| requests::delete(tx, actor, order, uid))
            .await
    }

    /// The order of the payment a uid names, read before the transaction so that the
    /// transaction can lock the order before the payment.
    async fn desk_order_of(&self, actor: &Actor, uid: &str) -> Result<OrderId, PaymentDeskError> {
        match self.payment(&actor.tenant_id, uid).await {
            Ok(payment) => Ok(payment.order_id),
            Err(StoreError::NotFound) => Err(PaymentDeskError::PaymentNotFound),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn amounts_convert_exactly_or_are_refused() {
        let number = |text: &str| MajorAmount::Number(text.into());
        assert_eq!(number("12.5").minor(eur()), Ok(1250));
        assert_eq!(number("1").minor(eur()), Ok(100));
        assert_eq!(number("199.95").minor(eur()), Ok(19995));
        assert_eq!(MajorAmount::Decimal("0.01".into()).minor(eur()), Ok(1));
        for refused in ["0", "-1", "-0.5", "1.005", "1e300", "0.30000000000000004"] {
            assert!(number(refused).minor(eur()).is_err(), "{refused}");
        }
        for refused in ["", "abc", "-1", "1,5", "1.001", "0.00", "1e3"] {
            assert!(MajorAmount::Decimal(refused.into()).minor(eur()).is_err(), "{refused:?}");
        }
        assert_eq!(number("0").minor(eur()), Err(AmountError::Zero));
        assert_eq!(number("1e300").minor(eur()), Err(AmountError::TooLarge));
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(number("1200").minor(yen), Ok(1200));
        assert_eq!(number("1.5").minor(yen), Err(AmountError::TooPrecise { currency: "JPY".into(), exponent: 0 }));
    }
}
