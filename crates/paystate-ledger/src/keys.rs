//! API keys: `psk_<key id>_<secret>`, shown once, stored as SHA-256, compared in constant time.
//!
//! The key id inside the token lets the store find the record without searching by secret; the
//! secret (256 random bits) is then checked against the stored digest in constant time.

use base64::Engine;
use paystate_domain::{KeyId, Source, TenantId, Timestamp};
use paystate_store::{ApiKeyRecord, Scope, StoreError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "psk_";

/// A freshly issued key: the only time its secret exists outside the caller's hands.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    pub id: KeyId,
    /// The whole token to present (`psk_…`).
    pub token: String,
    pub scope: Scope,
    pub dialect: Option<Source>,
    pub expires_at: Option<Timestamp>,
}

pub(crate) fn issue(
    tenant: &TenantId,
    scope: Scope,
    dialect: Option<Source>,
    expires_at: Option<Timestamp>,
    label: Option<String>,
    now: Timestamp,
) -> Result<(IssuedKey, ApiKeyRecord), StoreError> {
    if let Some(label) = &label {
        paystate_domain::order::validate_reference("label", label)?;
    }
    let id = KeyId::generate();
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{KEY_PREFIX}{}_{secret}", &id.as_str()[KeyId::PREFIX.len()..]);
    let record = ApiKeyRecord {
        id: id.clone(),
        tenant_id: tenant.clone(),
        secret_hash: digest(&token),
        scope,
        dialect,
        label,
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    Ok((IssuedKey { id, token, scope, dialect, expires_at }, record))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The key id a presented token claims, if it has the shape of a paystate key.
pub(crate) fn key_id_of(presented: &str) -> Option<KeyId> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if secret.len() != 43 {
        return None;
    }
    KeyId::parse(&format!("{}{id}", KeyId::PREFIX))
}

/// Whether a presented token is the key's secret, in constant time.
pub(crate) fn matches(record: &ApiKeyRecord, presented: &str) -> bool {
    bool::from(record.secret_hash.ct_eq(&digest(presented)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let tenant = TenantId::generate();
        let (issued, record) = issue(&tenant, Scope::Write, None, None, None, chrono::Utc::now()).unwrap();
        assert!(issued.token.starts_with("psk_"));
        assert_eq!(key_id_of(&issued.token), Some(issued.id.clone()));
        assert!(matches(&record, &issued.token));
        let last = issued.token.chars().last().unwrap();
        let wrong = format!("{}{}", &issued.token[..issued.token.len() - 1], if last == 'A' { 'B' } else { 'A' });
        assert!(!matches(&record, &wrong));
        assert_eq!(key_id_of(&wrong), Some(issued.id.clone()));
        assert_eq!(key_id_of("psk_nothing"), None);
        assert_eq!(key_id_of("Bearer psk_x_y"), None);
        assert_ne!(record.secret_hash, [0; 32]);
    }
}
