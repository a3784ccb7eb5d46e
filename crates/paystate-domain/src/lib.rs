//! The pure payment domain of paystate.
//!
//! Everything here is deterministic and free of IO: ids, money in integer minor units, the status
//! machine, orders, payments, payment methods, tenants and the events that record every change.
//! Vendor vocabulary never enters this crate; dialects translate into the commands defined here.

pub mod dialect_settings;
pub mod error;
pub mod event;
pub mod id;
pub mod method;
pub mod money;
pub mod order;
pub mod order_book;
pub mod order_report;
pub mod payment;
pub mod status;
pub mod tenant;
pub mod user;
pub mod webhook;

pub use error::DomainError;
pub use event::{Actor, EventDraft, EventType, Source, StoredEvent};
pub use id::{DeliveryId, EndpointId, EventId, KeyId, MethodId, OrderId, PaymentId, TenantId, UserId};
pub use method::{MethodLocale, PaymentMethod};
pub use money::{Currency, MAX_AMOUNT_MINOR};
pub use order::{Order, OrderState};
pub use payment::{Adjustment, Decision, Outcome, Payment, PaymentCommand, PaymentPatch, PaymentType};
pub use status::{PaymentStatus, Transition};
pub use tenant::Tenant;
pub use user::Role;
pub use webhook::{EventSelection, WebhookEndpoint};

/// Every timestamp in paystate is UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
