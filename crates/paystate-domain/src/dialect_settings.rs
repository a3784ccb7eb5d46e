//! The per-dialect tenant settings (`settings.omnicasa`, `.norce`, `.gormic`, `.teljoy`) and the
//! one check of them that every surface that writes them applies: `PATCH /v1/tenant` and the
//! console's settings page. A typo is refused when it is written rather than failing the
//! dialect's requests later. These are paystate's own setting names, not vendor wire types.

use crate::{Currency, DomainError, Source, Tenant};
use serde_json::Value;

/// The typed reading of `settings.omnicasa`, for the requests that use it.
pub mod omnicasa;

/// The dialect sections of `settings`; each, when present, must be a JSON object.
pub const SECTIONS: [&str; 4] = ["omnicasa", "norce", "gormic", "teljoy"];

/// One checked setting: its section and key, what a valid value is (in words), and the test.
pub struct Rule {
    pub section: &'static str,
    pub key: &'static str,
    pub expected: &'static str,
    pub valid: fn(&Value) -> bool,
}

/// Every checked setting, in the order the checks run.
pub const RULES: [Rule; 6] = [
    Rule {
        section: "omnicasa",
        key: "timezone",
        expected: "an IANA time zone name such as Europe/Brussels",
        valid: |v| v.as_str().is_some_and(is_time_zone),
    },
    Rule { section: "omnicasa", key: "create_unknown_orders", expected: "true or false", valid: Value::is_boolean },
    Rule {
        section: "omnicasa",
        key: "currency",
        expected: "an ISO 4217 currency code",
        valid: |v| v.as_str().is_some_and(|code| Currency::parse(code).is_ok()),
    },
    Rule {
        section: "norce",
        key: "merchants",
        expected: "a list of merchant ids",
        valid: |v| v.as_array().is_some_and(|list| list.iter().all(|m| m.as_str().is_some_and(|s| !s.is_empty()))),
    },
    Rule {
        section: "gormic",
        key: "organization_id",
        expected: "a non-empty string",
        valid: |v| v.as_str().is_some_and(|s| !s.is_empty()),
    },
    Rule { section: "teljoy", key: "verify_trust", expected: "true or false", valid: Value::is_boolean },
];

/// Whether `name` is an IANA time zone name (`Europe/Brussels`, `UTC`).
pub fn is_time_zone(name: &str) -> bool {
    name.parse::<chrono_tz::Tz>().is_ok()
}

/// Every IANA time zone name [`is_time_zone`] accepts, for a picker.
pub fn time_zones() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

/// Vets the dialect settings a tenant holds (typically after a merge patch, before it is
/// written): each section an object, each known setting of the kind its dialect reads.
/// Unknown keys are left alone, as they are elsewhere in `settings`.
pub fn check(tenant: &Tenant) -> Result<(), DomainError> {
    let invalid = |path: &str, expected: &str| DomainError::Invalid {
        field: "settings",
        message: format!("settings.{path} must be {expected}"),
    };
    for section in SECTIONS {
        if tenant.setting(&[section]).is_some_and(|v| !v.is_object()) {
            return Err(invalid(section, "an object"));
        }
    }
    for rule in &RULES {
        if let Some(value) = tenant.setting(&[rule.section, rule.key])
            && !(rule.valid)(value)
        {
            return Err(invalid(&format!("{}.{}", rule.section, rule.key), rule.expected));
        }
    }
    Ok(())
}

/// Whether `merchant` is one of the tenant's merchants of a checkout (`settings.norce.merchants`
/// for `Source::Norce`): a checkout names its merchant, and only the tenant that lists it may be
/// written to in its name.
pub fn owns_merchant(tenant: &Tenant, source: Source, merchant: &str) -> bool {
    tenant
        .setting(&[source.as_str(), "merchants"])
        .and_then(Value::as_array)
        .is_some_and(|merchants| merchants.iter().any(|m| m.as_str() == Some(merchant)))
}

/// Whether the tenant checks the consistency values a shop sends with its status reports
/// (`settings.teljoy.verify_trust`): true unless set to false.
pub fn verifies_trust(tenant: &Tenant) -> bool {
    tenant.setting(&["teljoy", "verify_trust"]) != Some(&Value::Bool(false))
}

