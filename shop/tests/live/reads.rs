//! The shop reads what the factory wrote: the same totals, and copies that agree, until one is
//! planted that does not.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use loadgen::report::RunReport;
use ring::testing;
use schema::workforce::Workforce;
use uuid::Uuid;

use crate::{factory, fresh_keyspace, shop};

/// Per employee: visits, pickles, distinct trees.
type Totals = HashMap<Uuid, (i64, i64, usize)>;

/// Per employee: visits, pickles, distinct trees, as the factory's seed says it wrote them.
fn expected(seed: u64, employees: usize, trees: usize, visits: u64) -> Totals {
    let workforce = Workforce::generate(seed, employees, trees);
    let mut totals: HashMap<Uuid, (i64, i64, HashSet<Uuid>)> = HashMap::new();
    for n in 0..visits {
        let visit = workforce.visit(n, SystemTime::now());
        let entry = totals.entry(visit.employee_id).or_default();
        entry.0 += 1;
        entry.1 += i64::from(visit.pickle_count);
        entry.2.insert(visit.pickle_tree_id);
    }
    totals
        .into_iter()
        .map(|(id, (v, p, t))| (id, (v, p, t.len())))
        .collect()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "shop failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("shop --json printed JSON: {e}"))
}

/// A full audit of twelve employees: every visit's copies, however young.
const AUDIT_ALL: &[&str] = &[
    "--employees",
    "12",
    "--verify",
    "--verify-visits",
    "all",
    "--verify-grace",
    "0s",
];

/// A fresh keyspace the factory wrote 1500 visits of twelve employees at eight trees into, seed 5:
/// its name, the `--hosts` value, and the totals the seed says were written.
async fn written_by_the_factory() -> anyhow::Result<(String, String, Totals)> {
    let (keyspace, hosts) = fresh_keyspace("shop_reads").await?;
    factory(
        &hosts,
        &keyspace,
        &[
            "--visits",
            "1500",
            "--rate",
            "3000",
            "--employees",
            "12",
            "--trees",
            "8",
            "--seed",
            "5",
        ],
    );
    Ok((keyspace, hosts, expected(5, 12, 8, 1500)))
}

async fn session(hosts: &str) -> anyhow::Result<scylla::client::session::Session> {
    Ok(testing::connection_args(&["--hosts", hosts])
        .connect()
        .await?
        .session)
}

async fn drop_keyspace(hosts: &str, keyspace: &str) -> anyhow::Result<()> {
    schema::drop_keyspace(&session(hosts).await?, keyspace).await?;
    Ok(())
}

#[tokio::test]
async fn the_json_totals_of_all_twelve_employees_match_what_the_factory_wrote() -> anyhow::Result<()>
{
    let (keyspace, hosts, expected) = written_by_the_factory().await?;
    // All twelve employees, their totals computed by the server, equal to what was written.
    let printed = json(&shop(&hosts, &keyspace, &["--employees", "12", "--json"]));
    let employees = printed["employees"]
        .as_array()
        .expect("a list of employees");
    assert_eq!(employees.len(), 12);
    for employee in employees {
        let id: Uuid = employee["employee_id"].as_str().unwrap().parse()?;
        let (visits, pickles, trees) = expected[&id];
        assert_eq!(employee["visits"], visits, "visits of {id}");
        assert_eq!(employee["pickles"], pickles, "pickles of {id}");
        assert_eq!(employee["trees"], trees as u64, "trees of {id}");
        assert!(employee["name"].as_str().is_some_and(|n| n.contains(' ')));
    }
    assert!(printed["fan_out_ms"].as_f64().unwrap() > 0.0);
    drop_keyspace(&hosts, &keyspace).await
}

#[tokio::test]
async fn the_table_prints_the_same_totals_and_the_slowest_single_read() -> anyhow::Result<()> {
    let (keyspace, hosts, expected) = written_by_the_factory().await?;
    let table = shop(&hosts, &keyspace, &["--employees", "12"]);
    let table = String::from_utf8_lossy(&table.stdout);
    let (id, (visits, pickles, _)) = expected.iter().next().unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with(&id.to_string()))
        .expect("the employee has a row");
    assert!(
        line.contains(&format!(" {visits} ")) && line.contains(&format!(" {pickles} ")),
        "{line}"
    );
    assert!(table.contains("the slowest single read took"), "{table}");
    drop_keyspace(&hosts, &keyspace).await
}

