//! Teljoy's status body as the model binder reads it, and its trust seed: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paystate_http::dialects::teljoy::parse::{bind, decode_seed};

fuzz_target!(|data: &[u8]| {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = bind(&object);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_seed(text);
    }
});
