//! The vendor dialects: each module speaks one vendor's API byte-compatibly at its documented
//! path, and translates its wire types into ledger commands and back. Vendor vocabulary stays
//! inside its module.

pub mod gormic;
pub mod norce;
pub mod omnicasa;
pub mod teljoy;

use crate::{AppState, HttpConfig};
use axum::Router;

pub fn router(config: &HttpConfig) -> Router<AppState> {
    Router::new().merge(omnicasa::router(config)).merge(norce::router()).merge(gormic::router()).merge(teljoy::router())
}

/// Vets the per-dialect tenant settings a merge patch leaves, so that a typo is refused when it
/// is written (400) rather than failing the dialect's requests later.
pub fn check_settings(tenant: &paystate_domain::Tenant) -> Result<(), paystate_domain::DomainError> {
    use serde_json::Value;
    let invalid = |path: &str, expected: &str| paystate_domain::DomainError::Invalid {
        field: "settings",
        message: format!("settings.{path} must be {expected}"),
    };
    // (dialect, key, what a valid value is, the test of one)
    type Check = (&'static str, &'static str, &'static str, fn(&Value) -> bool);
    let checks: [Check; 6] = [
        ("omnicasa", "timezone", "an IANA time zone name such as Europe/Brussels", |v| {
            v.as_str().is_some_and(|name| name.parse::<chrono_tz::Tz>().is_ok())
        }),
        ("omnicasa", "create_unknown_orders", "true or false", Value::is_boolean),
        ("omnicasa", "currency", "an ISO 4217 currency code", |v| {
            v.as_str().is_some_and(|code| paystate_domain::Currency::parse(code).is_ok())
        }),
        ("norce", "merchants", "a list of merchant ids", |v| {
            v.as_array().is_some_and(|list| list.iter().all(|m| m.as_str().is_some_and(|s| !s.is_empty())))
        }),
        ("gormic", "organization_id", "a non-empty string", |v| v.as_str().is_some_and(|s| !s.is_empty())),
        ("teljoy", "verify_trust", "true or false", Value::is_boolean),
    ];
    for section in ["omnicasa", "norce", "gormic", "teljoy"] {
        if tenant.setting(&[section]).is_some_and(|v| !v.is_object()) {
            return Err(invalid(section, "an object"));
        }
    }
    for (section, key, expected, valid) in checks {
        if let Some(value) = tenant.setting(&[section, key])
            && !valid(value)
        {
            return Err(invalid(&format!("{section}.{key}"), expected));
        }
    }
    Ok(())
}

/// Each dialect's part of the OpenAPI document.
pub fn openapi_parts() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![omnicasa::Doc::openapi(), norce::Doc::openapi(), gormic::Doc::openapi(), teljoy::Doc::openapi()]
}

#[cfg(test)]
mod tests {
    use axum::response::Response;

    async fn body(response: Response) -> (u16, String, serde_json::Value) {
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, serde_json::from_slice(&bytes).unwrap())
    }

    /// A handler that panics answers in its own dialect's error format, never the native one.
    #[tokio::test]
    async fn a_panic_answers_in_the_dialects_own_format() {
        let (status, _, gormic) = body(super::gormic::on_panic(Box::new("boom"))).await;
        assert_eq!((status, gormic["error"]["code"].as_str()), (500, Some("INTERNAL_ERROR")));
        let (status, _, omnicasa) = body(super::omnicasa::on_panic(Box::new("boom"))).await;
        assert_eq!((status, omnicasa["Success"].as_bool(), omnicasa["Value"].as_i64()), (500, Some(false), Some(0)));
        let (status, content_type, teljoy) = body(super::teljoy::on_panic(Box::new("boom"))).await;
        assert_eq!((status, teljoy["status"].as_i64()), (500, Some(500)));
        assert!(content_type.starts_with("application/problem+json"), "{content_type}");
        assert!(teljoy.get("traceId").is_some(), "{teljoy}");
        assert!(!teljoy.to_string().contains("boom"), "the cause never reaches the body");
    }
}
