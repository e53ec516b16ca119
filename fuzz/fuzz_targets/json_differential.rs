#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| protocol_core::fuzzing::json_differential(data));
