//! The bad-input catalogue: every binary, every way to get it wrong that a user will find. Each
//! case must exit with code 2 (a usage error, caught before any work) or 1 (a runtime error),
//! print exactly one line on stderr that names the problem, never panic or print a backtrace,
//! leave files that existed untouched, and leave no half-written file behind.

use std::path::Path;
use std::process::Command;

use ring::testing::{self, one_line_failure};

/// One bad input: the binary, its arguments (with `{hosts}`, `{dir}`, `{existing}`, `{taken}`,
/// `{missing_ks}`, `{empty_ks}` and `{drifted_ks}` filled in), its environment, the exit code
/// and what the line must say.
struct Case(
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    i32,
    &'static str,
);

const NOWHERE: &str = "127.0.0.254";

const CASES: &[Case] = &[
    // schema, and the connection options every binary shares
    Case(
        "schema",
        &["check", "--hosts", ""],
        &[],
        2,
        "empty contact point",
    ),
    Case("schema", &["check", "--hosts", "db:70000"], &[], 2, "70000"),
    Case("schema", &["check", "--port", "ninety"], &[], 2, "--port"),
    Case(
        "schema",
        &["check"],
        &[("CASSANDRA_PORT", "ninety")],
        2,
        "CASSANDRA_PORT",
    ),
    Case(
        "schema",
        &["check", "--consistency", "MOSTLY"],
        &[],
        2,
        "unknown consistency level 'MOSTLY'",
    ),
    Case(
        "schema",
        &["check", "--connect-timeout", "5"],
        &[],
        2,
        "with a unit",
    ),
    Case(
        "schema",
        &["check", "--keyspace", "Bad-Name"],
        &[],
        2,
        "not a usable keyspace name",
    ),
    Case(
        "schema",
        &["apply", "--replication", "dc1"],
        &[],
        2,
        "DC:FACTOR",
    ),
    Case(
        "schema",
        &["apply", "--replication", "dc1:0"],
        &[],
        2,
        "from 1 to 10",
    ),
    Case(
        "schema",
        &["drop", "--hosts", NOWHERE],
        &[],
        2,
        "without --yes",
    ),
    Case(
        "schema",
        &["check"],
        &[("CASSANDRA_DC_FAILOVER", "maybe")],
        2,
        "CASSANDRA_DC_FAILOVER",
    ),
    Case(
        "schema",
        &["check", "--tls-cert", "{existing}"],
        &[],
        2,
        "--tls-key",
    ),
    Case(
        "schema",
        &["check", "--hosts", NOWHERE, "--connect-timeout", "2s"],
        &[],
        1,
        "cannot reach Cassandra at 127.0.0.254:9042",
    ),
    Case(
        "schema",
        &[
            "check",
            "--hosts",
            NOWHERE,
            "--tls-ca",
            "{dir}/no-such-ca.pem",
        ],
        &[],
        1,
        "cannot use the CA certificate",
    ),
    Case(
        "schema",
        &[
            "check",
            "--hosts",
            NOWHERE,
            "--user",
            "u",
            "--password-file",
            "{dir}/no-password",
        ],
        &[],
        1,
        "cannot read the password file",
    ),
    Case(
        "schema",
        &["check", "--hosts", "{hosts}", "--dc", "atlantis"],
        &[],
        1,
        "datacenter 'atlantis'",
    ),
    Case(
        "schema",
        &["check", "--hosts", "{hosts}", "--keyspace", "{missing_ks}"],
        &[],
        1,
        "differs from schema.cql",
    ),
    Case(
        "schema",
        &["check", "--hosts", "{hosts}", "--keyspace", "{drifted_ks}"],
        &[],
        1,
        "differs from schema.cql",
    ),
    Case(
        "schema",
        &["apply", "--memtable", "tr ie"],
        &[],
        2,
        "a memtable configuration is named",
    ),
    // factory
    Case("factory", &["--rate", "0"], &[], 2, "'0' is not a rate"),
    Case("factory", &["--model", "graph"], &[], 2, "--model"),
    Case("factory", &[], &[("FACTORY_MODEL", "graph")], 2, "--model"),
    Case(
        "factory",
        &["--model", "sai", "--production-by-day"],
        &[],
        2,
        "--production-by-day is a table of the denormalized model",
    ),
    Case(
        "factory",
        &["--plant-trees", "--model", "sai"],
        &[],
        2,
        "--plant-trees writes trees' profiles, not visits",
    ),
    Case(
        "factory",
        &["--shard", "3/3"],
        &[],
        2,
        "shards are numbered 0 to 2",
    ),
    Case("factory", &["--shard", "1of3"], &[], 2, "expected I/N"),
    // ramps: the end below the start, a ramp without its length, a length without a ramp
    Case(
        "factory",
        &["--rate", "5000..1000", "--ramp", "60s"],
        &[],
        2,
        "end must be above its start",
    ),
    Case(
        "factory",
        &["--rate", "1000..5000"],
        &[],
        2,
        "a ramp needs --ramp",
    ),
    Case(
        "factory",
        &["--rate", "1000", "--ramp", "60s"],
        &[],
        2,
        "--rate FROM..TO",
    ),
    Case(
        "shop",
        &["--rate", "10..x", "--ramp", "60s"],
        &[],
        2,
        "not a rate",
    ),
    Case(
        "factory",
        &["--rate", "100..200", "--ramp", "5s", "--shard", "0/2"],
        &[],
        2,
        "a sharded ramp is not supported",
    ),
    Case(
        "factory",
        &[],
        &[("PICKLE_SHARDS", "3")],
        2,
        "which shard is this?",
    ),
    Case(
        "factory",
        &["--shards", "3"],
        &[("PICKLE_SHARD_SLOT", "0")],
        2,
        "task slots are 1-based",
    ),
    Case(
        "factory",
        &["--start-at", "tomorrow"],
        &[],
        2,
        "not a start time",
    ),
    Case(
        "factory",
        &["--start-at", "2020-01-01T00:00:00Z"],
        &[],
        2,
        "give a time ahead",
    ),
    Case("factory", &["--rate", "-5"], &[], 2, "'-5' is not a rate"),
    Case(
        "factory",
        &["--rate", "1e-20"],
        &[],
        2,
        "less than one operation a day",
    ),
    Case(
        "factory",
        &["--rate", "fast"],
        &[],
        2,
        "'fast' is not a rate",
    ),
    Case("factory", &[], &[("PICKLE_RATE", "-1")], 2, "PICKLE_RATE"),
    Case("factory", &["--duration", "0s"], &[], 2, "above zero"),
    Case("factory", &["--duration", "-1s"], &[], 2, "not a duration"),
    Case("factory", &["--warmup", "soon"], &[], 2, "not a duration"),
    // Durations beyond any sensible run: typos, refused before any work.
    Case(
        "factory",
        &["--warmup", "99999999999s"],
        &[],
        2,
        "longer than a week",
    ),
    Case(
        "factory",
        &["--duration", "8days"],
        &[],
        2,
        "longer than a week",
    ),
    Case(
        "factory",
        &["--drain-timeout", "30days"],
        &[],
        2,
        "longer than a week",
    ),
    Case(
        "factory",
        &[],
        &[("PICKLE_OUTAGE_LIMIT", "1000h")],
        2,
        "PICKLE_OUTAGE_LIMIT",
    ),
    Case(
        "factory",
        &["--max-in-flight", "0"],
        &[],
        2,
        "--max-in-flight",
    ),
    Case(
        "factory",
        &["--max-in-flight", "2"],
        &[],
        2,
        "must be at least 3",
    ),
    Case("factory", &["--employees", "0"], &[], 2, "--employees"),
    Case("factory", &["--visits", "0"], &[], 2, "--visits"),
    Case(
        "factory",
        &["--table-consistency", "tress=ONE"],
        &[],
        2,
        "no table tress",
    ),
    Case(
        "factory",
        &["--table-consistency", "trees"],
        &[],
        2,
        "TABLE=LEVEL",
    ),
    Case("factory", &["--timer", "sundial"], &[], 2, "--timer"),
    Case(
        "factory",
        &["--report", "{existing}"],
        &[],
        2,
        "the file exists",
    ),
    Case(
        "factory",
        &["--report", "{dir}/no/such/folder/r.json"],
        &[],
        2,
        "does not exist",
    ),
    Case(
        "factory",
        &["--report", "{dir}/r.json", "--hdr-log", "{dir}/r.json"],
        &[],
        2,
        "different paths",
    ),
    Case("factory", &["--hdr-log", "{dir}"], &[], 2, "is a folder"),
    Case(
        "factory",
        &["--metrics-addr", "everywhere"],
        &[],
        2,
        "--metrics-addr",
    ),
    Case(
        "factory",
        &[],
        &[("PICKLE_METRICS_ADDR", "9464")],
        2,
        "PICKLE_METRICS_ADDR",
    ),
    Case(
        "factory",
        &["--metrics-addr", "{taken}"],
        &[],
        2,
        "cannot serve metrics there",
    ),
    Case(
        "factory",
        &[],
        &[("CASSANDRA_HOSTS", "")],
        2,
        "empty contact point",
    ),
    Case(
        "factory",
        &["--hosts", "{hosts}", "--keyspace", "{missing_ks}"],
        &[],
        1,
        "run `schema apply --keyspace",
    ),
    // shop
    Case("shop", &["--employees", "0"], &[], 2, "--employees"),
    Case("shop", &["--model", "index"], &[], 2, "--model"),
    Case("shop", &["--overquery", "0"], &[], 2, "--overquery"),
    Case("shop", &["--similar-trees", "0"], &[], 2, "--similar-trees"),
    Case(
        "shop",
        &["--follow-planting"],
        &[],
        2,
        "required arguments were not provided",
    ),
    Case(
        "shop",
        &["--similar-trees", "5", "--follow-planting"],
        &[],
        2,
        "--follow-planting follows a planting during a measured loop",
    ),
    Case(
        "shop",
        &["--similar-trees", "1001"],
        &[],
        2,
        "--similar-trees",
    ),
    Case(
        "shop",
        &[],
        &[("SHOP_SIMILAR_TREES", "-3")],
        2,
        "--similar-trees",
    ),
    Case(
        "shop",
        &["--similar-trees", "5", "--verify"],
        &[],
        2,
        "cannot be used with",
    ),
    Case(
        "shop",
        &["--verify-visits", "0"],
        &[],
        2,
        "neither a positive number",
    ),
    Case(
        "shop",
        &["--compare", "--rate", "10"],
        &[],
        2,
        "'--compare' cannot be used with '--rate",
    ),
    Case(
        "shop",
        &["--verify-visits", "all", "--duration", "5s"],
        &[],
        2,
        "one-off audit",
    ),
    Case("shop", &["--page-size", "-1"], &[], 2, "--page-size"),
    Case(
        "shop",
        &["--duration", "5s", "--report", "{existing}"],
        &[],
        2,
        "the file exists",
    ),
    Case(
        "shop",
        &["--hosts", "{hosts}", "--keyspace", "{empty_ks}"],
        &[],
        1,
        "run `factory` first",
    ),
    // bench
    Case(
        "bench",
        &["lessons", "--only", "speed"],
        &[],
        2,
        "invalid value 'speed' for '--only",
    ),
    Case("bench", &["lessons", "--rate", "0"], &[], 2, "--rate"),
    // findmax: an SLA of nothing, windows longer than steps, a ceiling below the start
    Case("bench", &["findmax", "--p99", "0ms"], &[], 2, "--p99"),
    Case("bench", &["findmax", "--p99", "-5ms"], &[], 2, "--p99"),
    Case("bench", &["findmax"], &[], 2, "--p99 or --p999"),
    Case(
        "bench",
        &[
            "findmax", "--p99", "10ms", "--window", "60s", "--step", "30s",
        ],
        &[],
        2,
        "a step holds whole windows",
    ),
    Case(
        "bench",
        &[
            "findmax",
            "--p99",
            "10ms",
            "--start-rate",
            "5000",
            "--max-rate",
            "1000",
        ],
        &[],
        2,
        "below --start-rate",
    ),
    Case(
        "bench",
        &["findmax", "--p99", "10ms", "--retries", "9"],
        &[],
        2,
        "--retries",
    ),
    Case(
        "bench",
        &["findmax", "--p99", "10ms", "--", "--rate", "5"],
        &[],
        2,
        "each step sets it",
    ),
    Case(
        "bench",
        &["plan", "--rate", "100", "--headroom", "2", "{existing}"],
        &[],
        2,
        "--headroom 2: a share of the cores",
    ),
    Case(
        "bench",
        &["plan", "--rate", "100", "{existing}"],
        &[],
        1,
        "is not a pickle run report",
    ),
    Case(
        "bench",
        &["--scenario", "factory-9000"],
        &[],
        2,
        "invalid value 'factory-9000' for '--scenario",
    ),
    Case(
        "bench",
        &["--hosts", NOWHERE, "--out", "{existing}"],
        &[],
        2,
        "already exists",
    ),
    Case(
        "bench",
        &["ring", "up", "--nodes", "0"],
        &[],
        2,
        "--nodes 0",
    ),
    Case(
        "bench",
        &["ring", "up", "--ip-prefix", "10.0.0"],
        &[],
        2,
        "not a loopback prefix",
    ),
    Case(
        "bench",
        &["ring", "up", "--heap", "lots"],
        &[],
        2,
        "not a heap size",
    ),
    Case(
        "bench",
        &["ring", "up", "--heap", "1K"],
        &[],
        2,
        "too small for a Cassandra node",
    ),
    Case(
        "bench",
        &["ring", "up", "--nodes", "2", "--dcs", "3"],
        &[],
        2,
        "--dcs 3",
    ),
    Case(
        "bench",
        &["ring", "up", "--name", "../etc"],
        &[],
        2,
        "not a ring name",
    ),
    Case(
        "bench",
        &["ring", "up", "--timeout", "soon"],
        &[],
        2,
        "not a duration",
    ),
    Case(
        "bench",
        &["ring", "status", "--name", "no-such-ring"],
        &[],
        1,
        "there is no ring named 'no-such-ring'",
    ),
    Case(
        "bench",
        &["ring", "kill", "--name", "no-such-ring", "--node", "1"],
        &[],
        1,
        "there is no ring named",
    ),
    Case(
        "bench",
        &["compare", "{dir}/missing.json", "{existing}"],
        &[],
        1,
        "cannot read",
    ),
    Case(
        "bench",
        &["compare", "{existing}", "{existing}"],
        &[],
        1,
        "is not a pickle run report (not JSON",
    ),
    Case(
        "bench",
        &[
            "compare",
            "{existing}",
            "{existing}",
            "--fail-if-slower",
            "fast",
        ],
        &[],
        2,
        "not a percentage",
    ),
    Case(
        "bench",
        &["merge", "{dir}/merged", "{existing}"],
        &[],
        2,
        "<INPUTS>",
    ),
    Case(
        "bench",
        &["plot", "{dir}/no-such-report"],
        &[],
        1,
        "cannot read",
    ),
    Case(
        "bench",
        &["show", "{existing}"],
        &[],
        1,
        "is not a pickle run report",
    ),
];

