//! Tenants: the organizations that use paystate, and the per-tenant settings dialects read.

use crate::{DomainError, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// Per-tenant switches, a JSON object keyed by dialect (`{"omnicasa": {"timezone": …}}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Tenant {
    /// Applies an RFC 7396 merge patch to the tenant. Only `name` and `settings` may be patched.
    pub fn apply_merge_patch(&mut self, patch: &serde_json::Value, now: Timestamp) -> Result<(), DomainError> {
        let object = patch
            .as_object()
            .ok_or(DomainError::Invalid { field: "body", message: "a merge patch must be a JSON object".into() })?;
        if let Some(unknown) = object.keys().find(|k| *k != "name" && *k != "settings") {
            return Err(DomainError::Invalid { field: "body", message: format!("unknown field {unknown:?}") });
        }
        // An object merges into the settings and null removes them all; anything else would
        // replace every setting with garbage.
        if object.get("settings").is_some_and(|s| !s.is_object() && !s.is_null()) {
            return Err(DomainError::Invalid { field: "settings", message: "must be a JSON object or null".into() });
        }
        if let Some(name) = object.get("name") {
            self.name = validate_name(name.as_str().unwrap_or_default())?;
        }
        if let Some(settings) = object.get("settings") {
            json_patch::merge(&mut self.settings, settings);
            if !self.settings.is_object() {
                self.settings = serde_json::Value::Object(Default::default());
            }
        }
        self.updated_at = now;
        Ok(())
    }

    /// One setting by path (`["omnicasa", "timezone"]`), when present.
    pub fn setting(&self, path: &[&str]) -> Option<&serde_json::Value> {
        path.iter().try_fold(&self.settings, |value, key| value.get(key))
    }
}

/// A tenant name: 1 to 200 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid {
            field: "name",
            message: "must be 1 to 200 characters without control characters".into(),
        });
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::generate(),
            name: "Shop".into(),
            settings: json!({"omnicasa": {"timezone": "Europe/Brussels", "create_unknown_orders": false}}),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn merge_patch_merges_nested_settings_and_removes_nulls() {
        let mut t = tenant();
        t.apply_merge_patch(&json!({"settings": {"omnicasa": {"create_unknown_orders": true, "timezone": null}, "norce": {"merchants": ["m1"]}}}), chrono::Utc::now()).unwrap();
        assert_eq!(t.settings, json!({"omnicasa": {"create_unknown_orders": true}, "norce": {"merchants": ["m1"]}}));
        assert_eq!(t.setting(&["norce", "merchants"]), Some(&json!(["m1"])));
    }

    #[test]
    fn merge_patch_refuses_unknown_fields_and_bad_names() {
        let mut t = tenant();
        assert!(t.apply_merge_patch(&json!({"id": "ten_x"}), chrono::Utc::now()).is_err());
        assert!(t.apply_merge_patch(&json!({"name": ""}), chrono::Utc::now()).is_err());
        assert!(t.apply_merge_patch(&json!({"name": 5}), chrono::Utc::now()).is_err());
        assert!(t.apply_merge_patch(&json!([1]), chrono::Utc::now()).is_err());
        for settings in [json!([null, null]), json!(5), json!("x"), json!(true)] {
            assert!(t.apply_merge_patch(&json!({"name": "Other", "settings": settings}), chrono::Utc::now()).is_err());
        }
        assert_eq!(t.name, "Shop");
        assert_eq!(t.settings["omnicasa"]["timezone"], "Europe/Brussels");
    }
}
