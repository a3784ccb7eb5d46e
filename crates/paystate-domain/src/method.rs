//! Payment methods a tenant offers (card, cash, voucher…), with localized names.

use crate::{MethodId, Source, TenantId};
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
