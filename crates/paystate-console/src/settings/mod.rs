//! The tenant's dialect settings (Settings): every person reads them, with what each does and
//! its default; admins change them, one dialect's form at a time. Values are vetted by the same
//! rules as `PATCH /v1/tenant` ([`paystate_domain::dialect_settings`]) and saved through the
//! ledger's merge patch of the tenant; a bad value is answered on its form (422), never a 5xx.

use crate::Console;
use crate::error::{PageError, PageResult};
use crate::layout::Notice;
use crate::layout::{self, Section};
use crate::session::{Signed, see_other};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use paystate_domain::dialect_settings::{self, RULES};
use paystate_domain::{Currency, Tenant};
use paystate_ledger::is_key_taken;
use serde_json::{Value, json};

mod dialects;
use dialects::{DIALECTS, Dialect, Kind, Setting};

/// A dialect's form sent back with what is wrong with it.
struct Refused {
    dialect: &'static str,
    fields: Vec<(String, String)>,
    key: Option<&'static str>,
    message: String,
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// The setting as it reads in a form field (a list: one per line).
fn as_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(list)) => {
            list.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join("\n")
        }
        Some(other) => other.to_string(),
    }
}

/// The setting as it reads on the page.
fn shown(setting: &Setting, value: Option<&Value>) -> Markup {
    html! {
        @match value {
            None | Some(Value::Null) => span.hint { "default: " (setting.default) },
            Some(Value::Bool(b)) => { @if *b { "yes" } @else { "no" } },
            Some(Value::Array(list)) if list.is_empty() => span.hint { "an empty list" },
            Some(Value::Array(list)) => { @for (i, v) in list.iter().enumerate() { @if i > 0 { ", " } code { (as_text(Some(v))) } } },
            Some(v) => code { (as_text(Some(v))) },
        }
    }
}

/// A setting as the form sent it, as JSON (`null`: remove it, the default applies).
fn value(setting: &Setting, text: &str) -> Result<Value, String> {
    if text.contains('\0') {
        return Err(format!("{} must not contain a NUL character.", setting.label));
    }
    let text = text.trim();
    Ok(match setting.kind {
        _ if text.is_empty() => Value::Null,
        Kind::Switch => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("{}: pick yes, no or the default.", setting.label)),
        },
        // Stored as the code reads (`EUR`); an unknown one is refused by the rule below.
        Kind::Currency => json!(Currency::parse(text).map_or_else(|_| text.to_owned(), |c| c.code().to_owned())),
        Kind::List => {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            if let Some(blank) = lines.iter().position(|l| l.is_empty()) {
                return Err(format!(
                    "{}: line {} is empty. Write one merchant id per line, without empty lines.",
                    setting.label,
                    blank + 1
                ));
            }
            json!(lines)
        }
        Kind::Zone | Kind::Text => json!(text),
    })
}

/// The merge patch of one dialect's form, each value vetted by the rule `PATCH /v1/tenant` applies.
fn patch(dialect: &Dialect, fields: &[(String, String)]) -> Result<Value, (&'static str, String)> {
    let mut section = serde_json::Map::new();
    for setting in dialect.settings {
        let value = value(setting, field(fields, setting.key)).map_err(|message| (setting.key, message))?;
        let rule = RULES.iter().find(|r| r.section == dialect.name && r.key == setting.key);
        if let Some(rule) = rule
            && !value.is_null()
            && !(rule.valid)(&value)
        {
            let given = if let Value::String(s) = &value { format!("“{s}”") } else { "This value".to_owned() };
            return Err((setting.key, format!("{}: {given} is not {}.", setting.label, rule.expected)));
        }
        section.insert(setting.key.into(), value);
    }
    Ok(json!({"settings": {dialect.name: section}}))
}

fn form(dialect: &Dialect, tenant: &Tenant, csrf: &str, refused: Option<&Refused>) -> Markup {
    let refused = refused.filter(|r| r.dialect == dialect.name);
    html! {
        form.settings method="post" action=(format!("/dashboard/settings/{}", dialect.name)) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (crate::once::field())
            @if let Some(r) = refused { p.notice.bad role="alert" id=(format!("{}-error", dialect.name)) { (r.message) } }
            @for s in dialect.settings {
                @let id = format!("{}-{}", dialect.name, s.key);
                @let current = refused.map_or_else(|| as_text(tenant.setting(&[dialect.name, s.key])), |r| field(&r.fields, s.key).to_owned());
                @let wrong = refused.is_some_and(|r| r.key == Some(s.key));
                @let invalid = wrong.then_some("true");
                @let described = wrong.then(|| format!("{}-error", dialect.name));
                div.field {
                    label for=(id) { (s.label) " " span.hint { "(default: " (s.default) ")" } }
                    @match s.kind {
                        Kind::Switch => {
                            select id=(id) name=(s.key) aria-invalid=[invalid] aria-describedby=[described] {
                                option value="" selected[current.is_empty()] { "default (" (s.default) ")" }
                                option value="true" selected[current == "true"] { "yes" }
                                option value="false" selected[current == "false"] { "no" }
                            }
                        }
                        Kind::List => {
                            textarea id=(id) name=(s.key) rows="3" aria-invalid=[invalid] aria-describedby=[described] { (current) }
                        }
                        Kind::Zone => {
                            input id=(id) type="text" name=(s.key) value=(current) list="time-zones" autocomplete="off"
                                aria-invalid=[invalid] aria-describedby=[described];
                        }
                        Kind::Currency => {
                            input id=(id) type="text" name=(s.key) value=(current) maxlength="3" autocomplete="off"
                                aria-invalid=[invalid] aria-describedby=[described];
                        }
                        Kind::Text => {
                            input id=(id) type="text" name=(s.key) value=(current) autocomplete="off"
                                aria-invalid=[invalid] aria-describedby=[described];
                        }
                    }
                    p.hint { (s.does) }
                }
            }
            button type="submit" { "Save " (dialect.title) " settings" }
        }
    }
}

