//! Payment methods a tenant offers (card, cash, voucher…), with localized names.

use crate::{MethodId, Source, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodLocale {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: MethodId,
    pub tenant_id: TenantId,
    /// The tenant's own short code for the method ("card"); unique per tenant.
    pub code: String,
    /// Name and description per language tag ("en", "nl", "ar").
    pub locales: BTreeMap<String, MethodLocale>,
    pub visible: bool,
    pub created_at: Timestamp,
    pub created_by: String,
    pub created_via: Source,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub updated_via: Source,
}
