//! Live-test help for every crate that needs the pickle schema: a fresh keyspace with it applied,
//! on the shared test ring or on a ring of the test's own.

use ring::testing;

/// A fresh keyspace, named after `prefix`, with `schema.cql` applied on the test ring. Returns its
/// name and the `--hosts` value that reaches the ring.
pub async fn fresh_keyspace(prefix: &str) -> anyhow::Result<(String, String)> {
    let hosts = testing::test_ring().await.contact_points().join(",");
    Ok((fresh_keyspace_on(&hosts, prefix).await?, hosts))
}

/// A fresh keyspace with `schema.cql` applied on the ring at `hosts`, with the replication derived
/// from that ring (every datacenter, min(3, its nodes)).
pub async fn fresh_keyspace_on(hosts: &str, prefix: &str) -> anyhow::Result<String> {
    let connection = testing::connection_args(&["--hosts", hosts])
        .connect()
        .await?;
    let keyspace = testing::unique_keyspace(prefix);
    let nodes = crate::nodes_per_datacenter(&connection.session);
    crate::apply(
        &connection.session,
        &crate::project_schema()?,
        &keyspace,
        &crate::Replication::derived_from_ring(&nodes),
    )
    .await?;
    Ok(keyspace)
}
