//! The pattern of `examples/window.rs`, run: it writes every visit into all three tables and
//! measures each one.

use std::sync::Arc;

use ring::testing;
use scylla::client::session_builder::SessionBuilder;

use crate::fresh_keyspace;

#[path = "../../examples/window.rs"]
#[allow(dead_code)] // its `main`, which the test does not run
mod example;

#[tokio::test]
async fn the_window_example_writes_every_visit_to_every_table() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("factory_example").await?;
    let session = SessionBuilder::new()
        .known_nodes(hosts.split(','))
        .build()
        .await?;
    let session = Arc::new(session);
    // A window of 6 permits: two visits of three writes at most.
    let latency = example::write_visits(Arc::clone(&session), &keyspace, 400.0, 800, 6).await?;
    assert_eq!(latency.len(), 800, "one latency per visit");
    for table in ["timesheets", "trees", "production"] {
        let (rows,): (i64,) = session
            .query_unpaged(format!("SELECT COUNT(*) FROM {keyspace}.{table}"), ())
            .await?
            .into_rows_result()?
            .single_row()?;
        assert_eq!(rows, 800, "{table} holds every visit");
    }
    Ok(())
}
