//! The same visits kept both ways the schema offers: denormalized into a table per question, and
//! once in `visits` with Storage-Attached Indexes (`--model sai`). The shop asks the same
//! questions of either and gets the same answers, and a full audit finds every visit written the
//! SAI way through each of its indexes.

use uuid::Uuid;

use crate::{drop_keyspace, factory, fresh_keyspace, shop};

/// What the factory wrote with `seed`: 1200 visits of ten employees to six trees.
const WRITTEN: &[&str] = &[
    "--visits",
    "1200",
    "--rate",
    "2000",
    "--employees",
    "10",
    "--trees",
    "6",
    "--seed",
    "7",
];

/// Per employee, the totals the shop printed (`--json`): visits, pickles, trees.
fn totals(output: &std::process::Output) -> Vec<(Uuid, i64, i64, u64)> {
    assert!(
        output.status.success(),
        "shop failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let mut totals: Vec<(Uuid, i64, i64, u64)> = printed["employees"]
        .as_array()
        .expect("employees")
        .iter()
        .map(|e| {
            (
                e["employee_id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("an employee id"),
                e["visits"].as_i64().expect("visits"),
                e["pickles"].as_i64().expect("pickles"),
                e["trees"].as_u64().expect("trees"),
            )
        })
        .collect();
    totals.sort();
    totals
}

#[tokio::test]
async fn both_models_answer_the_same_questions_alike_and_every_indexed_visit_is_found_each_way()
-> anyhow::Result<()> {
    let (keyspace, hosts) = fresh_keyspace("shop_models").await?;
    factory(&hosts, &keyspace, WRITTEN);
    factory(&hosts, &keyspace, &[WRITTEN, &["--model", "sai"]].concat());
    let read = |model: &str| {
        shop(
            &hosts,
            &keyspace,
            &["--employees", "10", "--json", "--model", model],
        )
    };
    let denormalized = totals(&read("denormalized"));
    let indexed = totals(&read("sai"));
    assert_eq!(denormalized.len(), 10);
    assert_eq!(
        denormalized.iter().map(|t| t.1).sum::<i64>(),
        1200,
        "every visit in the timesheets"
    );
    assert_eq!(indexed, denormalized, "the same answers both ways");
    // The audit: every visit found through the employee's index is found through the tree's
    // (with the same values) and the count's too.
    let audit = shop(
        &hosts,
        &keyspace,
        &[
            "--employees",
            "10",
            "--model",
            "sai",
            "--verify",
            "--verify-visits",
            "all",
            "--verify-grace",
            "0s",
            "--json",
        ],
    );
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{stdout}");
    let audit: serde_json::Value = serde_json::from_str(&stdout)?;
    assert_eq!(audit["verification"]["checked"], 1200);
    assert_eq!(audit["verification"]["mismatches"], 0);
    let session = ring::testing::connection_args(&["--hosts", &hosts])
        .connect()
        .await?
        .session;
    // The SAI model wrote one row per visit, and nothing else.
    let rows = session
        .query_unpaged(format!("SELECT COUNT(*) FROM {keyspace}.visits"), &[])
        .await?
        .into_rows_result()?
        .first_row::<(i64,)>()?;
    assert_eq!(rows.0, 1200);
    schema::drop_keyspace(&session, &keyspace).await?;
    Ok(())
}

#[tokio::test]
async fn a_sai_loop_reads_and_verifies_through_the_indexes() -> anyhow::Result<()> {
    let (keyspace, hosts) = fresh_keyspace("shop_sai_loop").await?;
    factory(&hosts, &keyspace, &[WRITTEN, &["--model", "sai"]].concat());
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("loop.json");
    let output = shop(
        &hosts,
        &keyspace,
        &[
            "--report",
            report.to_str().unwrap(),
            "--model",
            "sai",
            "--rate",
            "20",
            "--duration",
            "3s",
            "--employees",
            "5",
            "--verify",
            "--verify-grace",
            "0s",
            "--quiet",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("checked in visits_by_tree and visits_by_count: every copy agrees"),
        "{stdout}"
    );
    // The report holds the ring's settings for what it read, as the ring said them.
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
    let settings = &written["ring_settings"];
    assert_eq!(
        settings["tables"]["visits"]["compaction"], "SizeTieredCompactionStrategy",
        "{settings}"
    );
    assert_eq!(settings["tables"]["visits"]["memtable"], "default");
    let formats = settings["sstable_format"].as_object().unwrap();
    assert!(
        !formats.is_empty() && formats.values().all(|f| f == "big"),
        "{settings}"
    );
    assert!(
        stdout.contains("settings: sstable format big; employees, visits ("),
        "{stdout}"
    );
    drop_keyspace(&hosts, &keyspace).await
}

/// Recall@K of one query or a loop's, as the shop printed it.
fn recall_of(output: &std::process::Output, loop_report: Option<&std::path::Path>) -> f64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = match loop_report {
        None => serde_json::from_str(&stdout).expect("JSON"),
        Some(report) => {
            let text = std::fs::read_to_string(report).expect("the loop's report");
            let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            report["app"]["similar_trees"].clone()
        }
    };
    let recall = if loop_report.is_some() {
        &value["mean"]
    } else {
        &value["recall"]["mean"]
    };
    recall.as_f64().unwrap_or_else(|| panic!("{value}"))
}

#[tokio::test]
async fn the_vector_index_finds_the_trees_most_alike_with_recall_of_at_least_0_9()
-> anyhow::Result<()> {
    let (keyspace, hosts) = fresh_keyspace("shop_similar").await?;
    factory(
        &hosts,
        &keyspace,
        &[
            "--visits", "10", "--rate", "100", "--trees", "3000", "--seed", "4",
        ],
    );
    let ask = |flags: &[&str]| {
        let common = ["--similar-trees", "10", "--trees", "3000"];
        shop(&hosts, &keyspace, &[&common[..], flags].concat())
    };
    let one = ask(&["--factory-seed", "4", "--json"]);
    assert!(recall_of(&one, None) >= 0.9);
    let printed: serde_json::Value = serde_json::from_slice(&one.stdout)?;
    assert_eq!(printed["found"].as_array().unwrap().len(), 10);
    // Asked at LOCAL_QUORUM (the default), the ring ran the query at LOCAL_ONE and said so.
    let consistency = printed["recall"]["consistency"].as_str().unwrap();
    assert!(
        consistency.starts_with("LOCAL_ONE (LOCAL_QUORUM was asked")
            && consistency.contains("Downgrading the consistency level to LOCAL_ONE"),
        "{consistency}"
    );
    // The check can fail: asked about another seed's trees, the exact answer is other trees.
    let wrong = ask(&["--factory-seed", "5", "--json"]);
    assert!(recall_of(&wrong, None) < 0.2);
    // A loop of queries at a fixed rate: latency in the report, recall beside it.
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("similar.json");
    let looped = ask(&[
        "--factory-seed",
        "4",
        "--rate",
        "50",
        "--duration",
        "3s",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(recall_of(&looped, Some(&report)) >= 0.9);
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
    assert!(written["app"]["similar_trees"]["queries"].as_u64().unwrap() >= 140);
    assert_eq!(written["names"]["op"], "lookup");
    // SERIAL is refused for top-K queries, and the error says which levels are not.
    let serial = ask(&["--factory-seed", "4", "--consistency", "SERIAL"]);
    assert_eq!(serial.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&serial.stderr);
    assert!(stderr.contains("ONE/LOCAL_ONE"), "{stderr}");
    drop_keyspace(&hosts, &keyspace).await
}

/// The orchard grows while the shop searches: `factory --plant-trees` writes new trees at a fixed
/// rate, `shop --follow-planting` adds each one it sees to its exact search. Every planted tree is
/// followed, recall holds, and without following (the same trees, the exact search blind to the
/// new ones) recall falls: the check can fail.
#[tokio::test]
async fn recall_is_measured_against_the_trees_planted_while_the_shop_searches() -> anyhow::Result<()>
{
    let (keyspace, hosts) = fresh_keyspace("shop_planting").await?;
    factory(
        &hosts,
        &keyspace,
        &[
            "--visits", "10", "--rate", "100", "--trees", "3000", "--seed", "4",
        ],
    );
    let folder = tempfile::tempdir()?;
    let planted_report = folder.path().join("planting.json");
    let searched_report = folder.path().join("searching.json");
    let planting = {
        let (hosts, keyspace) = (hosts.clone(), keyspace.clone());
        let report = planted_report.to_str().unwrap().to_owned();
        std::thread::spawn(move || {
            factory(
                &hosts,
                &keyspace,
                &[
                    "--plant-trees",
                    "--trees",
                    "3000",
                    "--seed",
                    "4",
                    "--rate",
                    "400",
                    "--visits",
                    "800",
                    "--report",
                    &report,
                ],
            );
        })
    };
    let search = |flags: &[&str], report: &std::path::Path| {
        let common = [
            "--similar-trees",
            "10",
            "--trees",
            "3000",
            "--factory-seed",
            "4",
            "--rate",
            "50",
            "--quiet",
            "--report",
        ];
        let report = [report.to_str().unwrap()];
        shop(&hosts, &keyspace, &[&common[..], &report, flags].concat())
    };
    // 10 s of searching around 2 s of planting: room for either to start late on a busy ring.
    let searched = search(
        &["--follow-planting", "--duration", "10s"],
        &searched_report,
    );
    planting.join().expect("the planting factory");
    let recall = recall_of(&searched, Some(&searched_report));
    let planted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&planted_report)?)?;
    assert_eq!(planted["names"]["op"], "planting");
    let acknowledged = planted["counts"]["ops"].as_u64().unwrap();
    assert_eq!(acknowledged, 800, "{}", planted["counts"]);
    let tally: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&searched_report)?)?;
    let tally = &tally["app"]["similar_trees"];
    // The shop ran seconds past the planting: it saw every tree the factory acknowledged.
    assert_eq!(tally["planted"].as_u64(), Some(acknowledged), "{tally}");
    assert_eq!(
        tally["trees"].as_u64(),
        Some(3000 + acknowledged),
        "{tally}"
    );
    assert!(
        tally["follow_reads"].as_u64().unwrap() >= acknowledged,
        "{tally}"
    );
    assert!(recall >= 0.9, "{tally}");
    // Blind to the planted trees, the exact search names trees that the index rightly ranks
    // below planted ones: recall falls.
    let blind_report = folder.path().join("blind.json");
    let blind = search(&["--duration", "3s"], &blind_report);
    let blind = recall_of(&blind, Some(&blind_report));
    assert!(
        blind < recall - 0.05,
        "blind {blind} against followed {recall}"
    );
    drop_keyspace(&hosts, &keyspace).await
}

