//! Live-test help for every crate that needs the pickle schema: a fresh keyspace with it applied,
//! on the ring `cluster::testing` provides.

use cluster::testing;

/// A fresh keyspace, named after `prefix`, with `schema.cql` applied on the test ring. Returns its
/// name and the `--hosts` value that reaches the ring.
pub async fn fresh_keyspace(prefix: &str) -> anyhow::Result<(String, String)> {
    let args = testing::test_ring().await;
    let connection = args.connect().await?;
    let keyspace = testing::unique_keyspace(prefix);
    let nodes = crate::nodes_per_datacenter(&connection.session);
    crate::apply(
        &connection.session,
        &crate::project_schema()?,
        &keyspace,
        &crate::Replication::derived_from_ring(&nodes),
    )
    .await?;
    Ok((keyspace, args.contact_points().join(",")))
}
