//! The payment actions of the console: resolve a conflict (reason required), record a refund or
//! a chargeback. Each checks the CSRF token and the role first, then goes through the ledger
//! like any API call, recorded with the person as actor and `dashboard` as source.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use paystate_domain::payment::MissingAmount;
use paystate_domain::{Adjustment, Outcome, PaymentCommand, PaymentStatus};
use paystate_ledger::is_key_taken;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    status: String,
    /// The form's token: resolved twice, it is recorded once.
    #[serde(default)]
    once: String,
}

#[derive(Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    /// A token the form was rendered with: a form submitted twice (a double click, a resend after
    /// a lost answer) records its refund or chargeback once.
    #[serde(default)]
    once: String,
}

fn reason(text: &str, required: bool) -> PageResult<Option<String>> {
    let text = text.trim();
    if text.is_empty() {
        return if required { Err(PageError::invalid("Say why: a reason is required.")) } else { Ok(None) };
    }
    if text.chars().count() > 2000 || text.contains('\0') {
        return Err(PageError::invalid("The reason must be at most 2000 characters."));
    }
    Ok(Some(text.to_owned()))
}

pub async fn resolve(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ResolveForm>,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_operator()?;
    let reason = reason(&form.reason, true)?;
    let status = match form.status.trim() {
        "" => None,
        text => {
            Some(PaymentStatus::parse(text).ok_or_else(|| PageError::invalid(format!("{text:?} is not a status.")))?)
        }
    };
    let body = json!({"action": "resolve", "reason": reason, "status": status});
    let once = crate::once::guard(&form.once, &signed, &body)?;
    let actor = signed.actor(body);
    let payment = match state.ledger.command(&actor, &id, PaymentCommand::Resolve { status }, reason, once).await {
        Ok((payment, _)) => payment.id.to_string(),
        // The same form was submitted before, and that submission was recorded.
        Err(error) if is_key_taken(&error) => {
            state.ledger.payment(&signed.session.user.tenant_id, &id).await?.id.to_string()
        }
        Err(error) => return Err(error.into()),
    };
    Ok(see_other(&format!("/dashboard/payments/{payment}?done=resolved")))
}

pub async fn refund(
    state: State<Console>,
    signed: Signed,
    id: Path<String>,
    form: Form<AdjustForm>,
) -> PageResult<Response> {
    adjust(state, signed, id, form, Adjustment::Refund).await
}

pub async fn chargeback(
    state: State<Console>,
    signed: Signed,
    id: Path<String>,
    form: Form<AdjustForm>,
) -> PageResult<Response> {
    adjust(state, signed, id, form, Adjustment::Chargeback).await
}

async fn adjust(
    State(state): State<Console>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<AdjustForm>,
    kind: Adjustment,
) -> PageResult<Response> {
    signed.check_csrf(&form.csrf)?;
    signed.require_operator()?;
    let reason = reason(&form.reason, false)?;
    let tenant = &signed.session.user.tenant_id;
    let payment = state.ledger.payment(tenant, &id).await?;
    let amount = match form.amount.trim() {
        "" => None,
        // Decimal text in the currency's major unit, parsed exactly (never through floats).
        text => Some(payment.currency.minor_from_decimal_str(text).map_err(|e| PageError::invalid(e.to_string()))?),
    };
    let (name, done) = match kind {
        Adjustment::Refund => ("refund", "refund"),
        Adjustment::Chargeback => ("chargeback", "chargeback"),
    };
    let body = json!({"action": name, "amount": amount, "reason": reason});
    let once = crate::once::guard(&form.once, &signed, &body)?;
    let actor = signed.actor(body);
    let command = PaymentCommand::Adjust { kind, amount, missing: MissingAmount::Remaining };
    let done_before = || see_other(&format!("/dashboard/payments/{}?done={done}", payment.id));
    let (payment, outcome) = match state.ledger.command(&actor, payment.id.as_str(), command, reason, once).await {
        // The same form was submitted before, and that submission was recorded.
        Err(error) if is_key_taken(&error) => return Ok(done_before()),
        other => other?,
    };
    if let Outcome::Conflict { current, .. } = outcome {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "Not recorded",
            format!(
                "A {name} of a {current} payment contradicts it: it was logged as a conflict and flagged for review."
            ),
        ));
    }
    Ok(see_other(&format!("/dashboard/payments/{}?done={done}", payment.id)))
}
