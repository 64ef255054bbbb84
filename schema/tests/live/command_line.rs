//! What a user sees when the ring or the datacenter is wrong: one line, at once. (Bad flags of
//! every binary are in the catalogue of `bench`'s live tests.)

use std::process::Command;
use std::time::{Duration, Instant};

use ring::testing::{self, one_line_failure};

fn schema() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("schema"))
}

#[tokio::test]
async fn an_unknown_datacenter_lists_the_ones_the_ring_has() {
    let args = testing::test_ring().await;
    let line = one_line_failure(
        schema().args([
            "check",
            "--dc",
            "atlantis",
            "--hosts",
            &args.contact_points().join(","),
        ]),
        1,
    );
    assert!(line.contains("datacenter 'atlantis' (--dc / CASSANDRA_DC) is not in the ring; its datacenters are: dc1"), "{line}");
}

#[test]
fn an_unreachable_ring_is_one_line_within_the_connect_timeout() {
    // Nothing listens on 127.0.0.254: loopback refuses at once.
    let began = Instant::now();
    let line = one_line_failure(
        schema().args(["check", "--hosts", "127.0.0.254", "--connect-timeout", "2s"]),
        1,
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        line.contains("cannot reach Cassandra at 127.0.0.254:9042")
            && line.contains("bench ring up"),
        "{line}"
    );
}
