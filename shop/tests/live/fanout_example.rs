//! The pattern of `examples/fanout.rs`, run: ten timesheets read at once and one after another
//! are the same timesheets, every visit the factory wrote counted in them.

use ring::testing;
use scylla::client::session_builder::SessionBuilder;

use crate::{factory, fresh_keyspace};

#[path = "../../examples/fanout.rs"]
#[allow(dead_code)] // its `main`, which the test does not run
mod example;

#[tokio::test]
async fn the_fanout_example_reads_the_same_timesheets_at_once_as_in_turn() -> anyhow::Result<()> {
    let _turn = testing::shared().await;
    let (keyspace, hosts) = fresh_keyspace("shop_example").await?;
    factory(
        &hosts,
        &keyspace,
        &["--visits", "2000", "--employees", "10"],
    );
    let session = SessionBuilder::new()
        .known_nodes(hosts.split(','))
        .build()
        .await?;
    let reads = schema::reads::ShopStatements::prepare(
        &session,
        &keyspace,
        1000,
        schema::model::Model::Denormalized,
    )
    .await?;
    let staff = reads.sample_employees(&session, 0, 10).await?;
    assert_eq!(staff.len(), 10, "ten employees to read");
    let (at_once, _) = example::read_at_once(&session, &reads, &staff).await?;
    let (in_turn, _) = example::read_in_turn(&session, &reads, &staff).await?;
    assert_eq!(at_once, in_turn, "the same timesheets either way");
    let visits: i64 = at_once.iter().map(|t| t.visits).sum();
    assert_eq!(visits, 2000, "every visit written is in some timesheet");
    Ok(())
}
