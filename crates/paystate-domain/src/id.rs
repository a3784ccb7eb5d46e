//! Prefixed, time-sortable identifiers (`pay_0192…`): a UUIDv7 in lowercase hex behind a type prefix.
//!
//! The prefix makes an id self-describing in logs and support tickets; UUIDv7 makes ids sort by
//! creation time, which keeps B-tree inserts local and cursor pagination stable.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id, sortable by creation time.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts only a well-formed id of this kind (prefix and 32 lowercase hex digits).
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                let well_formed = rest.len() == 32
                    && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                well_formed.then(|| Self(raw.to_owned()))
            }

            /// Wraps a value read back from storage, which only ever holds ids made by `generate`.
            pub fn from_trusted(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An organization using paystate; every other record belongs to exactly one tenant.
    TenantId, "ten_");
prefixed_id!(
    /// An order a merchant takes payments against.
    OrderId, "ord_");
prefixed_id!(
    /// One payment (a receipt or a refund) of an order.
    PaymentId, "pay_");
prefixed_id!(
    /// One immutable event of the audit trail.
    EventId, "evt_");
prefixed_id!(
    /// An API key; the key's secret is never an id.
    KeyId, "key_");
prefixed_id!(
    /// A payment method a tenant offers.
    MethodId, "pm_");
prefixed_id!(
    /// A webhook endpoint that subscribes to a tenant's events.
    EndpointId, "we_");
prefixed_id!(
    /// One webhook delivery: an event (or a test message) bound for one endpoint.
    DeliveryId, "wd_");
prefixed_id!(
    /// A person who signs in to the operator console (never an API key).
    UserId, "usr_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_sort_by_creation() {
        let a = PaymentId::generate();
        let b = PaymentId::generate();
        assert!(a < b);
        assert_eq!(PaymentId::parse(a.as_str()), Some(a.clone()));
        assert!(a.as_str().starts_with("pay_"));
    }

    #[test]
    fn parse_refuses_other_kinds_and_garbage() {
        let order = OrderId::generate();
        assert_eq!(PaymentId::parse(order.as_str()), None);
        assert_eq!(PaymentId::parse("pay_"), None);
        assert_eq!(PaymentId::parse("pay_0192F3C4000000000000000000000000"), None);
        assert_eq!(PaymentId::parse("pay_0192f3c4000000000000000000000000\0"), None);
    }
}
