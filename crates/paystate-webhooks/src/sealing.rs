//! Sealing: webhook signing secrets are encrypted at rest with the instance's sealing key.
//!
//! A sealed value is `1 || nonce (24 bytes) || XChaCha20-Poly1305 ciphertext and tag`, with the
//! endpoint's id as associated data, so a sealed secret copied onto another endpoint's row does
//! not open. The key comes from `PAYSTATE_SEALING_KEY` (base64 of 32 bytes) or, when that is
//! unset, from a key file created on first use with mode 0600. Every instance that shares a
//! database must use the same key: with PostgreSQL, set `PAYSTATE_SEALING_KEY` on all of them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable that holds the sealing key (base64 of 32 bytes).
pub const SEALING_KEY_VARIABLE: &str = "PAYSTATE_SEALING_KEY";

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    /// The configured key is not base64 of exactly 32 bytes.
    #[error("the sealing key from {origin} is not base64 of 32 bytes")]
    InvalidKey { origin: String },
    #[error("cannot use the sealing key file {path}: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
    /// A sealed value does not open: another key sealed it, or it was altered.
    #[error(
        "a sealed secret does not open with this sealing key (is PAYSTATE_SEALING_KEY the same on every instance?)"
    )]
    Unseal,
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Where the sealing key came from, for the start-up log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    Environment,
    /// An existing key file.
    File(PathBuf),
    /// A key file created just now.
    NewFile(PathBuf),
}

/// The key that seals webhook secrets. Its Debug output never shows it.
#[derive(Clone)]
pub struct SealingKey(Arc<[u8; 32]>);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

/// 32 random bytes.
pub(crate) fn random_32() -> Result<[u8; 32], SealingError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SealingError::Random(e.to_string()))?;
    Ok(bytes)
}

impl SealingKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Arc::new(bytes))
    }

    /// A fresh random key (tests, and the first start without a configured key).
    pub fn generate() -> Result<Self, SealingError> {
        random_32().map(Self::from_bytes)
    }

    /// Reads base64 of 32 bytes; `origin` names where it came from in the error.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, SealingError> {
        let invalid = || SealingError::InvalidKey { origin: origin.to_owned() };
        let bytes = STANDARD.decode(text.trim()).map_err(|_| invalid())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
        Ok(Self::from_bytes(bytes))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(*self.0)
    }

    /// The key from `PAYSTATE_SEALING_KEY` when set, else from `file`, which is created (mode
    /// 0600, never overwritten) with a new random key when it does not exist.
    pub fn load(file: &Path) -> Result<(Self, KeyOrigin), SealingError> {
        match std::env::var(SEALING_KEY_VARIABLE) {
            Ok(text) if !text.trim().is_empty() => {
                Ok((Self::from_base64(&text, SEALING_KEY_VARIABLE)?, KeyOrigin::Environment))
            }
            _ => Self::load_file(file),
        }
    }

    /// The key in `file`, creating the file with a new key when it does not exist.
    pub fn load_file(file: &Path) -> Result<(Self, KeyOrigin), SealingError> {
        let io_error = |source| SealingError::KeyFile { path: file.to_owned(), source };
        match std::fs::read_to_string(file) {
            Ok(text) => {
                return Ok((Self::from_base64(&text, &file.display().to_string())?, KeyOrigin::File(file.into())));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(error)),
        }
        let key = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(file) {
            Ok(mut created) => {
                use std::io::Write;
                created.write_all(format!("{}\n", key.to_base64()).as_bytes()).map_err(io_error)?;
                created.sync_all().map_err(io_error)?;
                Ok((key, KeyOrigin::NewFile(file.into())))
            }
            // Another process created it first: use theirs.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(file).map_err(io_error)?;
                Ok((Self::from_base64(&text, &file.display().to_string())?, KeyOrigin::File(file.into())))
            }
            Err(error) => Err(io_error(error)),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (the endpoint id).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SealingError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealingError::Random(e.to_string()))?;
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| SealingError::Random("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`SealingKey::seal`] made for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SealingError> {
        let (&version, rest) = sealed.split_first().ok_or(SealingError::Unseal)?;
        if version != FORMAT_VERSION || rest.len() < NONCE_LEN {
            return Err(SealingError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealingError::Unseal)?;
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| SealingError::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let key = SealingKey::generate().unwrap();
        let sealed = key.seal(b"whsec_secret", "we_1").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"whsec_secret"), "the plaintext must not show");
        assert_eq!(key.open(&sealed, "we_1").unwrap(), b"whsec_secret");
        assert!(matches!(key.open(&sealed, "we_2"), Err(SealingError::Unseal)));
        let other = SealingKey::generate().unwrap();
        assert!(matches!(other.open(&sealed, "we_1"), Err(SealingError::Unseal)));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(key.open(&altered, "we_1"), Err(SealingError::Unseal)));
        assert!(matches!(key.open(&[], "we_1"), Err(SealingError::Unseal)));
        assert_ne!(key.seal(b"x", "we_1").unwrap(), key.seal(b"x", "we_1").unwrap(), "a fresh nonce each time");
        assert_eq!(format!("{key:?}"), "SealingKey(***)");
    }

    #[test]
    fn key_files_are_created_once_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("paystate-sealing-{}", paystate_domain::TenantId::generate()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("paystate.sealing-key");
        let (first, origin) = SealingKey::load_file(&file).unwrap();
        assert_eq!(origin, KeyOrigin::NewFile(file.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (second, origin) = SealingKey::load_file(&file).unwrap();
        assert_eq!(origin, KeyOrigin::File(file.clone()));
        assert_eq!(first.to_base64(), second.to_base64());
        std::fs::write(&file, "not a key").unwrap();
        assert!(matches!(SealingKey::load_file(&file), Err(SealingError::InvalidKey { .. })));
        assert!(SealingKey::from_base64(&STANDARD.encode([1u8; 31]), "test").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
