//! Checks of `compose/` that need no Docker engine: Debian's `docker-compose` accepts the file
//! with each env file and profile, every variable the env files set is one the apps read (asked
//! of the binaries themselves, from their clap definitions), every mounted or built path exists,
//! and the Dockerfile builds and copies the binaries the services run.
//!
//! These run in the test command, in seconds and without an engine. What only a running engine
//! shows (the images build, the ring forms, the apps run in it, Prometheus scrapes them) is
//! `compose/e2e.sh`, which CI runs after the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ENV_FILES: [&str; 3] = ["settings.env", "dev.env", "prod.env"];
const PROFILES: [Option<&str>; 3] = [None, Some("tools"), Some("monitoring")];
const APP_IMAGE: &str = "pickle-apps:local";

fn compose_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose")
}

/// `docker-compose [--profile P] <args>` in compose/, with `PICKLE_ENV` set; panics with what to
/// install when the tool is missing.
fn docker_compose(pickle_env: &str, profile: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new("docker-compose");
    command
        .current_dir(compose_dir())
        .env("PICKLE_ENV", pickle_env)
        .env_remove("CASSANDRA_USER")
        .env_remove("CASSANDRA_PASSWORD");
    if let Some(profile) = profile {
        command.args(["--profile", profile]);
    }
    command.args(args).output().unwrap_or_else(|error| {
        panic!(
            "cannot run docker-compose ({error}): install it with `apt-get install docker-compose`"
        )
    })
}

/// The resolved configuration (`docker-compose config`) of one env file and profile.
fn resolved(pickle_env: &str, profile: Option<&str>) -> String {
    let output = docker_compose(pickle_env, profile, &["config"]);
    assert!(
        output.status.success(),
        "docker-compose config (PICKLE_ENV={pickle_env}, profile {profile:?}) refused the file: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One service of the resolved configuration, as the parts these checks need.
#[derive(Debug, Default)]
struct Service {
    image: String,
    entrypoint: Vec<String>,
    environment: BTreeSet<String>,
    volume_sources: Vec<String>,
    /// Each bind mount as (host path, path in the container).
    mounts: Vec<(String, String)>,
    /// The container side of each published port.
    port_targets: Vec<String>,
    profiles: Vec<String>,
    build: BTreeMap<String, String>,
}

/// Reads the services of `docker-compose config` output. The output is normalised YAML (two
/// spaces per level, one key per line), so its indentation is its structure.
fn services(config: &str) -> BTreeMap<String, Service> {
    let mut services = BTreeMap::new();
    let (mut in_services, mut current, mut section) = (false, String::new(), String::new());
    for line in config.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 0 {
            in_services = text == "services:";
            continue;
        }
        if !in_services || text.is_empty() {
            continue;
        }
        let service: &mut Service = match indent {
            2 => {
                current = text.trim_end_matches(':').to_owned();
                services.insert(current.clone(), Service::default());
                continue;
            }
            _ => services
                .get_mut(&current)
                .expect("a service before its keys"),
        };
        // docker-compose writes a list's items at its key's own indentation.
        let item = text.strip_prefix("- ");
        if indent == 4 && item.is_none() {
            section = text.split(':').next().unwrap_or_default().to_owned();
            if let Some(image) = text.strip_prefix("image: ") {
                service.image = image.to_owned();
            }
            continue;
        }
        match (section.as_str(), indent) {
            ("environment", 6) => {
                service
                    .environment
                    .insert(text.split(':').next().unwrap_or_default().to_owned());
            }
            ("entrypoint", 4..) => service.entrypoint.extend(item.map(str::to_owned)),
            ("profiles", 4..) => service.profiles.extend(item.map(str::to_owned)),
            ("volumes", 4..) => {
                let mut parts = item.unwrap_or_default().split(':');
                if let (Some(source), Some(target)) = (parts.next(), parts.next())
                    && source.starts_with('/')
                {
                    service.volume_sources.push(source.to_owned());
                    service.mounts.push((source.to_owned(), target.to_owned()));
                }
            }
            ("ports", 6) => {
                if let Some(target) = text.strip_prefix("target: ") {
                    service.port_targets.push(target.to_owned());
                }
            }
            ("build", 6) => {
                if let Some((key, value)) = text.split_once(": ") {
                    service.build.insert(key.to_owned(), value.to_owned());
                }
            }
            _ => {}
        }
    }
    services
}

/// Every environment variable one of the project's binaries reads, as they print it.
fn variables_the_apps_read() -> BTreeSet<String> {
    let mut variables = BTreeSet::new();
    for binary in ["factory", "shop", "schema", "bench"] {
        let output = Command::new(assert_cmd::cargo::cargo_bin(binary))
            .arg(client::cli::PRINT_ENV_VARS)
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{binary} --print-env-vars failed");
        variables.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    assert!(
        variables.contains("CASSANDRA_HOSTS") && variables.contains("PICKLE_METRICS_ADDR"),
        "the binaries list their variables: {variables:?}"
    );
    variables
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `KEY` of each `KEY=value` line of an env file.
fn keys_of_env_file(path: &Path) -> Vec<String> {
    read(path)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, _) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: not KEY=value: {line}", path.display()));
            key.to_owned()
        })
        .collect()
}

