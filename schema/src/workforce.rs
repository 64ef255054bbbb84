//! Fake but reproducible data: the employees and trees of a factory, and the visits between them.
//!
//! Everything is drawn from a seed, so a rerun with the same `--seed` writes the same employees
//! and trees (the same partition keys), and visit number `n` picks the same employee, tree and
//! pickle count whatever the timing of the run. Each employee, tree and visit gets a random number
//! generator of its own, seeded from (seed, kind, index): changing `--employees` does not change
//! the trees, and visits can be generated in any order, by any number of processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use fake::Fake;
use fake::faker::name::en::{FirstName, LastName};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use scylla::value::CqlTimeuuid;
use uuid::Uuid;

use crate::model::{Employee, Visit, cql_date_from_days};

/// Streams of random numbers, kept apart so that one kind never shifts another.
#[derive(Clone, Copy)]
enum Stream {
    Employee = 1,
    Tree = 2,
    Visit = 3,
    Profile = 4,
    Orchard = 5,
}

/// How many numbers a tree's profile holds unless told otherwise: the `vector<float, 64>` of
/// `tree_profiles` in schema.cql (`schema apply --dimensions` makes another).
pub const PROFILE_DIMENSIONS: usize = 64;

/// Orchards the trees grow in: each tree's profile lies near its orchard's, so that "the trees
/// most like this one" has an answer worth finding (uniformly random vectors in 64 dimensions are
/// all about equally far apart).
const ORCHARDS: u64 = 16;

/// Hire dates fall between 2000-01-01 and 2025-12-31 (days since the epoch).
const HIRE_DAYS: std::ops::RangeInclusive<u64> = 10_957..=20_453;

/// The employees and trees of one factory, drawn from a seed. Nothing is held but the counts:
/// each employee and tree is computed from (seed, index) when asked for, so a million employees
/// cost no memory and no start-up time, and registering them can stop at any moment.
#[derive(Debug, Clone)]
pub struct Workforce {
    /// The seed everything is drawn from.
    pub seed: u64,
    employees: usize,
    trees: usize,
    /// How many numbers each tree's profile holds.
    dimensions: usize,
    clock: TimeuuidClock,
}

impl Workforce {
    /// `employees` employees and `trees` trees drawn from `seed`. Both counts must be at least 1.
    pub fn generate(seed: u64, employees: usize, trees: usize) -> Workforce {
        Workforce {
            seed,
            employees,
            trees,
            dimensions: PROFILE_DIMENSIONS,
            clock: TimeuuidClock::new(),
        }
    }

    /// The same workforce, its trees' profiles holding `dimensions` numbers (those of the
    /// ring's `tree_profiles`).
    #[must_use]
    pub fn with_profile_dimensions(mut self, dimensions: usize) -> Workforce {
        self.dimensions = dimensions.max(1);
        self
    }

    /// How many employees there are.
    pub fn employee_count(&self) -> usize {
        self.employees
    }

    /// How many trees there are.
    pub fn tree_count(&self) -> usize {
        self.trees
    }

    /// Employee number `index`, with a fake name, email and hire date.
    pub fn employee(&self, index: usize) -> Employee {
        employee(self.seed, index as u64)
    }

    /// The id of employee number `index`, without drawing the rest (it is the first draw).
    pub fn employee_id(&self, index: usize) -> Uuid {
        random_uuid(&mut rng_for(self.seed, Stream::Employee, index as u64))
    }

    /// Every employee, in index order, each made when the iterator reaches it.
    pub fn employees(&self) -> impl Iterator<Item = Employee> + '_ {
        (0..self.employees).map(|index| self.employee(index))
    }

    /// The id of tree number `index`.
    pub fn tree(&self, index: usize) -> Uuid {
        random_uuid(&mut rng_for(self.seed, Stream::Tree, index as u64))
    }

    /// Every tree's id, in index order.
    pub fn trees(&self) -> impl Iterator<Item = Uuid> + '_ {
        (0..self.trees).map(|index| self.tree(index))
    }

    /// Tree number `index`'s profile: [`PROFILE_DIMENSIONS`] (or the workforce's) numbers of unit length, its
    /// orchard's direction plus noise of its own, the same for every process with this seed.
    pub fn tree_profile(&self, index: usize) -> Vec<f32> {
        let orchard = index as u64 % ORCHARDS;
        let mut centre = rng_for(self.seed, Stream::Orchard, orchard);
        let mut own = rng_for(self.seed, Stream::Profile, index as u64);
        let mut profile: Vec<f32> = (0..self.dimensions)
            .map(|_| centre.random_range(-1.0f32..1.0) + 0.6 * own.random_range(-1.0f32..1.0))
            .collect();
        let length = profile.iter().map(|x| x * x).sum::<f32>().sqrt();
        profile
            .iter_mut()
            .for_each(|x| *x /= length.max(f32::MIN_POSITIVE));
        profile
    }

    /// Visit number `number`, happening at `at`: who, which tree and what was picked come from the
    /// seed; the time-based UUID comes from `at` and is unique within this process.
    pub fn visit(&self, number: u64, at: SystemTime) -> Visit {
        let mut rng = rng_for(self.seed, Stream::Visit, number);
        let employee_id = self.employee_id(rng.random_range(0..self.employees));
        let pickle_tree_id = self.tree(rng.random_range(0..self.trees));
        Visit {
            employee_id,
            pickle_tree_id,
            pickle_count: rng.random_range(0..=100),
            pickle_avg_size: rng.random_range(0.0..2.0),
            watered: rng.random_bool(0.5),
            timestamp: self.clock.timeuuid(at),
        }
    }
}