#[tokio::test]
async fn every_bad_input_is_one_line_and_the_right_exit_code() -> anyhow::Result<()> {
    assert!(CASES.len() >= 30, "the catalogue keeps at least 30 cases");
    let (empty_ks, hosts) = schema::testing::fresh_keyspace("catalogue_empty").await?;
    let drifted_ks = schema::testing::fresh_keyspace_on(&hosts, "catalogue_drifted").await?;
    let session = testing::connection_args(&["--hosts", &hosts])
        .connect()
        .await?
        .session;
    session
        .query_unpaged(
            format!("ALTER TABLE {drifted_ks}.timesheets DROP watered"),
            &[],
        )
        .await?;
    let folder = tempfile::tempdir()?;
    let existing = folder.path().join("precious.txt");
    std::fs::write(&existing, "precious")?;
    // A port held for the whole test: --metrics-addr there must be refused.
    let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
    let taken = holder.local_addr()?.to_string();
    let fill = |word: &str| {
        word.replace("{hosts}", &hosts)
            .replace("{taken}", &taken)
            .replace("{dir}", &folder.path().display().to_string())
            .replace("{existing}", &existing.display().to_string())
            .replace("{missing_ks}", "no_such_keyspace_here")
            .replace("{empty_ks}", &empty_ks)
            .replace("{drifted_ks}", &drifted_ks)
    };
    for Case(binary, args, env, code, says) in CASES {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin(binary));
        for variable in [
            "CASSANDRA_HOSTS",
            "CASSANDRA_PORT",
            "PICKLE_RATE",
            "CASSANDRA_DC_FAILOVER",
        ] {
            command.env_remove(variable);
        }
        command
            .args(args.iter().map(|a| fill(a)))
            .envs(env.iter().map(|(k, v)| (*k, fill(v))));
        let line = one_line_failure(&mut command, *code);
        assert!(
            line.contains(says),
            "{binary} {args:?}: expected '{says}' in: {line}"
        );
        assert!(
            !line.contains("panicked") && !line.contains("RUST_BACKTRACE"),
            "{binary} {args:?}: {line}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&existing)?,
        "precious",
        "no case touched a file that existed"
    );
    assert_no_partial_files(folder.path());
    for keyspace in [&empty_ks, &drifted_ks] {
        schema::drop_keyspace(&session, keyspace).await?;
    }
    Ok(())
}

fn assert_no_partial_files(folder: &Path) {
    let entries = std::fs::read_dir(folder).unwrap_or_else(|e| panic!("{e}"));
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".partial"),
            "a half-written file was left behind: {name}"
        );
    }
}

/// An environment variable and a flag that disagree are not an error: the flag wins, as
/// documented, and the report records what was used.
#[tokio::test]
async fn a_flag_wins_over_its_environment_variable() -> anyhow::Result<()> {
    let (keyspace, hosts) = schema::testing::fresh_keyspace("catalogue_env").await?;
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("r.json");
    let output = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args([
            "--hosts",
            &hosts,
            "--keyspace",
            &keyspace,
            "--rate",
            "50",
            "--visits",
            "25",
            "--quiet",
            "--report",
        ])
        .arg(&report)
        .env("PICKLE_RATE", "5000")
        .env("FACTORY_EMPLOYEES", "7")
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = loadgen::report::RunReport::read(&report)?;
    assert_eq!(run.target_rate, Some(50.0), "--rate beat PICKLE_RATE");
    assert_eq!(
        run.config["factory"]["employees"], 7,
        "the variable counts where no flag is given"
    );
    Ok(())
}
