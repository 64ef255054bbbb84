//! Fuzz target `interval_log`: the bytes go to `bench::fuzzing::interval_log`, which reads them as the command
//! does and asserts what must hold of the result.
#![no_main]

#[global_allocator]
static ALLOCATOR: pickle_fuzz::Capped = pickle_fuzz::Capped;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bench::fuzzing::interval_log(data));
