//! `bench lessons`, shortened: every lesson produces its table and its plot (or, for the one that
//! cannot be measured honestly here, says why), and the numbers that follow from the mechanisms,
//! not from the machine's speed, hold. A test binary of its own, so that its floods of writes do
//! not run beside other live tests.

use std::process::Command;

use anyhow::Context as _;
use ring::testing;

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

/// What the two runs of `bench lessons` left: the lessons (the 3-node routing lesson in place of
/// the one-node one), their printed output and pages, and the report folders.
struct Lessons {
    lessons: Vec<serde_json::Value>,
    stdout: String,
    page: String,
    out: std::path::PathBuf,
    routing_out: std::path::PathBuf,
    /// The sai lesson as it ran on 3 nodes (the one-node run's is among `lessons`).
    sai_on_three: serde_json::Value,
}

impl Lessons {
    fn lesson(&self, name: &str) -> &serde_json::Value {
        self.lessons
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("the lesson {name}"))
    }

    /// The lessons that ran (all but `distance`, which needs two datacenters; its own test runs it).
    fn measured(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.lessons
            .iter()
            .map(|lesson| (lesson["name"].as_str().unwrap_or_default(), lesson))
            .filter(|(name, _)| *name != "distance")
    }
}

/// The lessons run twice (2 minutes): the routing lesson on 3 nodes; the others on the shared
/// one-node ring, where the client has the machine's cores to itself rather than sharing them
/// with three JVMs. Then each claim is checked in turn; a failed assert names its claim.
#[tokio::test]
async fn every_lesson_has_its_table_and_plot() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let routing_out = folder.path().join("routing");
    let routing_stdout = {
        let _turn = testing::exclusive().await;
        let own = testing::start_three_node_ring().await?;
        let stdout = lessons(&own.hosts(), &["--only", "routing,sai"], &routing_out);
        own.stop().await?;
        stdout
    };
    let hosts = testing::test_ring().await.contact_points().join(",");
    let out = folder.path().join("lessons");
    let stdout = lessons(&hosts, &[], &out) + &routing_stdout;
    let on_three = read_lessons(&routing_out);
    let named = |name: &str| on_three.iter().find(|l| l["name"] == name).cloned();
    let routing = named("routing").expect("the routing lesson on 3 nodes");
    let sai_on_three = named("sai").expect("the sai lesson on 3 nodes");
    let mut lessons = read_lessons(&out);
    let one_node_routing = claim_on_one_node_the_routing_lesson_says_why_it_cannot_run(&lessons);
    // The 3-node run replaces it.
    lessons[one_node_routing] = routing;
    let page = std::fs::read_to_string(out.join("index.html"))?
        + &std::fs::read_to_string(routing_out.join("index.html"))?;
    let run = Lessons {
        lessons,
        stdout,
        page,
        out,
        routing_out,
        sai_on_three,
    };

    claim_the_lessons_come_in_their_order(&run);
    claim_every_lesson_is_printed(&run);
    claim_the_distance_lesson_says_why_it_is_left_out(&run);
    claim_every_other_lesson_ran_and_compares_at_least_two_variants_in_whole_rows(&run);
    claim_every_other_lessons_plot_draws_something_and_is_on_the_page(&run)?;
    claim_every_other_lesson_explains_its_finding(&run);
    // What follows from the mechanisms, whatever the machine.
    claim_an_unprepared_statement_costs_a_prepare_and_an_execute_per_write(&run);
    claim_a_prepared_statement_costs_one_request_per_write(&run);
    claim_the_sliding_window_holds_a_rate_well_within_the_rings_reach(&run);
    claim_a_way_that_fell_behind_counts_the_visits_it_never_started(&run);
    claim_token_aware_writes_go_straight_to_the_replica(&run);
    claim_round_robin_forwards_about_two_thirds_of_the_writes_on_3_nodes(&run);
    claim_the_small_bound_never_does_better_than_the_roomy_ones(&run);
    claim_where_the_ring_carries_more_the_bound_not_the_client_held_the_rate_back(&run);
    claim_an_indexed_visit_is_one_replica_write_a_denormalized_one_three(&run);
    claim_on_3_nodes_an_index_read_asks_more_replicas_than_a_partition_read(&run);
    Ok(())
}

