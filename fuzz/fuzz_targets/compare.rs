//! Fuzz target `compare`: the bytes go to `bench::fuzzing::compare`, which reads them as the command
//! does and asserts what must hold of the result.
#![no_main]

#[global_allocator]
static ALLOCATOR: pickle_fuzz::Capped = pickle_fuzz::Capped;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bench::fuzzing::compare(data));