#[tokio::test]
async fn a_full_audit_finds_every_copy_of_every_visit_in_agreement() -> anyhow::Result<()> {
    let (keyspace, hosts, _) = written_by_the_factory().await?;
    let audit = json(&shop(&hosts, &keyspace, &[AUDIT_ALL, &["--json"]].concat()));
    assert_eq!(audit["verification"]["checked"], 1500);
    assert_eq!(audit["verification"]["mismatches"], 0);
    drop_keyspace(&hosts, &keyspace).await
}

#[tokio::test]
async fn a_full_audit_names_two_planted_missing_copies_and_exits_1() -> anyhow::Result<()> {
    let (keyspace, hosts, _) = written_by_the_factory().await?;
    // Plant two: a visit missing from trees, another missing from production.
    let session = session(&hosts).await?;
    let rows = session
        .query_unpaged(format!("SELECT employee_id, pickle_tree_id, timestamp, pickle_count FROM {keyspace}.timesheets LIMIT 2"), &[])
        .await?
        .into_rows_result()?;
    let visits: Vec<(Uuid, Uuid, scylla::value::CqlTimeuuid, i32)> =
        rows.rows()?.collect::<Result<_, _>>()?;
    let (_, tree, at, _) = visits[0];
    session
        .query_unpaged(
            format!("DELETE FROM {keyspace}.trees WHERE pickle_tree_id = ? AND timestamp = ?"),
            (tree, at),
        )
        .await?;
    let (_, tree2, at2, count2) = visits[1];
    session
        .query_unpaged(
            format!("DELETE FROM {keyspace}.production WHERE pickle_count = ? AND pickle_tree_id = ? AND timestamp = ?"),
            (count2, tree2, at2),
        )
        .await?;
    let audit = shop(&hosts, &keyspace, AUDIT_ALL);
    assert_eq!(audit.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(
        stdout.contains("1500 visits checked, 2 copies missing or different"),
        "{stdout}"
    );
    let missing_tree = Uuid::from_bytes(*at.as_bytes());
    assert!(
        stdout.lines().any(|l| l.contains("trees of employee")
            && l.contains(&missing_tree.to_string())
            && l.contains("missing")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("production of employee") && l.contains(&tree2.to_string())),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&audit.stderr)
            .contains("2 denormalized copies are missing or different")
    );
    schema::drop_keyspace(&session, &keyspace).await?;
    Ok(())
}

#[tokio::test]
async fn loop_mode_measures_fan_outs_and_verifies_as_it_goes() -> anyhow::Result<()> {
    // Timed: not while another test saturates the node.
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("shop_loop").await?;
    factory(
        &hosts,
        &keyspace,
        &[
            "--visits",
            "2000",
            "--rate",
            "4000",
            "--employees",
            "30",
            "--trees",
            "20",
        ],
    );
    let folder = tempfile::tempdir()?;
    let report_path = folder.path().join("shop.json");
    let output = shop(
        &hosts,
        &keyspace,
        &[
            "--rate",
            "40",
            "--duration",
            "2s",
            "--verify",
            "--verify-grace",
            "0s",
            "--quiet",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = RunReport::read(&report_path)?;
    // 40/s for 2 s: 80 fan-outs due, each counted once, done, failed, missed or abandoned
    // (how many got done depends on how busy the machine is, so that is not the claim).
    let counts = &report.counts;
    let due = counts.ops + counts.ops_failed + counts.missed + counts.abandoned;
    assert!((79..=81).contains(&due), "80 fan-outs due: {counts:?}");
    assert!(counts.ops > 0, "some fan-outs done: {counts:?}");
    assert_eq!(
        report.counts.requests,
        report.counts.ops * 40,
        "10 reads and 30 verification reads each"
    );
    assert!(report.latency_us.contains_key("service-verify-trees"));
    assert_eq!(report.app["verification"]["mismatches"], 0);
    assert_eq!(
        report.app["verification"]["checked"],
        report.counts.ops * 10
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("every copy agrees"));

    // Without --verify, nothing is checked and nothing is claimed: the run passes on its reads.
    let plain = shop(
        &hosts,
        &keyspace,
        &["--rate", "40", "--duration", "1s", "--quiet"],
    );
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("verify"));
    Ok(())
}

#[tokio::test]
async fn compare_shows_fan_out_against_sequential() -> anyhow::Result<()> {
    // Timed: not while another test saturates the node.
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("shop_compare").await?;
    factory(
        &hosts,
        &keyspace,
        &["--visits", "500", "--rate", "5000", "--employees", "10"],
    );
    let output = shop(&hosts, &keyspace, &["--compare", "--rounds", "5"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("10 reads all at once") && stdout.contains("10 reads one after another"),
        "{stdout}"
    );
    assert!(
        stdout.contains("at the median, 10 reads all at once cost"),
        "{stdout}"
    );
    Ok(())
}
