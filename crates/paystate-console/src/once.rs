//! Forms that act once: each state-changing form is rendered with a fresh token (`once`), and
//! the ledger claims `dashboard:<user>:<token>` as an idempotency key in the transaction that
//! makes the change. A form submitted twice (a double click, a resend after a lost answer) is
//! answered as done the second time, and nothing is written again.

use crate::error::{PageError, PageResult};
use crate::session::Signed;
use maud::{Markup, html};
use paystate_ledger::Once;
use paystate_store::{IdempotencyKey, StoredResponse};

/// The hidden input that carries a new token; one per rendered form.
pub fn field() -> Markup {
    html! { input type="hidden" name="once" value=(uuid::Uuid::now_v7().simple().to_string()); }
}

/// The exactly-once guard of a form rendered with the token `once` (empty: none, for scripts
/// that post without it). The key is the person's token; the fingerprint, what the form asked.
pub fn guard<T>(once: &str, signed: &Signed, body: &serde_json::Value) -> PageResult<Option<Once<T>>> {
    if once.is_empty() {
        return Ok(None);
    }
    if once.len() > 64 || !once.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(PageError::invalid("The form is damaged; load the page again."));
    }
    let user = &signed.session.user;
    let key = IdempotencyKey {
        tenant_id: user.tenant_id.clone(),
        key: format!("dashboard:{}:{once}", user.id),
        fingerprint: body.to_string(),
    };
    // The console answers with a redirect of its own; what is stored only marks the key used
    // (never a secret: a key's or endpoint's secret, a generated password).
    let answered =
        |_: &T| StoredResponse { status: 303, content_type: String::new(), headers: Vec::new(), body: Vec::new() };
    Ok(Some(Once::new(key, answered)))
}
