//! Console users: the people (not API keys) who sign in to the operator console, their roles and
//! what each role may do, and the rules for their e-mail addresses and passwords.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a console user may do. Each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of the tenant, changes nothing.
    Viewer,
    /// Also resolves conflicts, records refunds and chargebacks, retries deliveries.
    Operator,
    /// Also manages users, API keys, webhook endpoints and settings.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Self::Viewer, Self::Operator, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether the role may change payments (resolve, refund, chargeback, retry).
    pub fn can_act(self) -> bool {
        self >= Self::Operator
    }

    /// Whether the role may manage users, keys and settings.
    pub fn can_administer(self) -> bool {
        self >= Self::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shortest password a person may choose; generated ones are longer.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Argon2 takes any length, but a megabyte "password" is a way to burn CPU, not a password.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// An e-mail address as stored and compared: trimmed and lowercased, so that `Ana@Shop.example`
/// and `ana@shop.example` are one user.
pub fn normalize_email(text: &str) -> Result<String, DomainError> {
    let email = text.trim().to_lowercase();
    let invalid = |message: &str| DomainError::Invalid { field: "email", message: message.into() };
    if email.is_empty() || email.chars().count() > 254 {
        return Err(invalid("must be an e-mail address of at most 254 characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must not contain spaces or control characters"));
    }
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => Ok(email),
        _ => Err(invalid("must be an e-mail address (name@domain)")),
    }
}

/// Checks a password a person chose.
pub fn validate_password(password: &str) -> Result<(), DomainError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(DomainError::Invalid {
            field: "password",
            message: format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        });
    }
    if password.contains('\0') {
        return Err(DomainError::Invalid { field: "password", message: "must not contain NUL".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_add_up() {
        assert!(!Role::Viewer.can_act());
        assert!(Role::Operator.can_act() && !Role::Operator.can_administer());
        assert!(Role::Admin.can_act() && Role::Admin.can_administer());
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Ana@Shop.Example ").unwrap(), "ana@shop.example");
        for bad in ["", "ana", "@shop", "ana@", "a b@c", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_a_length() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough password").is_ok());
        assert!(validate_password(&"x".repeat(300)).is_err());
    }
}
