//! The fuzz targets' smoke, on stable: each target of `fuzz/` (its body is `bench::fuzzing`) runs
//! over its committed seed corpus, then over mutations of the seeds for a few seconds (bits
//! flipped, bytes cut, runs of bytes repeated or dropped, absurd numbers spliced into the JSON).
//! No coverage guides it: it is the regression check that runs in CI, so that a parser that
//! starts to panic on a damaged file shows at once; the long coverage-guided runs are made with
//! `cargo fuzz` by hand, and their numbers are in docs/comparing.md.
//!
//! `PICKLE_FUZZ_SMOKE_SECONDS` sets each target's time (default 3).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Numbers a careless or hostile file might hold.
const ABSURD: [&[u8]; 12] = [
    b"1e300",
    b"-1",
    b"0",
    b"NaN",
    b"4294967296",
    b"18446744073709551615",
    b"-0.0",
    b"1e-320",
    b"null",
    b"\"\"",
    b"[]",
    b"9007199254740993",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let folder: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("the seed corpus {}: {e}", folder.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} holds no seed", folder.display());
    seeds.into_iter().map(|(_, bytes)| bytes).collect()
}

/// One random change to `input`.
fn mutate(rng: &mut SmallRng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    if input.is_empty() {
        input.push(rng.random());
        return;
    }
    let at = rng.random_range(0..input.len());
    match rng.random_range(0..7) {
        0 => input[at] ^= 1 << rng.random_range(0..8),
        1 => input[at] = rng.random(),
        2 => input.truncate(at),
        3 => {
            let end = (at + rng.random_range(1..64)).min(input.len());
            input.drain(at..end);
        }
        4 => {
            let end = (at + rng.random_range(1..64)).min(input.len());
            let copy = input[at..end].to_vec();
            let to = rng.random_range(0..=input.len());
            input.splice(to..to, copy);
        }
        5 => {
            // A number replaced by an absurd one.
            let digits = input[at..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.' || **b == b'e' || **b == b'-')
                .count();
            let absurd = ABSURD[rng.random_range(0..ABSURD.len())];
            input.splice(at..at + digits, absurd.iter().copied());
        }
        _ => {
            // A piece of another seed spliced in.
            let other = &seeds[rng.random_range(0..seeds.len())];
            if !other.is_empty() {
                let from = rng.random_range(0..other.len());
                let end = (from + rng.random_range(1..256)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
        }
    }
}

/// Runs `target` on every seed, then on mutations for the smoke's time; the input of the first
/// panic is saved and named.
fn smoke(name: &str, target: fn(&[u8])) {
    let seeds = corpus(name);
    let seconds: f64 = std::env::var("PICKLE_FUZZ_SMOKE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mut rng = SmallRng::seed_from_u64(0xF022);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut runs = 0u64;
    let mut input = Vec::new();
    let mut first = true;
    while first || Instant::now() < deadline {
        let inputs: Vec<Vec<u8>> = if first {
            seeds.clone()
        } else {
            if input.is_empty() || rng.random_bool(0.1) {
                input = seeds[rng.random_range(0..seeds.len())].clone();
            }
            for _ in 0..rng.random_range(1..4) {
                mutate(&mut rng, &seeds, &mut input);
            }
            vec![input.clone()]
        };
        first = false;
        for case in inputs {
            runs += 1;
            if catch_unwind(AssertUnwindSafe(|| target(&case))).is_err() {
                let saved = std::env::temp_dir().join(format!("pickle-fuzz-{name}-crash"));
                std::fs::write(&saved, &case).ok();
                panic!(
                    "fuzz target {name} panicked on an input saved as {} (replay it with \
                     `cargo +nightly fuzz run {name} {}`)",
                    saved.display(),
                    saved.display()
                );
            }
        }
    }
    eprintln!("fuzz smoke {name}: {runs} inputs, no panic");
    assert!(runs > seeds.len() as u64, "the smoke ran no mutation");
}

#[test]
fn the_report_reader_survives_its_corpus_and_mutations() {
    smoke("report", bench::fuzzing::report);
}

#[test]
fn the_interval_log_reader_survives_its_corpus_and_mutations() {
    smoke("interval_log", bench::fuzzing::interval_log);
}

#[test]
fn merge_survives_its_corpus_and_mutations() {
    smoke("merge", bench::fuzzing::merge);
}

#[test]
fn compare_survives_its_corpus_and_mutations() {
    smoke("compare", bench::fuzzing::compare);
}

#[test]
fn the_cql_splitter_survives_its_corpus_and_mutations() {
    smoke("cql", bench::fuzzing::cql);
}
