//! `bench lessons`, shortened: every lesson produces its table and its plot (or, for the one that
//! cannot be measured honestly here, says why), and the numbers that follow from the mechanisms,
//! not from the machine's speed, hold. A test binary of its own, so that its floods of writes do
//! not run beside other live tests.

use std::process::Command;

use cluster::testing;

/// The table row of `variant` in `lesson`.
fn row<'a>(lesson: &'a serde_json::Value, variant: &str) -> &'a Vec<serde_json::Value> {
    lesson["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .filter_map(|r| r.as_array())
                .find(|r| r[0].as_str() == Some(variant))
        })
        .unwrap_or_else(|| panic!("{} has no row {variant}: {lesson}", lesson["name"]))
}

fn percent(cell: &serde_json::Value) -> f64 {
    cell.as_str()
        .and_then(|text| text.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("not a percentage: {cell}"))
}

/// Runs `bench lessons` shortened against `hosts`, with `extra` arguments, and returns its stdout
/// and the report folder.
fn lessons(hosts: &str, extra: &[&str], out: &std::path::Path) -> String {
    let output = Command::new(assert_cmd::cargo::cargo_bin("bench"))
        .args(["lessons", "--hosts", hosts])
        .args([
            "--duration",
            "2s",
            "--warmup",
            "1s",
            "--rounds",
            "10",
            "--rate",
            "500",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .expect("bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "bench lessons failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The lessons of a report folder, by name.
fn read_lessons(out: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("lessons.json")).expect("lessons.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    report["lessons"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn every_lesson_has_its_table_and_plot() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    // The routing lesson on 3 nodes; the others on the shared one-node ring, where the client has
    // the machine's cores to itself rather than sharing them with three JVMs.
    let routing_out = folder.path().join("routing");
    let routing_stdout = {
        let _turn = testing::exclusive().await;
        let own = testing::start_three_node_ring().await?;
        let stdout = lessons(&own.hosts(), &["--only", "routing"], &routing_out);
        own.stop().await?;
        stdout
    };
    let hosts = testing::test_ring().await.contact_points().join(",");
    let out = folder.path().join("lessons");
    let stdout = lessons(&hosts, &[], &out) + &routing_stdout;
    let routing = read_lessons(&routing_out).remove(0);
    let mut lessons = read_lessons(&out);
    // On one node the routing lesson says why it cannot run; the 3-node run replaces it.
    let one_node_routing = lessons
        .iter()
        .position(|l| l["name"] == "routing")
        .expect("routing");
    assert!(
        lessons[one_node_routing]["left_out"]
            .as_str()
            .is_some_and(|why| why.contains("1 node")),
        "{}",
        lessons[one_node_routing]
    );
    lessons[one_node_routing] = routing;
    let routing_page = std::fs::read_to_string(routing_out.join("index.html"))?;

    let names: Vec<&str> = lessons.iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "prepared", "window", "fanout", "routing", "bound", "distance"
        ]
    );
    let page = std::fs::read_to_string(out.join("index.html"))? + &routing_page;
    for lesson in &lessons {
        let name = lesson["name"].as_str().unwrap_or_default();
        assert!(stdout.contains(&format!("== {name}:")), "{name} printed");
        if name == "distance" {
            let why = lesson["left_out"]
                .as_str()
                .expect("distance says why it is left out");
            assert!(
                why.contains("loopback") || why.contains("one datacenter"),
                "{why}"
            );
            assert!(page.contains("Left out:"), "the page says so too");
            continue;
        }
        assert!(lesson["left_out"].is_null(), "{name} ran: {lesson}");
        let columns = lesson["columns"].as_array().expect("columns").len();
        let rows = lesson["rows"].as_array().expect("rows");
        assert!(rows.len() >= 2, "{name} compares at least two variants");
        for row in rows {
            assert_eq!(row.as_array().map(Vec::len), Some(columns), "{name}: {row}");
        }
        let plot = lesson["plot"].as_str().expect("a plot");
        let folder = if name == "routing" {
            &routing_out
        } else {
            &out
        };
        let svg = std::fs::read_to_string(folder.join(plot))?;
        assert!(
            svg.contains("<svg")
                && svg.matches("<polyline").count() + svg.matches("<rect").count() > 2,
            "{name}: the plot draws something"
        );
        assert!(
            page.contains(&format!("data-plot=\"{name}\"")),
            "{name}: the page holds its plot"
        );
        assert!(
            lesson["finding"].as_str().is_some_and(|f| f.len() > 100),
            "{name} explains itself"
        );
    }
    let lesson = |name: &str| {
        lessons
            .iter()
            .find(|l| l["name"] == name)
            .expect("the lesson")
    };

    // What follows from the mechanisms, whatever the machine: the driver prepares an unprepared
    // statement with bound values before each execution; the window holds a rate well within
    // the ring's reach; on 3 nodes with one replica, round-robin forwards about two thirds of the
    // writes and token-aware ones go straight to the replica; a bound of one visit is named as
    // the limit.
    let served = |variant: &str| -> f64 {
        let cell = &row(lesson("prepared"), variant)[6];
        cell.as_str()
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("requests per write: {cell}"))
    };
    assert!(
        (1.9..2.1).contains(&served("unprepared, values bound")),
        "the ring served a prepare and an execute per write"
    );
    assert!(
        (0.95..1.1).contains(&served("prepared")),
        "one request per write"
    );
    let window = lesson("window");
    assert!(percent(&row(window, "sliding window (3003)")[2]) > 95.0);
    // A way that fell behind counts the visits it never started (and its percentiles hold them).
    let synchronous = row(window, "synchronous");
    let never_started: u64 = synchronous[7]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("never started: {}", synchronous[7]));
    if percent(&synchronous[2]) < 95.0 {
        assert!(never_started > 0, "{window}");
    }
    let routing = lesson("routing");
    assert!(percent(&row(routing, "token-aware")[4]) < 5.0, "{routing}");
    let forwarded = percent(&row(routing, "round-robin")[4]);
    assert!(
        (45.0..90.0).contains(&forwarded),
        "round-robin forwarded {forwarded}%"
    );
    let bound = lesson("bound");
    // The verdict of a run whose need sits near its bound flips between the bound and the
    // server's latency with the machine's load (seen here: median service time 1.1 ms, so "2
    // would do", but the mean rose to need 3). Which evidence decides is issue 16's to fix; what
    // the lesson must show is that the bound, not the client, held the rate back.
    let verdict = &row(bound, "3")[5];
    // The small bound never does better than the roomy ones. Where the ring carries well beyond
    // one visit at a time, it falls clearly short of them; where it does not (both cores shared
    // by the ring and a debug client: CI saw 604/s at most against 323/s one at a time), the
    // lesson says the bound costs little there instead of claiming a gap it did not measure.
    let rows = bound["rows"].as_array().expect("rows");
    let of_target = |i: usize| percent(&rows[i][3]);
    assert!(
        of_target(0) <= of_target(1) + 3.0 && of_target(0) <= of_target(2) + 3.0,
        "{bound}"
    );
    let finding = bound["finding"].as_str().expect("finding");
    if !finding.contains(bench::lessons::bound::SMALL_MARGIN) {
        assert!(
            verdict == "the in-flight bound" || verdict == "the server's latency",
            "{bound}"
        );
        assert!(of_target(0) < 90.0, "{bound}");
        assert!(
            of_target(1) > of_target(0) + 10.0 && of_target(2) > of_target(0) + 10.0,
            "{bound}"
        );
    } else {
        eprintln!("the bound lesson's gap was not checked: {finding}");
    }
    Ok(())
}
