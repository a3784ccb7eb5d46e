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

/// The whole document: the native API and every dialect, with the rules of
/// [`crate::schema_rules`] (which utoipa's model cannot hold, so the document is JSON).
pub fn document() -> serde_json::Value {
    let mut document = ApiDoc::openapi();
    native_problems(&mut document);
    for part in crate::dialects::openapi_parts() {
        document.merge(part);
    }
    let mut value = serde_json::to_value(&document).expect("the document serializes");
    crate::schema_rules::apply(&mut value);
    value
}

/// The problems every native operation may answer, whatever it does: a client generated from the
/// document must expect them, as `application/problem+json`.
const COMMON_PROBLEMS: [(&str, &str); 8] = [
    ("400", "The request is invalid (malformed JSON, a wrong type, an unknown field, a bad parameter)"),
    ("401", "No valid API key"),
    ("403", "The key's scope does not allow this, or it is limited to a dialect"),
    ("404", "No such resource for this tenant"),
    ("413", "The body exceeds 1 MiB"),
    ("415", "The body is not application/json"),
    (
        "422",
        "The request cannot be applied in the current state (or its Idempotency-Key was used with another request)",
    ),
    ("503", "The database is busy; retry (Retry-After)"),
];

/// Every native error answer is RFC 9457 problem+json: the operations' own error responses say
/// so, and each operation lists the problems every operation may answer (409 where it changes
/// something: a duplicate, a concurrent update, a status conflict).
fn native_problems(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
    let problem =
        || ContentBuilder::new().schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem")))).build();
    for item in document.paths.paths.values_mut() {
        let changing = [item.post.as_mut(), item.patch.as_mut(), item.delete.as_mut()];
        let reading = [item.get.as_mut()];
        for (operation, changes) in
            changing.into_iter().map(|o| (o, true)).chain(reading.into_iter().map(|o| (o, false)))
        {
            let Some(operation) = operation else { continue };
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (RefOr::T(response), true) = (response, status.starts_with('4') || status.starts_with('5'))
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert("application/problem+json".into(), content);
                }
            }
            let conflict = changes.then_some(("409", "A duplicate, a concurrent change, or a contradicting status"));
            for (status, description) in COMMON_PROBLEMS.into_iter().chain(conflict) {
                responses.entry(status.into()).or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(description)
                            .content("application/problem+json", problem())
                            .build(),
                    )
                });
            }
        }
    }
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