/// On one node the routing lesson says why it cannot run: where it is, in `lessons`.
fn claim_on_one_node_the_routing_lesson_says_why_it_cannot_run(
    lessons: &[serde_json::Value],
) -> usize {
    let at = lessons
        .iter()
        .position(|l| l["name"] == "routing")
        .expect("claim: on one node the routing lesson says why it cannot run: it is there");
    assert!(
        lessons[at]["left_out"]
            .as_str()
            .is_some_and(|why| why.contains("1 node")),
        "claim: on one node the routing lesson says why it cannot run: {}",
        lessons[at]
    );
    at
}

fn claim_the_lessons_come_in_their_order(run: &Lessons) {
    let names: Vec<&str> = run
        .lessons
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "prepared", "window", "fanout", "routing", "bound", "distance", "sai"
        ],
        "claim: the lessons come in their order"
    );
}

fn claim_every_lesson_is_printed(run: &Lessons) {
    for lesson in &run.lessons {
        let name = lesson["name"].as_str().unwrap_or_default();
        assert!(
            run.stdout.contains(&format!("== {name}:")),
            "claim: every lesson is printed: {name} is not"
        );
    }
}

fn claim_the_distance_lesson_says_why_it_is_left_out(run: &Lessons) {
    const CLAIM: &str = "on one datacenter the distance lesson says why it is left out";
    let why = run.lesson("distance")["left_out"]
        .as_str()
        .unwrap_or_else(|| panic!("claim: {CLAIM}: it says nothing"));
    assert!(
        why.contains("one datacenter") && why.contains("--dc-latency"),
        "claim: {CLAIM}: {why}"
    );
    assert!(
        run.page.contains("Left out:"),
        "claim: {CLAIM}: the page says so too"
    );
}

fn claim_every_other_lesson_ran_and_compares_at_least_two_variants_in_whole_rows(run: &Lessons) {
    const CLAIM: &str = "every other lesson ran and compares at least two variants in whole rows";
    for (name, lesson) in run.measured() {
        assert!(
            lesson["left_out"].is_null(),
            "claim: {CLAIM}: {name} ran: {lesson}"
        );
        let columns = lesson["columns"]
            .as_array()
            .unwrap_or_else(|| panic!("claim: {CLAIM}: {name} has columns"))
            .len();
        let rows = lesson["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("claim: {CLAIM}: {name} has rows"));
        assert!(
            rows.len() >= 2,
            "claim: {CLAIM}: {name} compares at least two variants"
        );
        for row in rows {
            assert_eq!(
                row.as_array().map(Vec::len),
                Some(columns),
                "claim: {CLAIM}: {name}: {row}"
            );
        }
    }
}

fn claim_every_other_lessons_plot_draws_something_and_is_on_the_page(
    run: &Lessons,
) -> anyhow::Result<()> {
    const CLAIM: &str = "every other lesson's plot draws something and is on the page";
    for (name, lesson) in run.measured() {
        let plot = lesson["plot"]
            .as_str()
            .unwrap_or_else(|| panic!("claim: {CLAIM}: {name} has a plot"));
        let folder = if name == "routing" {
            &run.routing_out
        } else {
            &run.out
        };
        let svg = std::fs::read_to_string(folder.join(plot))
            .with_context(|| format!("claim: {CLAIM}: {name}'s plot"))?;
        assert!(
            svg.contains("<svg")
                && svg.matches("<polyline").count() + svg.matches("<rect").count() > 2,
            "claim: {CLAIM}: {name}: the plot draws something"
        );
        assert!(
            run.page.contains(&format!("data-plot=\"{name}\"")),
            "claim: {CLAIM}: {name}: the page holds its plot"
        );
    }
    Ok(())
}

fn claim_every_other_lesson_explains_its_finding(run: &Lessons) {
    for (name, lesson) in run.measured() {
        assert!(
            lesson["finding"].as_str().is_some_and(|f| f.len() > 100),
            "claim: every other lesson explains its finding: {name} does not"
        );
    }
}

/// Requests per write the ring served for `variant` of the prepared lesson.
fn served(run: &Lessons, variant: &str) -> f64 {
    let cell = &row(run.lesson("prepared"), variant)[6];
    cell.as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("requests per write: {cell}"))
}

/// The driver prepares an unprepared statement with bound values before each execution.
fn claim_an_unprepared_statement_costs_a_prepare_and_an_execute_per_write(run: &Lessons) {
    assert!(
        (1.9..2.1).contains(&served(run, "unprepared, values bound")),
        "claim: an unprepared statement costs a prepare and an execute per write"
    );
}

fn claim_a_prepared_statement_costs_one_request_per_write(run: &Lessons) {
    assert!(
        (0.95..1.1).contains(&served(run, "prepared")),
        "claim: a prepared statement costs one request per write"
    );
}

