//! The OpenAPI document, generated from the handlers' annotations.

use crate::native::{events, keys, methods, orders, payments, stream, tenant, webhooks};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "paystate", description = "The payment state hub: one canonical, audited state per payment."),
    paths(
        orders::create, orders::get, orders::list, orders::patch, orders::set_state,
        payments::create, payments::get, payments::list, payments::patch, payments::delete,
        payments::report_status, payments::refund, payments::chargeback, payments::resolve,
        methods::create, methods::list, methods::get, methods::patch,
        events::list, events::of_payment, stream::stream,
        tenant::get, tenant::patch,
        keys::create, keys::list, keys::revoke,
        webhooks::create, webhooks::list, webhooks::get, webhooks::patch, webhooks::delete,
        webhooks::rotate_secret, webhooks::endpoint_deliveries, webhooks::event_deliveries,
        webhooks::get_delivery, webhooks::retry, webhooks::retry_failed, webhooks::test,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The whole document: the native API and every dialect.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for part in crate::dialects::openapi_parts() {
        document.merge(part);
    }
    document
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