/// Whether `organization` names the tenant to a back office that addresses tenants by an
/// organization (`organization-id`): the tenant's own id, or its alias in
/// `settings.gormic.organization_id` (written as text, or as a number by clients that send one).
pub fn is_organization(tenant: &Tenant, organization: &str) -> bool {
    let alias = match tenant.setting(&["gormic", "organization_id"]) {
        Some(Value::String(alias)) => Some(alias.clone()),
        Some(Value::Number(alias)) => Some(alias.to_string()),
        _ => None,
    };
    organization == tenant.id.as_str() || alias.as_deref() == Some(organization)
}

impl Tenant {
    /// [`check`] of this tenant's dialect settings.
    pub fn check_dialect_settings(&self) -> Result<(), DomainError> {
        check(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantId;
    use serde_json::json;

    fn with(settings: Value) -> Tenant {
        let now = chrono::Utc::now();
        Tenant { id: TenantId::generate(), name: "Shop".into(), settings, created_at: now, updated_at: now }
    }

    #[test]
    fn valid_settings_and_unknown_keys_pass() {
        let settings = json!({
            "omnicasa": {"timezone": "Europe/Brussels", "create_unknown_orders": true, "currency": "eur"},
            "norce": {"merchants": ["norce", "shop-2"]},
            "gormic": {"organization_id": "acme-42"},
            "teljoy": {"verify_trust": false},
            "other": {"anything": 1},
        });
        assert_eq!(with(settings).check_dialect_settings(), Ok(()));
        assert_eq!(with(json!({})).check_dialect_settings(), Ok(()));
    }

    #[test]
    fn a_merchant_is_owned_only_when_listed_under_its_source() {
        let tenant = with(json!({"norce": {"merchants": ["norce", "shop-2"]}, "gormic": {"merchants": ["x"]}}));
        assert!(owns_merchant(&tenant, Source::Norce, "shop-2"));
        assert!(!owns_merchant(&tenant, Source::Norce, "Shop-2"));
        assert!(!owns_merchant(&tenant, Source::Norce, "x"));
        assert!(!owns_merchant(&with(json!({})), Source::Norce, "norce"));
    }

    #[test]
    fn trust_is_verified_unless_turned_off() {
        assert!(verifies_trust(&with(json!({}))));
        assert!(verifies_trust(&with(json!({"teljoy": {"verify_trust": true}}))));
        assert!(!verifies_trust(&with(json!({"teljoy": {"verify_trust": false}}))));
    }

    #[test]
    fn an_organization_is_the_tenant_id_or_its_alias() {
        let tenant = with(json!({"gormic": {"organization_id": "acme-42"}}));
        assert!(is_organization(&tenant, tenant.id.as_str()));
        assert!(is_organization(&tenant, "acme-42"));
        assert!(!is_organization(&tenant, "acme-43"));
        assert!(is_organization(&with(json!({"gormic": {"organization_id": 42}})), "42"));
        assert!(!is_organization(&with(json!({})), "acme-42"));
    }

    #[test]
    fn each_bad_value_is_named_with_what_is_expected() {
        for (settings, path) in [
            (json!({"omnicasa": {"timezone": "Europe/Brusels"}}), "settings.omnicasa.timezone must be an IANA"),
            (json!({"omnicasa": {"create_unknown_orders": "yes"}}), "settings.omnicasa.create_unknown_orders must be"),
            (json!({"omnicasa": {"currency": "EURO"}}), "settings.omnicasa.currency must be an ISO 4217"),
            (json!({"norce": {"merchants": ["a", ""]}}), "settings.norce.merchants must be a list"),
            (json!({"norce": {"merchants": "a"}}), "settings.norce.merchants must be a list"),
            (json!({"gormic": {"organization_id": ""}}), "settings.gormic.organization_id must be a non-empty"),
            (json!({"teljoy": {"verify_trust": "false"}}), "settings.teljoy.verify_trust must be true or false"),
            (json!({"teljoy": true}), "settings.teljoy must be an object"),
        ] {
            let Err(DomainError::Invalid { field, message }) = with(settings.clone()).check_dialect_settings() else {
                panic!("{settings} passed");
            };
            assert_eq!(field, "settings");
            assert!(message.starts_with(path), "{message}");
        }
    }
}