fn claim_the_sliding_window_holds_a_rate_well_within_the_rings_reach(run: &Lessons) {
    let window = run.lesson("window");
    let of_target = percent(&row(window, "sliding window (3003)")[2]);
    assert!(
        of_target > 95.0,
        "claim: the sliding window holds a rate well within the ring's reach: {of_target}%"
    );
}

/// A way that fell behind counts the visits it never started (and its percentiles hold them).
fn claim_a_way_that_fell_behind_counts_the_visits_it_never_started(run: &Lessons) {
    const CLAIM: &str = "a way that fell behind counts the visits it never started";
    let window = run.lesson("window");
    let synchronous = row(window, "synchronous");
    let never_started: u64 = synchronous[7]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("claim: {CLAIM}: never started: {}", synchronous[7]));
    if percent(&synchronous[2]) < 95.0 {
        assert!(never_started > 0, "claim: {CLAIM}: {window}");
    }
}

/// On 3 nodes with one replica, token-aware writes go straight to the replica.
fn claim_token_aware_writes_go_straight_to_the_replica(run: &Lessons) {
    let routing = run.lesson("routing");
    assert!(
        percent(&row(routing, "token-aware")[4]) < 5.0,
        "claim: token-aware writes go straight to the replica: {routing}"
    );
}

fn claim_round_robin_forwards_about_two_thirds_of_the_writes_on_3_nodes(run: &Lessons) {
    let forwarded = percent(&row(run.lesson("routing"), "round-robin")[4]);
    assert!(
        (45.0..90.0).contains(&forwarded),
        "claim: round-robin forwards about two thirds of the writes on 3 nodes: {forwarded}%"
    );
}

/// The share of its target rate that row `i` of the bound lesson achieved.
fn of_target(bound: &serde_json::Value, i: usize) -> f64 {
    percent(&bound["rows"].as_array().expect("rows")[i][3])
}

fn claim_the_small_bound_never_does_better_than_the_roomy_ones(run: &Lessons) {
    let bound = run.lesson("bound");
    let of_target = |i: usize| of_target(bound, i);
    assert!(
        of_target(0) <= of_target(1) + 3.0 && of_target(0) <= of_target(2) + 3.0,
        "claim: the small bound never does better than the roomy ones: {bound}"
    );
}

/// Where the ring carries well beyond one visit at a time, a bound of one visit falls clearly
/// short of the roomy ones and is named as the limit; where it does not (both cores shared by the
/// ring and a debug client: CI saw 604/s at most against 323/s one at a time), the lesson says
/// the bound costs little there instead of claiming a gap it did not measure.
fn claim_where_the_ring_carries_more_the_bound_not_the_client_held_the_rate_back(run: &Lessons) {
    const CLAIM: &str =
        "where the ring carries more, the bound, not the client, held the rate back";
    let bound = run.lesson("bound");
    let of_target = |i: usize| of_target(bound, i);
    // The verdict of a run whose need sits near its bound flips between the bound and the
    // server's latency with the machine's load (seen here: median service time 1.1 ms, so "2
    // would do", but the mean rose to need 3). Which evidence decides is issue 16's to fix; what
    // the lesson must show is that the bound, not the client, held the rate back.
    let verdict = &row(bound, "3")[5];
    let finding = bound["finding"].as_str().expect("finding");
    if !finding.contains(bench::lessons::bound::SMALL_MARGIN) {
        assert!(
            verdict == "the in-flight bound" || verdict == "the server's latency",
            "claim: {CLAIM}: {bound}"
        );
        assert!(of_target(0) < 90.0, "claim: {CLAIM}: {bound}");
        assert!(
            of_target(1) > of_target(0) + 10.0 && of_target(2) > of_target(0) + 10.0,
            "claim: {CLAIM}: {bound}"
        );
    } else {
        eprintln!("the bound lesson's gap was not checked: {finding}");
    }
}

