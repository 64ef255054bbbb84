//! `schema`: applies `schema.cql` to a ring, checks a ring against it, or drops the keyspace.
//!
//! `schema apply` is what to run after `bench ring up` (or against any ring): it creates the
//! keyspace with a replication derived from the ring (every datacenter, RF = min(3, its nodes)),
//! creates the tables, waits until every node agrees, and checks the result.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use client::ConnectionArgs;
use client::cli::{self, UsageError};
use schema::{Replication, SchemaFile};

/// Apply, check or drop the pickle schema (schema/schema.cql) on a Cassandra ring.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, allow_negative_numbers = true)]
struct SchemaCli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    connection: ConnectionArgs,

    /// How many numbers a tree's profile holds: tree_profiles.profile becomes vector<float, N>
    /// instead of schema.cql's 64 (for apply, check and print). The factory and the shop follow
    /// the ring's. A keyspace whose table has another size keeps it: apply to a new keyspace.
    #[arg(long, global = true, env = "PICKLE_DIMENSIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(2..=8192))]
    dimensions: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the keyspace and tables, or bring an existing keyspace up to date. Safe to repeat.
    Apply {
        /// Replication per datacenter, such as dc1:3,dc2:2. [default: every datacenter of the
        /// ring, with min(3, its nodes) replicas]
        #[arg(long, env = "PICKLE_REPLICATION", value_name = "DC:RF,...")]
        replication: Option<Replication>,
        /// Then set every table's memtable to this configuration of the nodes' cassandra.yaml
        /// (`memtable.configurations`; Cassandra 5.0's `trie`, say, which `bench ring` rings
        /// define). Reports say which memtable each table used.
        #[arg(long, env = "PICKLE_MEMTABLE", value_name = "NAME")]
        memtable: Option<String>,
    },
    /// Compare the live keyspace with schema.cql, table by table; exit 1 if they differ.
    Check,
    /// Drop the keyspace and all its data.
    Drop {
        /// Confirm: without it nothing is dropped.
        #[arg(long)]
        yes: bool,
    },
    /// Print the CQL that `apply` runs (for cqlsh), with this keyspace name and replication.
    Print {
        /// Replication per datacenter. [default: the literal written in schema.cql]
        #[arg(long, value_name = "DC:RF,...")]
        replication: Option<Replication>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: SchemaCli = cli::parse_args();
    cli::init_tracing();
    cli::exit_code(run(args).await)
}

async fn run(args: SchemaCli) -> anyhow::Result<()> {
    let mut file = schema::project_schema()?;
    if let Some(dimensions) = args.dimensions {
        file = file.with_vector_dimensions(dimensions as usize);
    }
    let keyspace = args.connection.keyspace.clone();
    schema::validate_keyspace_name(&keyspace).map_err(|e| UsageError(e.to_string()))?;
    if let Command::Drop { yes: false } = args.command {
        return Err(UsageError(format!(
            "refusing to drop keyspace {keyspace} and all its data without --yes"
        ))
        .into());
    }
    if let Command::Apply {
        memtable: Some(name),
        ..
    } = &args.command
        && (name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(UsageError(schema::SchemaError::BadMemtable(name.clone()).to_string()).into());
    }
    if let Command::Print { replication } = &args.command {
        print!("{}", printable_cql(&file, &keyspace, replication.as_ref()));
        return Ok(());
    }
    let connection = args.connection.connect().await?;
    let session = &connection.session;
    match args.command {
        Command::Apply {
            replication,
            memtable,
        } => {
            let nodes = schema::nodes_per_datacenter(session);
            let replication = replication.unwrap_or_else(|| Replication::derived_from_ring(&nodes));
            let applied = schema::apply(session, &file, &keyspace, &replication)
                .await
                .with_context(|| format!("applying schema.cql to keyspace {keyspace}"))?;
            if applied.created_keyspace {
                println!("keyspace {keyspace}: created with replication {replication}");
            }
            if let Some((before, after)) = &applied.changed_replication {
                println!(
                    "keyspace {keyspace}: replication changed from {before} to {after}; run `nodetool repair` if it held data"
                );
            }
            if !applied.created_tables.is_empty() {
                println!("tables created: {}", applied.created_tables.join(", "));
            }
            if !applied.created_indexes.is_empty() {
                println!("indexes created: {}", applied.created_indexes.join(", "));
            }
            if !applied.added_columns.is_empty() {
                println!("columns added: {}", applied.added_columns.join(", "));
            }
            if let Some(name) = &memtable {
                let changed = schema::set_memtable(session, &file, &keyspace, name)
                    .await
                    .with_context(|| format!("setting the memtable of keyspace {keyspace}"))?;
                println!("memtable '{name}' for: {}", changed.join(", "));
            }
            println!(
                "keyspace {keyspace} matches schema.cql (replication {replication}); every node agrees"
            );
            Ok(())
        }
        Command::Check => {
            let live = schema::LiveKeyspace::read(session, &keyspace).await?;
            let report = schema::live::compare(
                &file,
                &keyspace,
                live.as_ref(),
                &schema::nodes_per_datacenter(session),
            );
            print!("{report}");
            if report.is_ok() {
                println!("keyspace {keyspace} matches schema.cql");
                Ok(())
            } else {
                anyhow::bail!(
                    "keyspace {keyspace} differs from schema.cql: run `schema apply`, or see the problems above"
                )
            }
        }
        Command::Drop { .. } => {
            if schema::drop_keyspace(session, &keyspace).await? {
                println!("keyspace {keyspace} dropped");
            } else {
                println!("keyspace {keyspace} did not exist; nothing dropped");
            }
            Ok(())
        }
        Command::Print { .. } => Ok(()),
    }
}

/// The statements `apply` would run on a fresh ring, one per line.
fn printable_cql(file: &SchemaFile, keyspace: &str, replication: Option<&Replication>) -> String {
    let mut cql = match replication {
        Some(replication) => format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {};\n",
            replication.to_cql()
        ),
        None => format!("{};\n", file.create_keyspace_statement(keyspace)),
    };
    for table in &file.tables {
        cql.push_str(&table.create_statement(keyspace));
        cql.push_str(";\n");
    }
    cql
}
