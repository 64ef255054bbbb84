//! Whose timesheets the shop reads: employees sampled by token range from a random spot of the
//! ring (never a scan of `employees`), and, in loop mode, the few each fan-out draws from them.

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use schema::reads::{ShopStatements, Staff};
use scylla::client::session::Session;

use crate::ShopArgs;

/// The employees to read, from a token the seed picks: `--employees` of them, or in loop mode a
/// `--pool` (at least as large) that each fan-out draws from. Says so when there are fewer than
/// wanted, and fails when there are none.
pub async fn sample(
    session: &Session,
    reads: &ShopStatements,
    keyspace: &str,
    shop: &ShopArgs,
    looping: bool,
) -> anyhow::Result<Vec<Staff>> {
    let wanted = if looping {
        shop.pool.max(shop.employees)
    } else {
        shop.employees
    };
    let token = SmallRng::seed_from_u64(shop.seed).random();
    let staff = reads
        .sample_employees(session, token, i32::try_from(wanted).unwrap_or(i32::MAX))
        .await
        .context("sampling employees")?;
    match staff.len() {
        0 => {
            anyhow::bail!("keyspace {keyspace} has no employees: run `factory` first to write some")
        }
        found if found < wanted as usize => {
            eprintln!(
                "shop: only {found} employees exist in keyspace {keyspace}; reading those {found}"
            );
        }
        _ => {}
    }
    Ok(staff)
}

/// `count` employees of `staff` for fan-out `n`, the same for the same seed.
pub fn choose(staff: &[Staff], count: usize, seed: u64, n: u64) -> Vec<Staff> {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n);
    rand::seq::index::sample(&mut rng, staff.len(), count)
        .into_iter()
        .map(|i| staff[i].clone())
        .collect()
}