/// The binaries of the workspace, from `cargo metadata`.
fn workspace_binaries() -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut binaries = BTreeSet::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        for target in package["targets"].as_array().into_iter().flatten() {
            if target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
            {
                binaries.insert(target["name"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    binaries
}

#[test]
fn docker_compose_accepts_the_file_with_each_env_file_and_profile() {
    let file = read(&compose_dir().join("docker-compose.yml"));
    assert!(
        !file.lines().any(|line| line.starts_with("version:")),
        "the Compose specification has no `version:` key"
    );
    for pickle_env in ["dev", "prod"] {
        for profile in PROFILES {
            let services = services(&resolved(pickle_env, profile));
            for name in [
                "cassandra-1",
                "cassandra-2",
                "cassandra-3",
                "schema",
                "factory",
                "shop",
                "bench",
            ] {
                assert!(
                    services.contains_key(name),
                    "{name} is missing: {services:?}"
                );
            }
            // docker-compose 1.29 lists every service; `up` starts only those of no profile
            // or of a profile asked for.
            for (name, service) in &services {
                let expected: &[&str] = match name.as_str() {
                    "prometheus" | "grafana" => &["monitoring"],
                    "cqlsh" | "nodetool" => &["tools"],
                    _ => &[],
                };
                assert_eq!(service.profiles, expected, "profiles of {name}");
            }
        }
    }
    // A missing env file is refused: the check above can fail.
    let output = docker_compose("staging", None, &["config", "-q"]);
    assert!(
        !output.status.success(),
        "an unknown PICKLE_ENV must be refused"
    );
}

#[test]
fn every_variable_of_the_env_files_is_one_the_apps_read() {
    let known = variables_the_apps_read();
    for file in ENV_FILES {
        let keys = keys_of_env_file(&compose_dir().join(file));
        assert!(!keys.is_empty(), "{file} sets nothing");
        for key in keys {
            assert!(
                known.contains(&key),
                "{file} sets {key}, which no app reads"
            );
        }
    }
}

/// The services that run the apps' image, of each env file's resolved configuration.
fn app_services() -> Vec<(String, Service)> {
    ["dev", "prod"]
        .into_iter()
        .flat_map(|pickle_env| services(&resolved(pickle_env, None)))
        .filter(|(_, service)| service.image == APP_IMAGE)
        .collect()
}

#[test]
fn every_variable_an_app_service_sets_is_one_the_apps_read() {
    let known = variables_the_apps_read();
    for (name, service) in app_services() {
        for key in &service.environment {
            assert!(
                known.contains(key),
                "service {name} sets {key}, which no app reads"
            );
        }
    }
}

#[test]
fn every_app_service_gets_the_env_files() {
    for (name, service) in app_services() {
        assert!(
            service.environment.contains("CASSANDRA_HOSTS"),
            "service {name} gets the env files"
        );
    }
}

/// How docker-compose.yml substitutes a variable: `$` and an opening brace, then its name (a
/// `\u{7b}` escape rather than the brace itself keeps the braces of the source balanced).
const SUBSTITUTION: &str = "$\u{7b}";

/// .env.example holds what docker-compose substitutes (never committed as .env).
#[test]
fn every_variable_of_env_example_is_one_docker_compose_yml_substitutes() {
    let compose = read(&compose_dir().join("docker-compose.yml"));
    for key in keys_of_env_file(&compose_dir().join(".env.example")) {
        assert!(
            compose.contains(&format!("{SUBSTITUTION}{key}")),
            ".env.example sets {key}, which docker-compose.yml does not use"
        );
    }
}

#[test]
fn every_path_mounted_or_built_exists() {
    for profile in PROFILES {
        for (name, service) in services(&resolved("dev", profile)) {
            for source in &service.volume_sources {
                assert!(
                    Path::new(source).exists(),
                    "service {name} mounts {source}, which does not exist"
                );
            }
            if let Some(context) = service.build.get("context") {
                let dockerfile = Path::new(context).join(&service.build["dockerfile"]);
                assert!(
                    dockerfile.is_file(),
                    "service {name} builds from {dockerfile:?}"
                );
            }
        }
    }
    // What the mounted monitoring folders must hold for Prometheus and Grafana to start.
    let monitoring = compose_dir().join("monitoring");
    for file in [
        "prometheus.yml",
        "grafana/provisioning/datasources/prometheus.yml",
        "grafana/provisioning/dashboards/pickle.yml",
        "grafana/dashboards/pickle.json",
    ] {
        assert!(monitoring.join(file).is_file(), "compose/monitoring/{file}");
    }
}

/// A YAML file of compose/monitoring, parsed.
fn yaml(path: &Path) -> serde_norway::Value {
    serde_norway::from_str(&read(path))
        .unwrap_or_else(|error| panic!("{path:?} is not YAML: {error}"))
}

/// Grafana never runs here (no registry, no Debian package), so what it would read is checked as
/// far as can be without it: the provisioning files parse, the data source points at the
/// Prometheus service and port of the compose file, the dashboard provider's path is where the
/// compose file mounts the dashboards, every panel of every dashboard there uses the provisioned
/// data source and has a query, and `e2e.sh` asks Prometheus every query of every dashboard in
/// that folder.
#[test]
fn grafana_provisioning_parses_and_points_at_what_the_compose_file_runs() {
    let services = services(&resolved("dev", Some("monitoring")));
    let (grafana, prometheus) = (&services["grafana"], &services["prometheus"]);
    let monitoring = compose_dir()
        .join("monitoring")
        .canonicalize()
        .expect("compose/monitoring");
    let mounted_at = |folder: &str| {
        let source = monitoring.join(folder);
        grafana
            .mounts
            .iter()
            .find(|(host, _)| Path::new(host) == source)
            .map(|(_, target)| target.clone())
            .unwrap_or_else(|| {
                panic!(
                    "grafana does not mount monitoring/{folder}: {:?}",
                    grafana.mounts
                )
            })
    };
    assert_eq!(
        mounted_at("grafana/provisioning"),
        "/etc/grafana/provisioning"
    );

    // The data source: Prometheus, at the service's name and the port it listens on.
    let provisioning = monitoring.join("grafana/provisioning");
    let sources = yaml(&provisioning.join("datasources/prometheus.yml"));
    assert_eq!(sources["apiVersion"], 1, "datasources: apiVersion");
    let sources = sources["datasources"]
        .as_sequence()
        .expect("a datasources list");
    assert_eq!(sources.len(), 1, "one data source");
    let source = &sources[0];
    assert_eq!(source["type"], "prometheus");
    assert_eq!(source["isDefault"], true);
    let url = source["url"].as_str().expect("the data source's url");
    let (host, port) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once(':'))
        .expect("url http://host:port");
    assert!(
        services.contains_key(host),
        "the data source's host {host} is no service"
    );
    assert_eq!(host, "prometheus");
    assert!(
        prometheus.port_targets.iter().any(|target| target == port),
        "the data source's port {port} is not one prometheus serves: {:?}",
        prometheus.port_targets
    );
    let uid = source["uid"].as_str().expect("the data source's uid");

    // The dashboard provider: files, from where the compose file mounts the dashboards folder.
    let providers = yaml(&provisioning.join("dashboards/pickle.yml"));
    assert_eq!(
        providers["apiVersion"], 1,
        "dashboard providers: apiVersion"
    );
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(
        provider["options"]["path"].as_str(),
        Some(mounted_at("grafana/dashboards").as_str()),
        "the provider reads dashboards where the compose file does not mount them"
    );

    // Every dashboard there: each panel on the provisioned data source, with a query.
    let mut dashboards = 0;
    for entry in std::fs::read_dir(monitoring.join("grafana/dashboards")).expect("dashboards") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        dashboards += 1;
        let dashboard: serde_json::Value =
            serde_json::from_str(&read(&path)).expect("the dashboard is JSON");
        let panels = dashboard["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{path:?} has no panel");
        for panel in panels {
            let title = &panel["title"];
            assert_eq!(
                panel["datasource"]["uid"].as_str(),
                Some(uid),
                "{path:?}: panel {title} does not use the provisioned data source {uid}"
            );
            let targets = panel["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(
                !targets.is_empty()
                    && targets
                        .iter()
                        .all(|t| t["expr"].as_str().is_some_and(|e| !e.trim().is_empty())),
                "{path:?}: panel {title} has no query (e2e.sh would check nothing for it)"
            );
        }
    }
    assert_eq!(dashboards, 2, "the dashboards: pickle.json and ring.json");
    // e2e.sh's step 9 asks Prometheus each panel's query of every dashboard in the folder.
    let e2e = read(&compose_dir().join("e2e.sh"));
    assert!(
        e2e.contains("python3 - monitoring/grafana/dashboards/*.json"),
        "e2e.sh no longer asks Prometheus the queries of every dashboard in the folder"
    );
}

#[test]
fn the_ring_metrics_override_loads_the_agent_it_mounts_with_rules_for_every_dashboard_metric() {
    let monitoring = compose_dir().join("monitoring");
    let overlay = read(&monitoring.join("ring-metrics.yml"));
    assert!(
        overlay.contains("./monitoring/jmx:/opt/jmx:ro"),
        "{overlay}"
    );
    assert!(
        overlay.contains(
            "-javaagent:/opt/jmx/jmx_prometheus_javaagent.jar=7070:/opt/jmx/cassandra.yml"
        ),
        "{overlay}"
    );
    // JVM_EXTRA_OPTS replaces the base file's: it must keep every option of it (JMX open for the
    // nodetool service).
    let base = read(&compose_dir().join("docker-compose.yml"));
    let base_options: Vec<&str> = base
        .split_whitespace()
        .filter(|word| word.starts_with("-D"))
        .collect();
    assert!(!base_options.is_empty(), "{base_options:?}");
    for option in base_options {
        assert!(
            overlay.contains(option),
            "the override's JVM_EXTRA_OPTS drops the base file's {option}"
        );
    }
    let rules = read(&monitoring.join("jmx/cassandra.yml"));
    let prometheus = read(&monitoring.join("prometheus.yml"));
    assert!(prometheus.contains("cassandra-1:7070"), "{prometheus}");
    // Every cassandra_* metric the ring dashboard asks for is one the rules make (the JVM's
    // jvm_* metrics come from the agent itself).
    let dashboard = read(&monitoring.join("grafana/dashboards/ring.json"));
    let asked: BTreeSet<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("cassandra_"))
        .collect();
    assert!(asked.len() >= 8, "{asked:?}");
    for metric in asked {
        let made = rules.contains(&format!("name: {metric}"))
            || metric
                .strip_prefix("cassandra_storage_")
                .is_some_and(|rest| {
                    rules
                        .to_lowercase()
                        .contains(&format!("(totalhints|{rest})"))
                });
        assert!(
            made,
            "the ring dashboard asks for {metric}, which no rule makes"
        );
    }
}

