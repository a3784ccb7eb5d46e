//! Correcting a payment's fields (operators and admins): the amount (major units as text,
//! converted exactly by the currency's exponent), the external id, the transaction reference,
//! the invoice id, the method and the note. A reason is required; the ledger records the change
//! as one `payment.updated` event with the person, the reason and the payment before and after.
//! Every change made here is an audited correction, so a settled (paid or reversed) payment
//! takes it too. Bad input is answered on the form itself (422), never as a 5xx.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paystate_domain::{DomainError, Payment, PaymentCommand, PaymentMethod, PaymentPatch};
use paystate_ledger::is_key_taken;
use paystate_store::StoreError;
use serde::Deserialize;
use serde_json::json;

mod form;
pub use form::form;

/// The longest external id (as the domain has it) and the longest free text.
pub(super) const REFERENCE_MAX: usize = 200;
pub(super) const TEXT_MAX: usize = 2000;

/// What the form said, kept to show it again with a problem.
#[derive(Deserialize, Default, Clone)]
pub struct Draft {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) once: String,
    /// The payment's version when the form was rendered: a change made since is not overwritten.
    #[serde(default)]
    pub(super) version: String,
    #[serde(default)]
    pub(super) amount: String,
    #[serde(default)]
    pub(super) external_id: String,
    #[serde(default)]
    pub(super) transaction_ref: String,
    #[serde(default)]
    pub(super) invoice_id: String,
    #[serde(default)]
    pub(super) method_id: String,
    #[serde(default)]
    pub(super) note: String,
    #[serde(default)]
    pub(super) reason: String,
}

/// What is wrong with a submitted form: the field it concerns (none: the form as a whole).
pub struct Problem {
    pub(super) field: Option<&'static str>,
    pub(super) message: String,
}

/// A form shown again with what it said and what is wrong with it.
pub struct Refused {
    pub draft: Draft,
    pub problem: Problem,
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem { field: Some(field), message: message.into() }
}

impl Draft {
    /// The form as first rendered: the payment's values as they are.
    pub(super) fn of(payment: &Payment) -> Draft {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Draft {
            version: payment.version.to_string(),
            amount: payment.currency.major_text_fixed(payment.amount),
            external_id: text(&payment.external_id),
            transaction_ref: text(&payment.transaction_ref),
            invoice_id: text(&payment.invoice_id),
            method_id: payment.method_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            note: text(&payment.note),
            ..Draft::default()
        }
    }
}

/// The amount in major units as typed ("24.99"), exactly in minor units.
fn amount(text: &str, payment: &Payment) -> Result<i64, Problem> {
    let text = text.trim();
    let code = payment.currency.code();
    if text.is_empty() {
        return Err(problem("amount", format!("Give the amount in {code}.")));
    }
    if text.starts_with('-') {
        return Err(problem("amount", "The amount cannot be negative."));
    }
    payment.currency.minor_from_decimal_str(text).map_err(|error| match error {
        DomainError::TooManyDecimals { exponent: 0, .. } => {
            problem("amount", format!("{code} has no decimals: write a whole number, not {text}."))
        }
        DomainError::TooManyDecimals { exponent, .. } => problem(
            "amount",
            format!("{code} has {exponent} decimal{}: {text} has more.", if exponent == 1 { "" } else { "s" }),
        ),
        DomainError::AmountOutOfRange => problem("amount", "The amount is too large."),
        _ => problem(
            "amount",
            format!(
                "Write the amount in {code} as digits with a dot before the decimals, e.g. {}.",
                payment.currency.major_text_fixed(2499)
            ),
        ),
    })
}

/// One line of text: empty clears the field; no control characters, at most `max` characters.
fn line(field: &'static str, label: &str, text: &str, max: usize) -> Result<Option<String>, Problem> {
    let text = text.trim();
    if text.chars().any(char::is_control) {
        return Err(problem(field, format!("{label} must not contain control characters such as tabs.")));
    }
    if text.chars().count() > max {
        return Err(problem(field, format!("{label} must be at most {max} characters.")));
    }
    Ok(Some(text.to_owned()).filter(|t| !t.is_empty()))
}

/// The note: several lines allowed, other control characters not.
fn note(text: &str) -> Result<Option<String>, Problem> {
    let text = text.trim().replace("\r\n", "\n");
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(problem("note", "The note must not contain control characters."));
    }
    if text.chars().count() > TEXT_MAX {
        return Err(problem("note", format!("The note must be at most {TEXT_MAX} characters.")));
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn reason(text: &str) -> Result<String, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(problem("reason", "Say why: a reason is required, and kept in the audit trail."));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(problem("reason", "The reason must not contain control characters."));
    }
    if text.chars().count() > TEXT_MAX {
        return Err(problem("reason", format!("The reason must be at most {TEXT_MAX} characters.")));
    }
    Ok(text.to_owned())
}

