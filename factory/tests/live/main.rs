//! Live tests of `factory` against a real Cassandra: each test in its own keyspace.

mod errors;
mod writes;

use cluster::testing;

/// Applies the schema to a fresh keyspace on the test ring; returns its name and `--hosts`.
pub async fn fresh_keyspace(prefix: &str) -> anyhow::Result<(String, String)> {
    let args = testing::test_ring().await;
    let connection = args.connect().await?;
    let keyspace = testing::unique_keyspace(prefix);
    let nodes = schema::nodes_per_datacenter(&connection.session);
    schema::apply(
        &connection.session,
        &schema::project_schema()?,
        &keyspace,
        &schema::Replication::derived_from_ring(&nodes),
    )
    .await?;
    Ok((keyspace, args.contact_points().join(",")))
}
