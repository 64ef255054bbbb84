//! Fuzz target `cql`: the bytes go to `bench::fuzzing::cql`, which reads them as the command
//! does and asserts what must hold of the result.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bench::fuzzing::cql(data));