/// The distance lesson on two datacenters with a modelled distance between them (a ring of its
/// own, 127.0.10.x: 1 ms each way to the clients, 20 ms each way between the DCs). What follows
/// from the mechanism: QUORUM (both replicas) pays at least the 40 ms round trip to the other
/// datacenter on every write, LOCAL_QUORUM at least the client's 2 ms and far less than QUORUM,
/// and the lesson states the delay the ring models.
#[tokio::test]
async fn the_distance_lesson_shows_what_crossing_datacenters_costs() -> anyhow::Result<()> {
    const RING: &str = "test-distance";
    let bench = || Command::new(assert_cmd::cargo::cargo_bin("bench"));
    let _turn = testing::exclusive().await;
    let up = bench()
        .args(["ring", "up", "--name", RING, "--ip-prefix", "127.0.10"])
        .args([
            "--nodes",
            "2",
            "--dcs",
            "2",
            "--heap",
            "1G",
            "--timeout",
            "300s",
        ])
        .args(["--client-latency", "1ms", "--dc-latency", "20ms"])
        .output()?;
    let folder = tempfile::tempdir()?;
    let out = folder.path().join("distance");
    let run = up
        .status
        .success()
        .then(|| lessons("127.1.10.1", &["--dc", "dc1", "--only", "distance"], &out));
    let down = bench()
        .args(["ring", "down", "--wipe", "--name", RING])
        .output()?;
    assert!(
        up.status.success(),
        "the ring with distance starts: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(down.status.success(), "and stops");
    let stdout = run.unwrap_or_default();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("lessons.json"))?)?;
    assert!(
        report["modelled_network"]
            .as_str()
            .is_some_and(|n| n.contains("20ms each way between DCs")),
        "the lessons say how much delay their numbers carry: {}",
        report["modelled_network"]
    );
    assert!(
        std::fs::read_to_string(out.join("index.html"))?
            .contains("Network delay added to every number here"),
        "and their page says it"
    );
    let lesson = read_lessons(&out).remove(0);
    const CLAIM: &str = "the distance lesson shows what crossing datacenters costs";
    assert!(
        lesson["left_out"].is_null(),
        "claim: {CLAIM}: it ran: {lesson}"
    );
    let p50 = |level: &str, column: usize| -> f64 {
        row(&lesson, level)[column]
            .as_str()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("claim: {CLAIM}: {level} has a number in column {column}"))
    };
    let (local_write, quorum_write) = (p50("LOCAL_QUORUM", 1), p50("QUORUM", 1));
    let (local_read, quorum_read) = (p50("LOCAL_QUORUM", 3), p50("QUORUM", 3));
    assert!(
        local_write >= 2.0 && local_read >= 2.0,
        "claim: {CLAIM}: LOCAL_QUORUM pays the client's round trip: {lesson}"
    );
    assert!(
        quorum_write >= local_write + 40.0 && quorum_read >= local_read + 40.0,
        "claim: {CLAIM}: QUORUM pays the round trip between the DCs on top: {lesson}"
    );
    assert!(
        lesson["title"]
            .as_str()
            .is_some_and(|t| t.contains("QUORUM paid")),
        "claim: {CLAIM}: the title says what it cost: {lesson}"
    );
    assert!(
        lesson["finding"].as_str().is_some_and(|f| f
            .contains("models 20ms each way between its datacenters")
            && f.contains("not a real one")),
        "claim: {CLAIM}: the finding states the modelled delay: {lesson}"
    );
    assert!(
        stdout.contains("== distance:"),
        "claim: {CLAIM}: it is printed"
    );
    Ok(())
}

/// What the ring counted per operation in the sai lesson's row `variant`.
fn ring_tasks(lesson: &serde_json::Value, variant: &str) -> f64 {
    let cells = row(lesson, variant);
    cells[4]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("ring tasks of {variant}: {cells:?}"))
}

fn claim_an_indexed_visit_is_one_replica_write_a_denormalized_one_three(run: &Lessons) {
    const CLAIM: &str = "an indexed visit is one replica write, a denormalized one three";
    for lesson in [run.lesson("sai"), &run.sai_on_three] {
        let denormalized = ring_tasks(lesson, "write: denormalized, 3 tables");
        let indexed = ring_tasks(lesson, "write: SAI, 1 table + 4 indexes");
        assert!(
            (2.8..=3.3).contains(&denormalized) && (0.9..=1.2).contains(&indexed),
            "claim: {CLAIM}: {denormalized} and {indexed} replica writes per visit"
        );
    }
}

fn claim_on_3_nodes_an_index_read_asks_more_replicas_than_a_partition_read(run: &Lessons) {
    const CLAIM: &str = "on 3 nodes an index read asks more replicas than a partition read";
    let lesson = &run.sai_on_three;
    let partition = ring_tasks(lesson, "read: one partition (GROUP BY)");
    let index = ring_tasks(lesson, "read: through the employee index");
    assert!(
        partition <= 1.3 && index >= 2.0,
        "claim: {CLAIM}: {partition} replica reads per partition read, {index} per index read"
    );
    assert!(
        lesson["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Denormalize or index")),
        "claim: {CLAIM}: the title says which way wins: {}",
        lesson["title"]
    );
}
