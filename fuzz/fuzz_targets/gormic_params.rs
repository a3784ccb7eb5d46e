//! Gormic's `{"params": {...}}` bodies for create, update and confirm: never a panic, and an
//! accepted create carries a positive amount in range once converted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paystate_http::dialects::gormic::extract::params;
use paystate_http::dialects::gormic::parse::{confirm, create, update};

fuzz_target!(|data: &[u8]| {
    let Ok(params) = params(data, true) else { return };
    if let Ok(created) = create(&params) {
        let eur = paystate_domain::Currency::parse("EUR").unwrap();
        if let Ok(minor) = created.amount.minor(eur) {
            assert!((1..=paystate_domain::MAX_AMOUNT_MINOR).contains(&minor));
        }
    }
    let _ = update(&params);
    let _ = confirm(&params);
});
