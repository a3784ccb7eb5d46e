//! The native API's JSON bodies, deserialized as the server does (unknown fields refused): never a
//! panic, and an accepted amount converts to a valid payment or is refused by the domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paystate_http::native::{orders, payments};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<orders::CreateOrder>(data);
    let _ = serde_json::from_slice::<orders::PatchOrder>(data);
    let _ = serde_json::from_slice::<payments::PatchPayment>(data);
    let _ = serde_json::from_slice::<payments::ReportStatus>(data);
    let _ = serde_json::from_slice::<payments::Adjust>(data);
    if let Ok(create) = serde_json::from_slice::<payments::CreatePayment>(data) {
        let _ = paystate_domain::money::check_range(create.amount);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let eur = paystate_domain::Currency::parse("EUR").unwrap();
        if let Ok(minor) = eur.minor_from_json_number(text) {
            assert_eq!(eur.minor_from_json_number(&eur.major_text(minor)), Ok(minor));
        }
    }
});
