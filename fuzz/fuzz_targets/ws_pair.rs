#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_sansio::fuzzing::fuzz_ws_pair(data));
