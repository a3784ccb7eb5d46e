//! paystate's operator console: server-rendered HTML pages under `/dashboard` for the people
//! who act on payments (support, finance, engineers), with their own users and sessions.
//!
//! The crate owns the pages, forms, sessions as cookies and CSRF checks; everything it reads or
//! changes goes through the [`Ledger`], like the API and the CLI, and every change it makes is
//! recorded with the signed-in user as actor and `dashboard` as source. `paystate-http` mounts
//! [`router`] under `/dashboard`. No JavaScript is needed (one small script only adds the viewer's
//! time zone to hover texts); the stylesheet and the script are embedded in the binary.

mod actions;
mod changes;
mod correct;
mod endpoints;
mod error;
mod events;
mod export;
mod format;
mod keys;
mod layout;
mod login;
mod once;
mod orders;
mod overview;
mod payment;
mod payments;
mod review;
mod session;
mod settings;
mod throttle;
mod users;
mod webhooks;

use axum::Router;
use axum::routing::{get, post};
use paystate_ledger::Ledger;
use paystate_webhooks::Webhooks;
use std::sync::Arc;

/// What every console handler shares.
#[derive(Clone)]
pub struct Console(Arc<Shared>);

pub struct Shared {
    pub ledger: Ledger,
    /// The webhook use cases (endpoints, secrets, tests), as the native API uses them.
    pub webhooks: Webhooks,
    throttle: throttle::Throttle,
    figures: overview::FiguresCache,
}

impl std::ops::Deref for Console {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The console's routes, relative to where they are mounted (`/dashboard`). The state is
/// applied here, so the router fits any outer application's state.
pub fn router<S: Clone + Send + Sync + 'static>(ledger: Ledger, webhooks: Webhooks) -> Router<S> {
    let state = Console(Arc::new(Shared {
        ledger,
        webhooks,
        throttle: throttle::Throttle::default(),
        figures: overview::FiguresCache::default(),
    }));
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/logout-everywhere", post(login::logout_everywhere))
        .route("/assets/console.css", get(layout::stylesheet))
        .route("/assets/console.js", get(layout::script))
        .route("/payments", get(payments::page))
        .route("/payments.csv", get(export::csv))
        .route("/payments/{id}", get(payment::page))
        .route("/payments/{id}/resolve", post(actions::resolve))
        .route("/payments/{id}/refunds", post(actions::refund))
        .route("/payments/{id}/chargebacks", post(actions::chargeback))
        .route("/payments/{id}/correct", post(correct::submit))
        .route("/review", get(review::page))
        .route("/events", get(events::page))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::detail))
        .route("/users", get(users::page).post(users::create))
        .route("/users/{id}/disable", post(users::disable))
        .route("/users/{id}/role", post(users::change_role))
        .route("/account/password", post(users::change_password))
        .route("/keys", get(keys::page).post(keys::create))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/settings", get(settings::page))
        .route("/settings/{dialect}", post(settings::save))
        .route("/webhooks", get(webhooks::page))
        .route("/webhooks/deliveries/{id}/retry", post(webhooks::retry))
        .route("/webhooks/endpoints", post(endpoints::create))
        .route("/webhooks/endpoints/{id}/rotate", post(endpoints::rotate))
        .route("/webhooks/endpoints/{id}/disable", post(endpoints::disable))
        .route("/webhooks/endpoints/{id}/enable", post(endpoints::enable))
        .route("/webhooks/endpoints/{id}/test", post(endpoints::test))
        .fallback(error::not_found_page)
        .layer(axum::middleware::map_response(layout::security_headers))
        .with_state(state)
}
