//! A ring of 3 nodes in 2 datacenters: `apply` replicates to both, and a session keeps its
//! coordinators in the datacenter it prefers.

use std::collections::BTreeMap;

use anyhow::Context as _;
use client::Connection;
use ring::Shape;
use ring::testing::{self, OwnRing};
use schema::{LiveKeyspace, Replication};
use scylla::statement::Consistency;
use uuid::Uuid;

fn insert_employee(keyspace: &str) -> String {
    format!("INSERT INTO {keyspace}.employees (employee_id, name) VALUES (?, ?)")
}

/// The ring is started once (it costs a minute), then each claim is checked in turn; a failed
/// assert or an error names its claim.
#[tokio::test]
async fn apply_replicates_to_both_dcs_and_coordinators_stay_local() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let own = testing::start_ring(
        "test-multidc",
        Shape::new(3, 2, "127.0.2".parse().map_err(anyhow::Error::msg)?)
            .map_err(anyhow::Error::msg)?,
    )
    .await?;
    let hosts = own.hosts();
    let dc1 = testing::connection_args(&["--hosts", &hosts, "--dc", "dc1"])
        .connect()
        .await?;
    let dc2 = testing::connection_args(&["--hosts", &hosts, "--dc", "dc2"])
        .connect()
        .await?;
    let keyspace = testing::unique_keyspace("multi_dc");

    claim_the_ring_has_two_nodes_in_dc1_and_one_in_dc2(&dc1);
    claim_apply_replicates_to_both_datacenters(&dc1, &dc2, &keyspace)
        .await
        .context("claim: apply replicates to both datacenters")?;
    for (connection, dc) in [(&dc1, "dc1"), (&dc2, "dc2")] {
        claim_every_request_is_coordinated_in_the_preferred_datacenter(
            &own, connection, dc, &keyspace,
        )
        .await
        .with_context(|| {
            format!("claim: every request of a {dc} session is coordinated in {dc}")
        })?;
    }
    claim_an_each_quorum_write_is_readable_from_dc2_alone(&dc1, &dc2, &keyspace)
        .await
        .context("claim: a write acknowledged by each quorum is readable from dc2 alone")?;

    schema::drop_keyspace(&dc1.session, &keyspace).await?;
    drop(dc1);
    drop(dc2);
    own.stop().await?;
    Ok(())
}

fn claim_the_ring_has_two_nodes_in_dc1_and_one_in_dc2(dc1: &Connection) {
    assert_eq!(
        dc1.datacenters,
        ["dc1", "dc2"],
        "claim: a session sees both datacenters"
    );
    assert_eq!(
        schema::nodes_per_datacenter(&dc1.session),
        BTreeMap::from([("dc1".to_owned(), 2), ("dc2".to_owned(), 1)]),
        "claim: the ring has two nodes in dc1 and one in dc2"
    );
}

/// `apply` through a dc1 session; a dc2 session reads the keyspace back, replicated to both.
async fn claim_apply_replicates_to_both_datacenters(
    dc1: &Connection,
    dc2: &Connection,
    keyspace: &str,
) -> anyhow::Result<()> {
    let nodes = schema::nodes_per_datacenter(&dc1.session);
    let replication = Replication::derived_from_ring(&nodes);
    schema::apply(
        &dc1.session,
        &schema::project_schema()?,
        keyspace,
        &replication,
    )
    .await?;
    let live = LiveKeyspace::read(&dc2.session, keyspace)
        .await
        .map(|ks| ks.expect("claim: apply replicates to both datacenters: keyspace exists"))?;
    assert_eq!(
        Replication::from_live(&live.replication),
        Some("dc1:2,dc2:1".parse().map_err(anyhow::Error::msg)?),
        "claim: apply replicates to both datacenters"
    );
    Ok(())
}

/// Every request of a `dc` session is coordinated in `dc`: the driver names the coordinator, and
/// the server's own trace agrees.
async fn claim_every_request_is_coordinated_in_the_preferred_datacenter(
    own: &OwnRing,
    connection: &Connection,
    dc: &str,
    keyspace: &str,
) -> anyhow::Result<()> {
    let insert = insert_employee(keyspace);
    let mut statement = connection.session.prepare(insert).await?;
    let addresses: Vec<_> = own
        .state
        .nodes
        .iter()
        .filter(|n| n.plan.datacenter == dc)
        .map(|n| n.plan.address)
        .collect();
    for i in 0..40 {
        statement.set_tracing(i % 10 == 0);
        let result = connection
            .session
            .execute_unpaged(&statement, (Uuid::new_v4(), format!("employee {i}")))
            .await?;
        let coordinator = result.request_coordinator().node();
        assert_eq!(
            coordinator.datacenter.as_deref(),
            Some(dc),
            "claim: coordinators stay in {dc}: request {i} coordinated by {:?}",
            coordinator.address
        );
        if let Some(trace) = result.tracing_id() {
            let info = connection.session.get_tracing_info(&trace).await?;
            let traced = info
                .coordinator
                .expect("claim: coordinators stay local: the trace names its coordinator");
            assert!(
                addresses.iter().any(|a| std::net::IpAddr::V4(*a) == traced),
                "claim: coordinators stay in {dc}: traced coordinator {traced} is not in {dc}"
            );
        }
    }
    Ok(())
}

/// A write acknowledged by a quorum in each DC is readable from dc2 alone: dc2 holds a replica.
async fn claim_an_each_quorum_write_is_readable_from_dc2_alone(
    dc1: &Connection,
    dc2: &Connection,
    keyspace: &str,
) -> anyhow::Result<()> {
    let id = Uuid::new_v4();
    let mut write = dc1.session.prepare(insert_employee(keyspace)).await?;
    write.set_consistency(Consistency::EachQuorum);
    dc1.session
        .execute_unpaged(&write, (id, "in both datacenters"))
        .await?;
    let mut read = dc2
        .session
        .prepare(format!(
            "SELECT name FROM {keyspace}.employees WHERE employee_id = ?"
        ))
        .await?;
    read.set_consistency(Consistency::LocalOne);
    let (name,): (String,) = dc2
        .session
        .execute_unpaged(&read, (id,))
        .await?
        .into_rows_result()?
        .single_row()?;
    assert_eq!(
        name, "in both datacenters",
        "claim: an each-quorum write is readable from dc2 alone"
    );
    Ok(())
}
