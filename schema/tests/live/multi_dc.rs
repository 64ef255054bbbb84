//! A ring of 3 nodes in 2 datacenters: `apply` replicates to both, and a session keeps its
//! coordinators in the datacenter it prefers.

use std::collections::BTreeMap;

use cluster::local::Shape;
use cluster::testing;
use schema::{LiveKeyspace, Replication};
use scylla::statement::Consistency;
use uuid::Uuid;

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
    assert_eq!(dc1.datacenters, ["dc1", "dc2"]);

    let file = schema::project_schema()?;
    let keyspace = testing::unique_keyspace("multi_dc");
    let nodes = schema::nodes_per_datacenter(&dc1.session);
    assert_eq!(
        nodes,
        BTreeMap::from([("dc1".to_owned(), 2), ("dc2".to_owned(), 1)])
    );
    let replication = Replication::derived_from_ring(&nodes);
    schema::apply(&dc1.session, &file, &keyspace, &replication).await?;
    let live = LiveKeyspace::read(&dc2.session, &keyspace)
        .await
        .map(|ks| ks.expect("keyspace exists"))?;
    assert_eq!(
        Replication::from_live(&live.replication),
        Some("dc1:2,dc2:1".parse().map_err(anyhow::Error::msg)?)
    );

    // Every request of a dc1 session is coordinated in dc1, and of a dc2 session in dc2; the
    // driver names the coordinator, and the server's own trace agrees.
    let insert = format!("INSERT INTO {keyspace}.employees (employee_id, name) VALUES (?, ?)");
    for (connection, dc) in [(&dc1, "dc1"), (&dc2, "dc2")] {
        let mut statement = connection.session.prepare(insert.as_str()).await?;
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
                "request {i} coordinated by {:?}",
                coordinator.address
            );
            if let Some(trace) = result.tracing_id() {
                let info = connection.session.get_tracing_info(&trace).await?;
                let traced = info.coordinator.expect("the trace names its coordinator");
                assert!(
                    addresses.iter().any(|a| std::net::IpAddr::V4(*a) == traced),
                    "traced coordinator {traced} is not in {dc}"
                );
            }
        }
    }

    // A write acknowledged by a quorum in each DC is readable from dc2 alone: dc2 holds a replica.
    let id = Uuid::new_v4();
    let mut write = dc1.session.prepare(insert.as_str()).await?;
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
    assert_eq!(name, "in both datacenters");

    schema::drop_keyspace(&dc1.session, &keyspace).await?;
    drop(dc1);
    drop(dc2);
    own.stop().await?;
    Ok(())
}
