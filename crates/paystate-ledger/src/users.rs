//! Console users and their sessions: creating people, checking their passwords (argon2id, in
//! constant time and with the same work for an unknown address), roles, disabling, and sessions
//! with an idle and an absolute expiry. The rules live here; the store only keeps the rows.
//!
//! A session token (`pss_…`, 256 random bits) exists only in the browser's cookie: the store
//! keeps its SHA-256. The CSRF token of a session is derived from the token, so it needs no
//! column and changes with every session. Passwords and tokens are never logged.

use crate::{Ledger, audit, now};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use futures::FutureExt;
use paystate_domain::user::{normalize_email, validate_password};
use paystate_domain::{Actor, DomainError, EventDraft, EventType, Role, TenantId, Timestamp, UserId};
use paystate_store::{SessionRecord, StoreError, StoreExt, StoreResult, UserRecord};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// A session ends after this long without a request.
pub const SESSION_IDLE: chrono::Duration = chrono::Duration::minutes(30);
/// A session ends this long after sign-in, however busy.
pub const SESSION_ABSOLUTE: chrono::Duration = chrono::Duration::hours(12);
/// `last_seen_at` is written at most this often, so reading pages does not write on every request.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
const SESSION_PREFIX: &str = "pss_";

/// A user just created; `password` is the generated one, shown once and never stored.
#[derive(Clone, Debug)]
pub struct CreatedUser {
    pub user: UserRecord,
    pub password: Option<String>,
}

/// What a sign-in attempt found.
#[derive(Clone, Debug)]
pub enum SignIn {
    Accepted(UserRecord),
    /// An unknown address, a wrong password and a disabled user alike.
    Refused,
    /// The address and password fit users of several tenants: the person must name one.
    Ambiguous,
}

/// A session just started: the token goes into the cookie and nowhere else.
#[derive(Clone)]
pub struct IssuedSession {
    pub token: String,
    pub user: UserRecord,
}

/// A live session and its user, as a request sees it.
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub user: UserRecord,
    pub token_hash: [u8; 32],
    /// The value every state-changing form of this session must carry.
    pub csrf_token: String,
}

impl ActiveSession {
    /// Whether a form's CSRF value is this session's, in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf_token.as_bytes().ct_eq(presented.as_bytes()))
    }
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn csrf_of(token: &str) -> String {
    // Domain-separated from the session hash, so neither value reveals the other.
    hex::encode(Sha256::digest(format!("paystate console csrf\0{token}").as_bytes()))
}

fn random_text(bytes: usize) -> StoreResult<String> {
    let mut secret = vec![0u8; bytes];
    getrandom::fill(&mut secret).map_err(|e| StoreError::Backend(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret))
}

fn hash_password(password: &str) -> StoreResult<String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| StoreError::Backend(format!("could not hash a password: {e}")))
}

fn password_matches(password: &str, hash: &str) -> bool {
    argon2::Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash no password matches, verified for unknown addresses so that they take as long as a
/// wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password = random_text(24).unwrap_or_else(|_| "unguessable dummy password".into());
        hash_password(&password).unwrap_or_default()
    })
}

/// Argon2 takes tens of milliseconds of CPU on purpose: off the async workers.
async fn blocking<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> StoreResult<T> {
    tokio::task::spawn_blocking(job).await.map_err(|e| StoreError::Backend(format!("a password job failed: {e}")))
}

impl Ledger {
    /// Creates a console user of `actor`'s tenant and records `user.created` (never the
    /// password or its hash). Without a password, one is generated and answered once. With
    /// `once`, a second request with the same key creates nothing ([`crate::KEY_TAKEN`]).
    pub async fn create_user(
        &self,
        actor: &Actor,
        email: &str,
        role: Role,
        password: Option<String>,
        once: Option<crate::Once<CreatedUser>>,
    ) -> StoreResult<CreatedUser> {
        let tenant = &actor.tenant_id;
        let email = normalize_email(email)?;
        let generated = password.is_none();
        let password = match password {
            Some(password) => {
                validate_password(&password)?;
                password
            }
            None => random_text(18)?,
        };
        let hash = {
            let password = password.clone();
            blocking(move || hash_password(&password)).await??
        };
        let now = now();
        let user = UserRecord {
            id: UserId::generate(),
            tenant_id: tenant.clone(),
            email,
            role,
            password_hash: hash,
            disabled_at: None,
            created_at: now,
            updated_at: now,
        };
        let (owner, created) = (tenant.clone(), CreatedUser { user, password: generated.then_some(password) });
        let actor = actor.clone();
        crate::write_once(&**self.store(), tenant, once, move |tx| {
            async move {
                tx.tenant(&owner).await?.ok_or(StoreError::NotFound)?;
                tx.insert_user(&created.user).await?;
                let event = EventDraft::record(EventType::UserCreated, audit::user(&created.user), Value::Null);
                tx.record(&actor, event);
                Ok(created)
            }
            .boxed()
        })
        .await
    }

    pub async fn users(&self, tenant: &TenantId) -> StoreResult<Vec<UserRecord>> {
        let tenant = tenant.clone();
        self.store().lookup(move |r| async move { r.users(&tenant).await }.boxed()).await
    }