/// What follows `prefix` in each word (or line) that starts with it: the binaries a Dockerfile
/// copies from a folder, or the ones a `.dockerignore` lets through.
fn names_after<'a>(words: impl Iterator<Item = &'a str>, prefix: &str) -> BTreeSet<String> {
    words
        .filter_map(|word| word.strip_prefix(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_dockerfile_builds_and_copies_the_binaries_the_services_run() {
    let dockerfile = read(&compose_dir().join("Dockerfile"));
    let workspace = workspace_binaries();
    let built: BTreeSet<String> = dockerfile
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "--bin")
        .map(|w| w[1].to_owned())
        .collect();
    let copied = names_after(dockerfile.split_whitespace(), "/src/target/release/");
    assert!(!built.is_empty(), "the Dockerfile builds with --bin");
    for binary in &built {
        assert!(
            workspace.contains(binary),
            "the Dockerfile builds {binary}, not a binary of the workspace"
        );
    }
    assert_eq!(
        copied, built,
        "the runtime stage copies what the build stage built"
    );
    // The `prebuilt` target copies the same binaries from the host's release build, and the build
    // context lets exactly those through.
    let prebuilt = names_after(dockerfile.split_whitespace(), "${BINARIES}/");
    assert_eq!(
        prebuilt, built,
        "the prebuilt target copies what the build stage builds"
    );
    assert!(
        dockerfile.contains("ARG BINARIES=target/release"),
        "the prebuilt target takes the release build by default"
    );
    let ignored = read(&compose_dir().join("../.dockerignore"));
    let let_through = names_after(ignored.lines().map(str::trim), "!target/release/");
    assert_eq!(
        let_through, built,
        ".dockerignore lets the prebuilt binaries through"
    );
    assert!(
        ignored
            .lines()
            .any(|line| line.trim() == "!target/images/apps/*"),
        ".dockerignore lets the binaries compose/images/build.sh stages through"
    );
    let entrypoint = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ENTRYPOINT "))
        .expect("an ENTRYPOINT");
    assert!(
        entrypoint.starts_with('['),
        "exec form, so the app gets the signals: {entrypoint}"
    );
    // The build context is the whole repository: credentials and build output stay out of it.
    for pattern in ["**/.env", "target"] {
        assert!(
            ignored.lines().any(|line| line.trim() == pattern),
            ".dockerignore lacks {pattern}"
        );
    }
    let mut run_by_services = BTreeSet::new();
    for (name, service) in services(&resolved("dev", None)) {
        if service.image != APP_IMAGE {
            continue;
        }
        let program = service.entrypoint.first().cloned().unwrap_or_default();
        let binary = program
            .strip_prefix("/usr/local/bin/")
            .unwrap_or_else(|| panic!("service {name} runs {program:?}, not an app of the image"));
        assert!(
            copied.contains(binary),
            "service {name} runs {binary}, which the image lacks"
        );
        run_by_services.insert(binary.to_owned());
    }
    for app in ["factory", "shop", "schema", "bench"] {
        assert!(run_by_services.contains(app), "no service runs {app}");
    }
}
