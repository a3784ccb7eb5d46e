//! `settings.omnicasa` read as the typed rules of an order status report (the ledger's
//! `report_order_status` and its read side): the zone of wall-clock times, whether an unknown
//! order is created, and the currency of the orders so created.
//!
//! [`super::check`] refuses a bad value when it is written; a value that reached the database
//! another way is still read here one setting at a time, when a request needs it, so that it
//! fails only the requests that use it.

use crate::order_report::Tz;
use crate::{Currency, Tenant};

/// A setting whose stored value cannot be used; the caller decides how to tell (the tenant's
/// settings are the administrator's to fix, not the reporter's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("settings.{section}.{key} is invalid")]
pub struct InvalidSetting {
    pub section: &'static str,
    pub key: &'static str,
}

/// The tenant's `settings.omnicasa`.
#[derive(Clone, Copy, Debug)]
pub struct Settings<'t>(pub &'t Tenant);

impl Settings<'_> {
    const SECTION: &'static str = "omnicasa";

    /// The setting as stored; `null` reads as absent (the default).
    fn value(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.setting(&[Self::SECTION, key]).filter(|v| !v.is_null())
    }

    fn invalid(key: &'static str) -> InvalidSetting {
        InvalidSetting { section: Self::SECTION, key }
    }

    /// `timezone`: an IANA zone name; default Europe/Brussels.
    pub fn timezone(&self) -> Result<Tz, InvalidSetting> {
        match self.value("timezone") {
            None => Ok(Tz::Europe__Brussels),
            Some(value) => value.as_str().and_then(|name| name.parse().ok()).ok_or(Self::invalid("timezone")),
        }
    }

    /// `create_unknown_orders`: create an unknown order with an open receipt; default false.
    pub fn create_unknown_orders(&self) -> Result<bool, InvalidSetting> {
        match self.value("create_unknown_orders") {
            None => Ok(false),
            Some(value) => value.as_bool().ok_or(Self::invalid("create_unknown_orders")),
        }
    }

    /// `currency`: the ISO 4217 currency of orders created so; default EUR.
    pub fn currency(&self) -> Result<Currency, InvalidSetting> {
        let code = match self.value("currency") {
            None => "EUR",
            Some(value) => value.as_str().ok_or(Self::invalid("currency"))?,
        };
        Currency::parse(code).map_err(|_| Self::invalid("currency"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_refuse_bad_values() {
        let mut tenant = Tenant {
            id: crate::TenantId::generate(),
            name: "t".into(),
            settings: serde_json::json!({}),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let settings = Settings(&tenant);
        assert_eq!(settings.timezone().ok(), Some(Tz::Europe__Brussels));
        assert_eq!(settings.create_unknown_orders().ok(), Some(false));
        assert_eq!(settings.currency().ok().map(|c| c.code()), Some("EUR"));
        tenant.settings = serde_json::json!({"omnicasa": {"timezone": "Europe/Paris", "create_unknown_orders": true, "currency": "USD"}});
        let settings = Settings(&tenant);
        assert_eq!(settings.timezone().ok(), Some(Tz::Europe__Paris));
        assert_eq!(settings.create_unknown_orders().ok(), Some(true));
        assert_eq!(settings.currency().ok().map(|c| c.code()), Some("USD"));
        tenant.settings = serde_json::json!({"omnicasa": {"timezone": "Mars/Olympus", "create_unknown_orders": "yes", "currency": "XXY"}});
        let settings = Settings(&tenant);
        let invalid = |key| InvalidSetting { section: "omnicasa", key };
        assert_eq!(settings.timezone(), Err(invalid("timezone")));
        assert_eq!(settings.create_unknown_orders(), Err(invalid("create_unknown_orders")));
        assert_eq!(settings.currency().map(|c| c.code()), Err(invalid("currency")));
        assert_eq!(invalid("timezone").to_string(), "settings.omnicasa.timezone is invalid");
        // A null is no value: the default holds.
        tenant.settings = serde_json::json!({"omnicasa": {"timezone": null}});
        assert_eq!(Settings(&tenant).timezone(), Ok(Tz::Europe__Brussels));
    }
}
