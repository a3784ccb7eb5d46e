//! The vendor dialects: each module speaks one vendor's API byte-compatibly at its documented
//! paths. A dialect is a translator, laid out by one template (`extract`, `wire`, `parse`,
//! `render`, `errors` beside its `mod.rs`; docs/dialects/adding-a-dialect.md): it reads the
//! vendor's request into one of the ledger's use cases and writes the typed result back in the
//! vendor's words. It opens no transaction and holds no rule; vendor vocabulary stays inside its
//! folder. [`json`] is the lenient JSON reader they share.
//!
//! They are modules of `paystate-http`, not a crate of their own: each is mostly its HTTP
//! surface, and what is not HTTP already lives where every surface shares it (the domain's
//! rules, the ledger's use cases).

pub mod gormic;
pub mod json;
pub mod norce;
pub mod omnicasa;
pub mod teljoy;

use crate::{AppState, HttpConfig};
use axum::Router;

pub fn router(config: &HttpConfig) -> Router<AppState> {
    Router::new().merge(omnicasa::router(config)).merge(norce::router()).merge(gormic::router()).merge(teljoy::router())
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
        let (status, _, norce) = body(super::norce::on_panic(Box::new("boom"))).await;
        assert_eq!((status, norce["code"].as_str()), (500, Some("internal-server-error")));
        let (status, _, omnicasa) = body(super::omnicasa::on_panic(Box::new("boom"))).await;
        assert_eq!((status, omnicasa["Success"].as_bool(), omnicasa["Value"].as_i64()), (500, Some(false), Some(0)));
        let (status, content_type, teljoy) = body(super::teljoy::on_panic(Box::new("boom"))).await;
        assert_eq!((status, teljoy["status"].as_i64()), (500, Some(500)));
        assert!(content_type.starts_with("application/problem+json"), "{content_type}");
        assert!(teljoy.get("traceId").is_some(), "{teljoy}");
        assert!(!teljoy.to_string().contains("boom"), "the cause never reaches the body");
    }
}
