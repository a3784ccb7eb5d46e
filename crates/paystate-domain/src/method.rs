//! Payment methods a tenant offers (card, cash, voucher…), with localized names.

use crate::{DomainError, MethodId, Source, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MethodLocale {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentMethod {
    pub id: MethodId,
    pub tenant_id: TenantId,
    /// The tenant's own short code for the method ("card"); unique per tenant.
    pub code: String,
    /// Name and description per language tag ("en", "nl", "ar").
    pub locales: BTreeMap<String, MethodLocale>,
    pub visible: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    pub created_via: Source,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: String,
    pub updated_via: Source,
}

/// Locales of a payment method: language tags (2 to 16 letters, digits and hyphens), each with a
/// name (1 to 200 characters) and a description (at most 2000), none with a NUL.
pub fn validate_locales(locales: &BTreeMap<String, MethodLocale>) -> Result<(), DomainError> {
    for (tag, locale) in locales {
        let tag_ok = (2..=16).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !tag_ok {
            return Err(DomainError::Invalid { field: "locales", message: format!("{tag:?} is not a language tag") });
        }
        crate::order::validate_reference("locales.name", &locale.name)?;
        if locale.description.chars().count() > 2000 || locale.description.contains('\0') {
            return Err(DomainError::Invalid {
                field: "locales.description",
                message: "must be at most 2000 characters without NUL".into(),
            });
        }
    }
    Ok(())
}
