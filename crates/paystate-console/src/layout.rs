//! The frame of every console page: the document head, the top bar with navigation and the
//! signed-in person, and the embedded stylesheet (no CDN, no asset download at run time).

use axum::http::header;
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};
use paystate_ledger::ActiveSession;
use serde::Deserialize;

const STYLESHEET: &str = include_str!("../assets/console.css");
const SCRIPT: &str = include_str!("../assets/console.js");

/// The `?done=` of a page that an action sent the browser back to: what to tell of it.
#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    pub done: String,
}

/// Which section of the console a page belongs to, for the navigation's current marker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Payments,
    Orders,
    Review,
    Events,
    Webhooks,
    Users,
    Keys,
    Settings,
}

pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        SCRIPT,
    )
}

/// Every console answer: no framing by other sites (clickjacking of the action buttons), only
/// this server's own styles and script, no caching of pages that show payments and secrets.
pub async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    let set = [
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ];
    for (name, value) in set {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    let is_asset = headers.get(header::CACHE_CONTROL).is_some();
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    response
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="same-origin";
            title { (title) " · paystate" }
            link rel="stylesheet" href="/dashboard/assets/console.css";
            script src="/dashboard/assets/console.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main.narrow { a.brand href="/dashboard" { span.logo aria-hidden="true" { "◆" } "paystate" } (body) }
            }
        }
    }
}

/// A page of the console for a signed-in person.
pub fn page(title: &str, session: &ActiveSession, section: Section, body: Markup) -> Markup {
    let user = &session.user;
    let link = |target: Section, href: &'static str, label: &'static str| {
        html! {
            a href=(href) aria-current=[(section == target).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    a.brand href="/dashboard" { span.logo aria-hidden="true" { "◆" } "paystate" }
                    nav aria-label="Console" {
                        (link(Section::Overview, "/dashboard", "Overview"))
                        (link(Section::Payments, "/dashboard/payments", "Payments"))
                        (link(Section::Orders, "/dashboard/orders", "Orders"))
                        (link(Section::Review, "/dashboard/review", "Review queue"))
                        (link(Section::Events, "/dashboard/events", "Events"))
                        (link(Section::Webhooks, "/dashboard/webhooks", "Webhooks"))
                        (link(Section::Settings, "/dashboard/settings", "Settings"))
                        @if user.role.can_administer() {
                            (link(Section::Keys, "/dashboard/keys", "API keys"))
                            (link(Section::Users, "/dashboard/users", "Users"))
                        } @else {
                            (link(Section::Users, "/dashboard/users", "Account"))
                        }
                    }
                    div.who {
                        // A long address gives way in its local part; the domain always shows.
                        @let (local, domain) = user.email.rsplit_once('@').unwrap_or((user.email.as_str(), ""));
                        span.email title=(format!("{} · {}", user.email, user.tenant_id)) {
                            span.local { (local) } @if !domain.is_empty() { span.domain { "@" (domain) } }
                        }
                        span.role { (user.role.as_str()) }
                        form method="post" action="/dashboard/logout" {
                            input type="hidden" name="csrf" value=(session.csrf_token);
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main #main { (body) }
                footer.foot {
                    "Times are UTC. "
                    form.inline method="post" action="/dashboard/logout-everywhere" {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        button.link type="submit" { "Log out on every device" }
                    }
                }
            }
        }
    }
}