/// A ring whose profiles hold 16 numbers (`schema apply --dimensions 16`): the factory and the
/// shop follow it without being told, and a --dimensions that says another size is exit 2 with
/// one line, before anything is written.
#[tokio::test]
async fn the_apps_follow_the_rings_vector_size_and_refuse_another() -> anyhow::Result<()> {
    let args = ring::testing::test_ring().await;
    let hosts = args.contact_points().join(",");
    let connection = args.connect().await?;
    let keyspace = ring::testing::unique_keyspace("shop_dims");
    let nodes = schema::nodes_per_datacenter(&connection.session);
    schema::apply(
        &connection.session,
        &schema::project_schema()?.with_vector_dimensions(16),
        &keyspace,
        &schema::Replication::derived_from_ring(&nodes),
    )
    .await?;
    factory(
        &hosts,
        &keyspace,
        &[
            "--visits", "10", "--rate", "100", "--trees", "500", "--seed", "4",
        ],
    );
    let ask = |flags: &[&str]| {
        let common = [
            "--similar-trees",
            "10",
            "--trees",
            "500",
            "--factory-seed",
            "4",
        ];
        shop(&hosts, &keyspace, &[&common[..], flags].concat())
    };
    assert!(recall_of(&ask(&["--json"]), None) >= 0.9);
    assert!(recall_of(&ask(&["--json", "--dimensions", "16"]), None) >= 0.9);
    for refused in [
        ask(&["--dimensions", "64"]),
        std::process::Command::new(assert_cmd::cargo::cargo_bin("factory"))
            .args(["--hosts", &hosts, "--keyspace", &keyspace, "--visits", "10"])
            .args(["--dimensions", "64"])
            .output()?,
    ] {
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--dimensions 64, but {keyspace}.tree_profiles.profile is vector<float, 16>"
            )),
            "{stderr}"
        );
        // One line of error (the connection's INFO line aside).
        let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains("--dimensions 64"), "{stderr}");
    }
    schema::drop_keyspace(&connection.session, &keyspace).await?;
    Ok(())
}
