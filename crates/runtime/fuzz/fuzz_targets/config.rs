//! config.json through the path `create` takes before it makes anything:
//! `parse_config`, then the runtime's own rules. The contract it checks is
//! shared with the tests that run in `just test` (tests/contract).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/contract/mod.rs"]
mod contract;

fuzz_target!(|data: &[u8]| {
    // `Bundle::load` reads the file as UTF-8: other bytes stop at the read.
    if let Ok(text) = std::str::from_utf8(data) {
        contract::check_config(text);
    }
});
