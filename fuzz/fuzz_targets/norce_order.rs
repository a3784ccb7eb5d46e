//! Norce's update-payment hook body: whatever the bytes, the parser answers (a hook or a refusal
//! naming a field) without panicking, and an accepted hook's amounts are valid minor units.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paystate_http::dialects::norce::parse::{Ids, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let ids = Ids { order_id: "o_1".into(), payment_id: "p_1".into(), merchant: "norce".into(), channel: "se".into() };
    if let Ok(hook) = parse(&value, ids) {
        assert!((0..=paystate_domain::MAX_AMOUNT_MINOR).contains(&hook.update.payment.amount));
        assert!(hook.update.total.is_none_or(|total| (0..=paystate_domain::MAX_AMOUNT_MINOR).contains(&total)));
    }
});
