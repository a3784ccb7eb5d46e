//! Errors a domain decision can end in; the HTTP layer maps each kind to a status in one place.

use crate::status::PaymentStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field failed validation; `field` names it for the caller.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("{currency} has {exponent} decimals; the amount has more")]
    TooManyDecimals { currency: String, exponent: u32 },
    #[error("amount out of range")]
    AmountOutOfRange,
    /// The refund or chargeback exceeds what was paid and not yet returned.
    #[error("amount {requested} exceeds the {available} still available")]
    ExceedsAvailable { requested: i64, available: i64 },
    /// The command is not allowed for the payment's current status (e.g. a refund of an open payment).
    #[error("not allowed while the payment is {status}")]
    NotAllowed { status: PaymentStatus, action: &'static str },
    /// The payment is deleted; nothing changes it any more.
    #[error("the payment is deleted")]
    Deleted,
    /// The order is closed or canceled and takes no new payments or changes.
    #[error("the order is {0}")]
    OrderNotOpen(crate::order::OrderState),
}