fn section(dialect: &Dialect, tenant: &Tenant, csrf: Option<&str>, refused: Option<&Refused>) -> Markup {
    html! {
        section.card.dialect #(dialect.name) aria-labelledby=(format!("{}-title", dialect.name)) {
            div.dialect-about {
                h2 id=(format!("{}-title", dialect.name)) { (dialect.title) }
                p.sub { (dialect.about) }
                p.hint {
                    "Guide: " code { "docs/dialects/" (dialect.name) ".md" } br;
                    a href=(format!("/docs/#/{}", dialect.name)) { "API reference (" (dialect.name) ")" }
                }
            }
            @if let Some(csrf) = csrf {
                (form(dialect, tenant, csrf, refused))
            } @else {
                dl.fields {
                    @for s in dialect.settings {
                        dt { (s.label) }
                        dd { (shown(s, tenant.setting(&[dialect.name, s.key]))) br; span.hint { (s.does) } }
                    }
                }
            }
        }
    }
}

async fn render(state: &Console, signed: &Signed, done: &str, refused: Option<Refused>) -> PageResult<Markup> {
    let tenant = state.ledger.tenant(&signed.session.user.tenant_id).await?;
    let admin = signed.session.user.role.can_administer();
    let csrf = admin.then_some(signed.session.csrf_token.as_str());
    let saved = DIALECTS.iter().find(|d| d.name == done);
    let body = html! {
        div.page-head { div {
            h1 { "Dialect settings" }
            p.sub { "How each vendor API reads this tenant's requests. The same settings as " code { "PATCH /v1/tenant" } ", checked the same way; an empty field means the default." }
        } }
        @if let Some(d) = saved { p.notice.ok role="status" { "The " (d.title) " settings are saved; the next request through it uses them." } }
        @if !admin { p.notice.info { "Your role is " (signed.session.user.role.as_str()) ": you can read these settings; admins change them." } }
        @for d in &DIALECTS { (section(d, &tenant, csrf, refused.as_ref())) }
        @if admin {
            datalist #time-zones { @for zone in dialect_settings::time_zones() { option value=(zone) {} } }
        }
    };
    Ok(layout::page("Dialect settings", &signed.session, Section::Settings, body))
}

pub async fn page(State(state): State<Console>, signed: Signed, Query(notice): Query<Notice>) -> PageResult<Markup> {
    render(&state, &signed, &notice.done, None).await
}

pub async fn save(
    State(state): State<Console>,
    signed: Signed,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult<Response> {
    signed.check_csrf(field(&fields, "csrf"))?;
    if !signed.session.user.role.can_administer() {
        return Err(PageError::forbidden("Only admins change dialect settings."));
    }
    let dialect = DIALECTS.iter().find(|d| d.name == name).ok_or_else(PageError::not_found)?;
    let refuse = |key: Option<&'static str>, message: String| {
        let refused = Refused { dialect: dialect.name, fields: fields.clone(), key, message };
        let (state, signed) = (&state, &signed);
        async move {
            let page = render(state, signed, "", Some(refused)).await?;
            Ok::<_, PageError>((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    };
    let patch = match patch(dialect, &fields) {
        Ok(patch) => patch,
        Err((key, message)) => return refuse(Some(key), message).await,
    };
    let once = crate::once::guard(field(&fields, "once"), &signed, &patch)?;
    let actor = signed.actor(patch.clone());
    match state.ledger.patch_tenant(&actor, patch.clone(), dialect_settings::check, once).await {
        Ok(_) => {
            tracing::info!(user = %signed.session.user.id, source = "dashboard", dialect = dialect.name, settings = %patch,
                "dialect settings changed in the console");
        }
        // The same form was sent before, and that one was saved.
        Err(error) if is_key_taken(&error) => {}
        Err(paystate_store::StoreError::Domain(error)) => return refuse(None, error.to_string()).await,
        Err(error) => return Err(error.into()),
    }
    Ok(see_other(&format!("/dashboard/settings?done={}#{}", dialect.name, dialect.name)))
}
