//! What a `payment.updated` event changed, field by field, before → after: read from the
//! event's detail (the payment as it was and as it became), for the timeline and the events feed.
//! The tenant's `tenant.updated` (name, settings) and `user.updated` (role) read the same way.

use crate::format::money;
use maud::{Markup, html};
use paystate_domain::{Currency, EventType, StoredEvent};
use serde_json::Value;

/// The fields a correction may change, with the names people read.
const FIELDS: [(&str, &str); 8] = [
    ("amount", "amount"),
    ("external_id", "external id"),
    ("transaction_ref", "transaction ref"),
    ("invoice_id", "invoice"),
    ("method_id", "method"),
    ("note", "note"),
    ("custom", "custom"),
    ("attrs", "attributes"),
];

/// What a change of the tenant's set-up may change.
const TENANT_FIELDS: [(&str, &str); 2] = [("name", "name"), ("settings", "settings")];
const USER_FIELDS: [(&str, &str); 1] = [("role", "role")];

/// How an absent value reads.
const NONE: &str = "none";

/// Longer values are cut on the page (the event keeps them whole).
const SHOWN: usize = 120;

pub struct Change {
    pub label: &'static str,
    pub before: String,
    pub after: String,
}

fn text(value: &Value, field: &str, currency: Option<&Currency>) -> String {
    let shown = match value {
        Value::Null => return NONE.to_owned(),
        Value::Number(n) if field == "amount" => match (n.as_i64(), currency) {
            (Some(minor), Some(currency)) => money(minor, currency),
            _ => n.to_string(),
        },
        Value::String(s) if s.is_empty() => return NONE.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if shown.chars().count() > SHOWN { format!("{}…", shown.chars().take(SHOWN).collect::<String>()) } else { shown }
}

/// The fields an update event changed; empty for any other event.
pub fn of(e: &StoredEvent) -> Vec<Change> {
    let fields: &[(&str, &str)] = match e.kind {
        EventType::PaymentUpdated => &FIELDS,
        EventType::TenantUpdated => &TENANT_FIELDS,
        EventType::UserUpdated => &USER_FIELDS,
        _ => return Vec::new(),
    };
    let (before, after) = (&e.detail["before"], &e.detail["after"]);
    let currency = after["currency"].as_str().and_then(|c| Currency::parse(c).ok());
    fields
        .iter()
        .filter(|(field, _)| before[field] != after[field])
        .map(|(field, label)| Change {
            label,
            before: text(&before[field], field, currency.as_ref()),
            after: text(&after[field], field, currency.as_ref()),
        })
        .collect()
}

/// The changes as a short list: `amount 25.00 EUR → 24.00 EUR`; nothing for other events.
pub fn list(e: &StoredEvent) -> Markup {
    let changes = of(e);
    html! {
        @if !changes.is_empty() {
            ul.changes {
                @if e.detail["correction"] == true { li.correction { span.badge.outcome-resolved { "correction of a settled payment" } } }
                @for c in &changes {
                    li {
                        span.label { (c.label) } " "
                        @if c.before == NONE { span.none { (NONE) } } @else { del { (c.before) } }
                        " → "
                        @if c.after == NONE { span.none { (NONE) } } @else { ins { (c.after) } }
                    }
                }
            }
        }
    }
}