    /// A user of the tenant by id or by e-mail address.
    pub async fn user(&self, tenant: &TenantId, id_or_email: &str) -> StoreResult<UserRecord> {
        let (tenant, key) = (tenant.clone(), id_or_email.to_owned());
        self.store().lookup(move |r| async move { find_user(r, &tenant, &key).await }.boxed()).await
    }

    /// Checks an address and password. Every address costs one argon2 verification at least,
    /// known or not, so that timing tells nothing; `tenant` picks among several matches.
    pub async fn sign_in(&self, email: &str, password: &str, tenant: Option<&TenantId>) -> StoreResult<SignIn> {
        let Ok(email) = normalize_email(email) else {
            let password = password.to_owned();
            blocking(move || password_matches(&password, dummy_hash())).await?;
            return Ok(SignIn::Refused);
        };
        let candidates = self.store().lookup(move |r| async move { r.users_with_email(&email).await }.boxed()).await?;
        let candidates: Vec<UserRecord> =
            candidates.into_iter().filter(|u| tenant.is_none_or(|t| &u.tenant_id == t)).collect();
        let password = password.to_owned();
        let matching = blocking(move || {
            if candidates.is_empty() {
                password_matches(&password, dummy_hash());
                return Vec::new();
            }
            candidates.into_iter().filter(|u| password_matches(&password, &u.password_hash)).collect::<Vec<_>>()
        })
        .await?;
        let mut enabled: Vec<UserRecord> = matching.into_iter().filter(|u| u.disabled_at.is_none()).collect();
        Ok(match enabled.len() {
            0 => SignIn::Refused,
            1 => SignIn::Accepted(enabled.remove(0)),
            _ => SignIn::Ambiguous,
        })
    }

    /// Starts a session for a signed-in user; old sessions past any expiry are purged on the way.
    pub async fn start_session(&self, user: &UserRecord) -> StoreResult<IssuedSession> {
        let token = format!("{SESSION_PREFIX}{}", random_text(32)?);
        let now = now();
        let session = SessionRecord {
            token_hash: hash_token(&token),
            tenant_id: user.tenant_id.clone(),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            revoked_at: None,
        };
        self.store()
            .write(move |tx| {
                async move {
                    tx.purge_sessions(now - SESSION_ABSOLUTE).await?;
                    tx.insert_session(&session).await
                }
                .boxed()
            })
            .await?;
        Ok(IssuedSession { token, user: user.clone() })
    }

    /// The live session a cookie's token belongs to, or `None` for an unknown, revoked, idle,
    /// too old or disabled user's one alike.
    pub async fn active_session(&self, token: &str) -> StoreResult<Option<ActiveSession>> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > 100 {
            return Ok(None);
        }
        let token_hash = hash_token(token);
        let found = self
            .store()
            .lookup(move |r| {
                async move {
                    let Some(session) = r.session(&token_hash).await? else { return Ok(None) };
                    let user = r.user(&session.tenant_id, &session.user_id).await?;
                    Ok(user.map(|user| (session, user)))
                }
                .boxed()
            })
            .await?;
        let Some((session, user)) = found else { return Ok(None) };
        let now = now();
        if !session_is_live(&session, &user, now) {
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_EVERY {
            self.store().write(move |tx| async move { tx.touch_session(&token_hash, now).await }.boxed()).await?;
        }
        Ok(Some(ActiveSession { user, token_hash, csrf_token: csrf_of(token) }))
    }

    /// Ends one session (log out).
    pub async fn end_session(&self, token_hash: [u8; 32]) -> StoreResult<()> {
        self.store().write(move |tx| async move { tx.revoke_session(&token_hash, now()).await }.boxed()).await?;
        Ok(())
    }

    /// Ends every session of a user (log out everywhere); answers how many.
    pub async fn end_all_sessions(&self, tenant: &TenantId, user: &UserId) -> StoreResult<u64> {
        let (tenant, user) = (tenant.clone(), user.clone());
        self.store().write(move |tx| async move { tx.revoke_user_sessions(&tenant, &user, now()).await }.boxed()).await
    }

    /// Changes a user's own password; the current one must be given. Other sessions end.
    pub async fn change_password(&self, user: &UserRecord, current: &str, new: &str) -> StoreResult<()> {
        validate_password(new)?;
        let (current, new, stored) = (current.to_owned(), new.to_owned(), user.password_hash.clone());
        let hash = blocking(
            move || {
                if password_matches(&current, &stored) { hash_password(&new).map(Some) } else { Ok(None) }
            },
        )
        .await??;
        let Some(hash) = hash else {
            return Err(
                DomainError::Invalid { field: "current_password", message: "is not your password".into() }.into()
            );
        };
        // A person's own password is no event: the audit trail would say nothing but "changed".
        self.change_user(&user.tenant_id, user.id.as_str(), None, move |u| u.password_hash = hash).await.map(drop)
    }