fn employee(seed: u64, index: u64) -> Employee {
    let mut rng = rng_for(seed, Stream::Employee, index);
    let employee_id = random_uuid(&mut rng);
    let first: String = FirstName().fake_with_rng(&mut rng);
    let last: String = LastName().fake_with_rng(&mut rng);
    let handle: String = format!("{first}.{last}")
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    Employee {
        employee_id,
        email: format!("{handle}.{index}@pickle-factory.example"),
        name: format!("{first} {last}"),
        hire_date: cql_date_from_days(rng.random_range(HIRE_DAYS)),
    }
}

/// A generator for item `index` of `stream`, seeded by mixing the three numbers (SplitMix64), so
/// that neighbouring indexes get unrelated sequences.
fn rng_for(seed: u64, stream: Stream, index: u64) -> SmallRng {
    let mut x = seed
        ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(x ^ (x >> 31))
}

/// A version-4 UUID whose random bits come from `rng`.
fn random_uuid(rng: &mut SmallRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// Makes time-based UUIDs (version 1) for visits. The node part is random per process and the
/// clock sequence counts up, so two visits at the same instant, in one process or in several
/// scaled-out ones, still get distinct UUIDs and never overwrite each other's rows.
#[derive(Debug, Clone)]
struct TimeuuidClock {
    node: [u8; 6],
    sequence: std::sync::Arc<AtomicU64>,
}

impl TimeuuidClock {
    fn new() -> TimeuuidClock {
        let mut node: [u8; 6] = rand::random();
        // RFC 9562: a random node id sets the multicast bit, so it can never equal a MAC address.
        node[0] |= 0x01;
        TimeuuidClock {
            node,
            sequence: std::sync::Arc::new(AtomicU64::new(rand::random())),
        }
    }

    fn timeuuid(&self, at: SystemTime) -> CqlTimeuuid {
        let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        // 100-nanosecond ticks since 1582-10-15, the start of the Gregorian calendar.
        let ticks = since_epoch.as_nanos() as u64 / 100 + 0x01B2_1DD2_1381_4000;
        let sequence = (self.sequence.fetch_add(1, Ordering::Relaxed) & 0x3FFF) as u16;
        let uuid = uuid::Builder::from_gregorian_timestamp(ticks, sequence, &self.node).into_uuid();
        CqlTimeuuid::from(uuid)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_workforce_and_visits() {
        let a = Workforce::generate(42, 10, 5);
        let b = Workforce::generate(42, 10, 5);
        assert!(a.employees().eq(b.employees()));
        assert!(a.trees().eq(b.trees()));
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (va, vb) = (a.visit(7, at), b.visit(7, at));
        assert_eq!(
            (va.employee_id, va.pickle_tree_id, va.pickle_count),
            (vb.employee_id, vb.pickle_tree_id, vb.pickle_count)
        );
        assert_ne!(
            va.timestamp, vb.timestamp,
            "time-based UUIDs are unique per process"
        );
        assert_ne!(Workforce::generate(43, 10, 5).employee(0), a.employee(0));
    }

    #[test]
    fn tree_profiles_are_unit_vectors_nearer_their_orchard_than_the_others() {
        let trees = Workforce::generate(9, 1, 64);
        let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let profiles: Vec<Vec<f32>> = (0..64).map(|i| trees.tree_profile(i)).collect();
        for profile in &profiles {
            assert_eq!(profile.len(), PROFILE_DIMENSIONS);
            assert!((cosine(profile, profile) - 1.0).abs() < 1e-5);
        }
        assert_eq!(profiles[3], Workforce::generate(9, 50, 64).tree_profile(3));
        // Trees 0 and 16 share an orchard; 0 and 1 do not.
        let same: f32 = (0..ORCHARDS as usize)
            .map(|i| cosine(&profiles[i], &profiles[i + 16]))
            .sum();
        let other: f32 = (0..ORCHARDS as usize)
            .map(|i| cosine(&profiles[i], &profiles[(i + 1) % 16]))
            .sum();
        assert!(same > other + 5.0, "same orchard {same}, another {other}");
    }

    #[test]
    fn more_employees_do_not_change_the_trees() {
        let small = Workforce::generate(1, 3, 4);
        let large = Workforce::generate(1, 300, 4);
        assert!(small.trees().eq(large.trees().take(4)));
        assert!(small.employees().eq(large.employees().take(3)));
    }

    #[test]
    fn visits_stay_in_range_and_carry_their_time() {
        let workforce = Workforce::generate(9, 4, 2);
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for n in 0..1000 {
            let visit = workforce.visit(n, at);
            assert!((0..=100).contains(&visit.pickle_count));
            assert!((0.0..2.0).contains(&visit.pickle_avg_size));
            assert!(workforce.trees().any(|tree| tree == visit.pickle_tree_id));
            assert!((0..4).any(|i| workforce.employee_id(i) == visit.employee_id));
            assert_eq!(visit.time(), at);
        }
        let first = workforce.employee(0);
        assert_eq!(first.employee_id, workforce.employee_id(0));
        let email = &first.email;
        assert!(
            email.ends_with(".0@pickle-factory.example") && !email.contains(' '),
            "{email}"
        );
    }

    #[test]
    fn timeuuids_at_the_same_instant_are_distinct() {
        let workforce = Workforce::generate(1, 1, 1);
        let at = SystemTime::now();
        let ids: std::collections::HashSet<_> = (0..10_000)
            .map(|n| workforce.visit(n, at).timestamp)
            .collect();
        assert_eq!(ids.len(), 10_000);
    }
}
