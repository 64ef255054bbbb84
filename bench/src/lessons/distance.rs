//! Lesson 6: LOCAL_QUORUM against QUORUM across datacenters.
//!
//! The claim: with LOCAL_QUORUM a write waits only for replicas in its own datacenter, with
//! QUORUM for a majority of all replicas, some of them a WAN away. Measuring it needs distance
//! between the datacenters. On loopback there is none: both levels would wait the same
//! microseconds, and a table saying "no difference" would teach the wrong thing. Distance could be
//! made honestly with each datacenter in its own network namespace and a netem delay on the link
//! between them; that needs a kernel with the netem queueing discipline and root, which this
//! lesson does not assume. So it is left out, and says why.

use std::collections::BTreeMap;

use super::Lesson;

pub(super) fn run(nodes: &BTreeMap<String, usize>) -> Lesson {
    let why = if nodes.len() < 2 {
        format!(
            "the ring has one datacenter ({}), so LOCAL_QUORUM and QUORUM wait for the same replicas",
            nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    } else {
        "the datacenters of this ring share one machine's loopback, with no distance between them, \
         so LOCAL_QUORUM and QUORUM would wait the same microseconds and the comparison would \
         say nothing true about a real multi-datacenter ring. Adding distance honestly (each \
         datacenter in its own network namespace, a netem delay between them) needs root and the \
         kernel's netem queueing discipline; the machine this was built on has neither netem nor \
         Docker, so it is not attempted"
            .to_owned()
    };
    Lesson::left_out(
        "distance",
        "Prefer LOCAL_QUORUM: stay in the local datacenter",
        why,
    )
}
