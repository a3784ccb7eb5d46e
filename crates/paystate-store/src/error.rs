//! Storage errors. Backends map their driver errors here; the HTTP layer maps these to responses.

use paystate_domain::DomainError;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique field already holds this value (`reference`, `external_id`, `code`).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The row changed since it was read; the caller may retry with fresh data.
    #[error("the record was changed concurrently")]
    VersionConflict,
    /// A domain rule refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database refused a value (a NUL byte, an out-of-range number): the caller's input.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The database stayed locked or overloaded past the timeout; the caller may retry.
    #[error("the database is busy")]
    Busy,
    /// The schema is newer than this build knows: an instance must not run against it.
    #[error("the database schema is at version {found}, newer than the {known} this paystate knows; upgrade paystate")]
    SchemaTooNew { found: i64, known: i64 },
    /// Another process holds the database for itself: a second server on one SQLite file.
    #[error("{0}")]
    InUse(String),
    /// A use case refused inside its job: the job's writes are rolled back and the refusal,
    /// the use case's own typed error, travels out in here (see `paystate_ledger`'s `transact`).
    #[error("the job was refused by its use case")]
    Refused(Refusal),
    /// Anything else; the text is for the server log only.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// A use case's own refusal, carried through the store untouched: the store only rolls back.
pub struct Refusal(Box<dyn std::any::Any + Send + Sync>);

impl Refusal {
    pub fn new<E: Send + Sync + 'static>(refusal: E) -> Self {
        Refusal(Box::new(refusal))
    }

    /// The refusal, when it is an `E`; else itself back.
    pub fn downcast<E: 'static>(self) -> Result<E, Self> {
        self.0.downcast::<E>().map(|refusal| *refusal).map_err(Refusal)
    }
}

/// The payload is the use case's business; its type cannot promise `Debug`.
impl std::fmt::Debug for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refusal(..)")
    }
}

impl StoreError {
    /// The error of a batch that failed as a whole, for each of its callers: busy stays busy
    /// (retryable), anything else becomes a backend failure with the same text.
    pub fn for_each_caller(&self) -> StoreError {
        match self {
            StoreError::Busy => StoreError::Busy,
            other => StoreError::Backend(other.to_string()),
        }
    }
}