    /// Changes the role of a user of `actor`'s tenant and records `user.updated` with the role
    /// before and after, when it changed.
    pub async fn set_role(&self, actor: &Actor, id_or_email: &str, role: Role) -> StoreResult<UserRecord> {
        self.change_user(&actor.tenant_id, id_or_email, Some(actor.clone()), move |u| u.role = role).await
    }

    /// Disables a user of `actor`'s tenant and records `user.disabled` (once: disabling a
    /// disabled user changes nothing); every session of theirs stops working at once.
    pub async fn disable_user(&self, actor: &Actor, id_or_email: &str) -> StoreResult<UserRecord> {
        let at = now();
        self.change_user(&actor.tenant_id, id_or_email, Some(actor.clone()), move |u| {
            u.disabled_at.get_or_insert(at);
        })
        .await
    }

    /// Changes a user in one transaction and revokes their sessions when the change is a
    /// disabling or a new password (a stolen session must not outlive either). With an actor,
    /// a new role or a disabling is recorded in the same transaction.
    async fn change_user(
        &self,
        tenant: &TenantId,
        id_or_email: &str,
        actor: Option<Actor>,
        change: impl FnOnce(&mut UserRecord) + Send + 'static,
    ) -> StoreResult<UserRecord> {
        let (scope, tenant, key) = (tenant.clone(), tenant.clone(), id_or_email.to_owned());
        self.store()
            .write_for(&scope, move |tx| {
                async move {
                    let before = find_user(tx, &tenant, &key).await?;
                    let mut user = before.clone();
                    change(&mut user);
                    user.updated_at = now();
                    tx.update_user(&user).await?;
                    if user.disabled_at.is_some() || user.password_hash != before.password_hash {
                        tx.revoke_user_sessions(&tenant, &user.id, user.updated_at).await?;
                    }
                    if let Some(actor) = &actor {
                        if user.role != before.role {
                            let detail = json!({ "before": { "role": before.role }, "after": { "role": user.role } });
                            tx.record(actor, EventDraft::record(EventType::UserUpdated, audit::user(&user), detail));
                        }
                        if user.disabled_at.is_some() && before.disabled_at.is_none() {
                            tx.record(
                                actor,
                                EventDraft::record(EventType::UserDisabled, audit::user(&user), Value::Null),
                            );
                        }
                    }
                    Ok(user)
                }
                .boxed()
            })
            .await
    }
}

/// Whether a session still works at `now`: not revoked, not idle, not too old, its user enabled.
pub fn session_is_live(session: &SessionRecord, user: &UserRecord, now: Timestamp) -> bool {
    session.revoked_at.is_none()
        && user.disabled_at.is_none()
        && now - session.last_seen_at < SESSION_IDLE
        && now - session.created_at < SESSION_ABSOLUTE
}

async fn find_user(
    reader: &mut (impl paystate_store::Reader + ?Sized),
    tenant: &TenantId,
    id_or_email: &str,
) -> StoreResult<UserRecord> {
    if let Some(id) = UserId::parse(id_or_email) {
        return reader.user(tenant, &id).await?.ok_or(StoreError::NotFound);
    }
    let email = normalize_email(id_or_email).map_err(|_| StoreError::NotFound)?;
    let users = reader.users_with_email(&email).await?;
    users.into_iter().find(|u| &u.tenant_id == tenant).ok_or(StoreError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(disabled: bool) -> UserRecord {
        let now = now();
        UserRecord {
            id: UserId::generate(),
            tenant_id: TenantId::generate(),
            email: "ana@shop.example".into(),
            role: Role::Viewer,
            password_hash: String::new(),
            disabled_at: disabled.then_some(now),
            created_at: now,
            updated_at: now,
        }
    }

    fn session(user: &UserRecord, age: chrono::Duration, idle: chrono::Duration) -> SessionRecord {
        let now = now();
        SessionRecord {
            token_hash: [0; 32],
            tenant_id: user.tenant_id.clone(),
            user_id: user.id.clone(),
            created_at: now - age,
            last_seen_at: now - idle,
            revoked_at: None,
        }
    }

    #[test]
    fn sessions_expire_when_idle_too_old_revoked_or_their_user_is_disabled() {
        let (ana, gone) = (user(false), user(true));
        let minutes = chrono::Duration::minutes;
        assert!(session_is_live(&session(&ana, minutes(5), minutes(1)), &ana, now()));
        assert!(!session_is_live(&session(&ana, minutes(40), minutes(31)), &ana, now()), "idle");
        assert!(!session_is_live(&session(&ana, chrono::Duration::hours(13), minutes(1)), &ana, now()), "absolute");
        assert!(!session_is_live(&session(&gone, minutes(5), minutes(1)), &gone, now()), "disabled");
        let mut revoked = session(&ana, minutes(5), minutes(1));
        revoked.revoked_at = Some(now());
        assert!(!session_is_live(&revoked, &ana, now()), "revoked");
    }

    #[test]
    fn passwords_verify_and_csrf_tokens_differ_from_the_session_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("wrong horse battery", &hash));
        assert!(!password_matches("anything", dummy_hash()));
        let csrf = csrf_of("pss_token");
        assert_ne!(csrf, hex::encode(hash_token("pss_token")));
        assert_eq!(csrf, csrf_of("pss_token"));
    }
}
