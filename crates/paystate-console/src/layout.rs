//! The frame of every console page: the document head, the top bar with navigation and the
//! signed-in person, and the embedded stylesheet (no CDN, no asset download at run time).

use axum::http::header;
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};
use paystate_ledger::ActiveSession;

const STYLESHEET: &str = include_str!("../assets/console.css");

/// Which section of the console a page belongs to, for the navigation's current marker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Payments,
    Orders,
    Review,
    Webhooks,
    Users,
    Keys,
}

pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="same-origin";
            title { (title) " · paystate" }
            link rel="stylesheet" href="/dashboard/assets/console.css";
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
                        (link(Section::Webhooks, "/dashboard/webhooks", "Webhooks"))
                        @if user.role.can_administer() {
                            (link(Section::Keys, "/dashboard/keys", "API keys"))
                            (link(Section::Users, "/dashboard/users", "Users"))
                        } @else {
                            (link(Section::Users, "/dashboard/users", "Account"))
                        }
                    }
                    div.who {
                        span.email title=(format!("{} · {}", user.email, user.tenant_id)) { (user.email) }
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
