//! The tests of a ring's announcement ([`RingState::announce`]), read back as every app reads it
//! (`client::local_network`): rings in a home of their own, running when a live process claims
//! their node's folder (a shell waiting on its input, whose command line names that folder, as a
//! node's JVM does).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use client::local_network::modelled_network_in;

use super::*;
use crate::Home;
use crate::shape::IpPrefix;

/// A ring called `name` on `prefix`, saved in `home` (which announces it), modelling `client`
/// each way; running when a process is returned (kill it when done).
fn ring(home: &Home, name: &str, prefix: &str, client: Duration, run: bool) -> Option<Child> {
    let prefix: IpPrefix = prefix.parse().expect("a prefix");
    let shape = Shape::new(1, 1, prefix).expect("a shape");
    let mut state = RingState {
        latency: Latency {
            client,
            between_dcs: Duration::ZERO,
        },
        ..RingState::planned(name, "5.0.8", shape, "1G")
    };
    let dir = home.ring_dir(name);
    std::fs::create_dir_all(&dir).expect("a ring folder");
    let node = run.then(|| {
        let marker = RingState::node_dir(&dir, 1).join("conf");
        Command::new("sh")
            .args(["-c", "read line"])
            .arg(marker)
            .stdin(Stdio::piped())
            .spawn()
            .expect("a process standing for the node")
    });
    state.nodes[0].pid = node.as_ref().map(Child::id);
    state.save(&dir).expect("a saved state");
    node
}

fn stop(node: Option<Child>) {
    if let Some(mut node) = node {
        let _ = node.kill();
        let _ = node.wait();
    }
}

fn hosts(hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| (*h).to_owned()).collect()
}

#[test]
fn only_a_running_ring_says_what_network_a_run_reached() {
    let folder = tempfile::tempdir().expect("a folder");
    let home = Home::at(folder.path());
    let rings = home.rings_folder();
    let ms = Duration::from_millis;
    // A ring with 30 ms of client latency, stopped: its announcement still names 127.1.11.1.
    stop(ring(&home, "far", "127.0.11", ms(30), false));
    let far = hosts(&["127.1.11.1:9042"]);
    assert_eq!(modelled_network_in(&rings, &far), Ok(None));
    // The same ring running: its delay is what the run carried.
    let running = ring(&home, "far", "127.0.11", ms(30), true);
    let found = modelled_network_in(&rings, &far);
    stop(running);
    assert_eq!(
        found.map(|f| f.map(|ring| (ring.ring, ring.client_latency))),
        Ok(Some(("far".to_owned(), ms(30))))
    );
    // Stopped, with another ring running on its nodes' own addresses and no delay: none.
    let near = ring(&home, "near", "127.0.11", Duration::ZERO, true);
    let found = modelled_network_in(&rings, &hosts(&["127.0.11.1"]));
    stop(near);
    assert_eq!(found, Ok(None));
}

#[test]
fn contact_points_that_reach_two_running_rings_are_refused_not_guessed() {
    let folder = tempfile::tempdir().expect("a folder");
    let home = Home::at(folder.path());
    let ms = Duration::from_millis;
    let a = ring(&home, "a", "127.0.31", ms(1), true);
    let b = ring(&home, "b", "127.0.32", Duration::ZERO, true);
    let found = modelled_network_in(&home.rings_folder(), &hosts(&["127.1.31.1", "127.0.32.1"]));
    stop(a);
    stop(b);
    let refused = found.expect_err("two rings are refused");
    assert_eq!(refused.rings, ["a", "b"]);
    assert_eq!(
        refused.to_string(),
        "an unknown local ring: the contact points 127.1.31.1,127.0.32.1 reach the running \
         rings 'a' and 'b', so which delay these numbers carry is not known"
    );
}