/// The patch of the fields the form changes (only those), with the reason.
fn patch(draft: &Draft, payment: &Payment, methods: &[PaymentMethod]) -> Result<(PaymentPatch, String), Problem> {
    let amount = amount(&draft.amount, payment)?;
    let external_id = line("external_id", "The external id", &draft.external_id, REFERENCE_MAX)?;
    let transaction_ref = line("transaction_ref", "The transaction reference", &draft.transaction_ref, TEXT_MAX)?;
    let invoice_id = line("invoice_id", "The invoice id", &draft.invoice_id, TEXT_MAX)?;
    let method_id = match draft.method_id.trim() {
        "" => None,
        chosen => Some(
            methods
                .iter()
                .find(|m| m.id.as_str() == chosen)
                .map(|m| m.id.clone())
                .ok_or_else(|| problem("method_id", "Pick a method from the list."))?,
        ),
    };
    let note = note(&draft.note)?;
    let reason = reason(&draft.reason)?;
    let changed = |new: Option<String>, old: &Option<String>| (new != *old).then_some(new);
    let patch = PaymentPatch {
        amount: (amount != payment.amount).then_some(amount),
        method_id: (method_id != payment.method_id).then_some(method_id),
        external_id: changed(external_id, &payment.external_id),
        transaction_ref: changed(transaction_ref, &payment.transaction_ref),
        invoice_id: changed(invoice_id, &payment.invoice_id),
        note: changed(note, &payment.note),
        // A person's change is always an audited correction, of a settled payment too.
        correction: true,
        ..PaymentPatch::default()
    };
    Ok((patch, reason))
}

fn is_empty(patch: &PaymentPatch) -> bool {
    *patch == PaymentPatch { correction: patch.correction, ..PaymentPatch::default() }
}

/// What the form asks, as kept in the audit trail (the event's request body) and as the
/// fingerprint of its once-token.
fn asked(patch: &PaymentPatch, reason: &str) -> serde_json::Value {
    let mut changes = serde_json::Map::new();
    if let Some(amount) = patch.amount {
        changes.insert("amount".into(), json!(amount));
    }
    if let Some(method) = &patch.method_id {
        changes.insert("method_id".into(), json!(method.as_ref().map(|m| m.as_str())));
    }
    for (name, value) in [
        ("external_id", &patch.external_id),
        ("transaction_ref", &patch.transaction_ref),
        ("invoice_id", &patch.invoice_id),
        ("note", &patch.note),
    ] {
        if let Some(value) = value {
            changes.insert(name.into(), json!(value));
        }
    }
    json!({"action": "correct", "changes": changes, "reason": reason})
}

pub async fn submit(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(draft): Form<Draft>,
) -> PageResult<Response> {
    signed.check_csrf(&draft.csrf)?;
    signed.require_operator()?;
    let tenant = &signed.session.user.tenant_id;
    let payment = state.ledger.payment(tenant, &id).await?;
    let done = see_other(&format!("/dashboard/payments/{}?done=corrected#timeline", payment.id));
    let methods = state.ledger.methods(tenant).await?;
    let refuse = |draft: Draft, problem: Problem, status: StatusCode| {
        let state = state.clone();
        let id = payment.id.to_string();
        let signed = &signed;
        async move {
            let page = crate::payment::render(&state, signed, &id, "", Some(Refused { draft, problem })).await?;
            Ok::<_, PageError>((status, page).into_response())
        }
    };
    let (patch, reason) = match patch(&draft, &payment, &methods) {
        Ok(asked) => asked,
        Err(problem) => return refuse(draft, problem, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    if draft.version != payment.version.to_string() {
        // Sent again after it was recorded (the values already hold), or changed by someone else
        // since the form was rendered: never overwrite what the person did not see.
        if is_empty(&patch) {
            return Ok(done);
        }
        let message = "The payment changed since this form was opened. Its current fields are shown \
                       below the timeline; check them, then save again.";
        let draft = Draft { version: payment.version.to_string(), ..draft };
        return refuse(draft, Problem { field: None, message: message.into() }, StatusCode::CONFLICT).await;
    }
    if is_empty(&patch) {
        let problem = Problem { field: None, message: "Nothing to correct: every field has its current value.".into() };
        return refuse(draft, problem, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let body = asked(&patch, &reason);
    let once = crate::once::guard(&draft.once, &signed, &body)?;
    let actor = signed.actor(body);
    let command = PaymentCommand::Update(patch);
    match state.ledger.command(&actor, payment.id.as_str(), command, Some(reason), once).await {
        Ok(_) => {}
        // The same form was submitted before, and that submission was recorded.
        Err(error) if is_key_taken(&error) => {}
        Err(StoreError::Domain(error)) => return refuse(draft, refused(error), StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(StoreError::Duplicate(_)) => {
            let problem = problem("external_id", "Another payment of this tenant already has this external id.");
            return refuse(draft, problem, StatusCode::CONFLICT).await;
        }
        Err(error) => return Err(error.into()),
    }
    Ok(done)
}

/// What the domain refused, said on the form.
fn refused(error: DomainError) -> Problem {
    match error {
        DomainError::Invalid { field: "amount", message } if message.contains("refunded") => {
            problem("amount", "The amount cannot be below what was already refunded and charged back.")
        }
        DomainError::Invalid { field, message } => {
            let field = ["amount", "external_id", "transaction_ref", "invoice_id", "method_id", "note"]
                .into_iter()
                .find(|f| *f == field);
            Problem { field, message: format!("{}: {message}.", field.unwrap_or("The form")) }
        }
        DomainError::Deleted => Problem { field: None, message: "The payment is deleted: nothing changes it.".into() },
        DomainError::NotAllowed { status, .. } => {
            Problem { field: None, message: format!("A correction is not possible while the payment is {status}.") }
        }
        other => Problem { field: None, message: other.to_string() },
    }
}
