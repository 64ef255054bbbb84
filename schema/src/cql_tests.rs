//! The tests of `cql`.

use super::*;

const SAMPLE: &str = "
    -- a comment; with a semicolon
    CREATE KEYSPACE IF NOT EXISTS pickle WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1};
    /* block; comment */
    CREATE TABLE IF NOT EXISTS pickle.visits (
        employee_id uuid,
        tree uuid,  // trailing comment
        at timeuuid,
        tags map<text, int>,
        note VARCHAR,
        PRIMARY KEY ((employee_id), tree, at)
    ) WITH CLUSTERING ORDER BY (tree ASC, at DESC) AND comment = 'it''s; fine';
    CREATE TABLE IF NOT EXISTS pickle.people (id uuid PRIMARY KEY, name text);
";

#[test]
fn statements_split_outside_comments_and_strings() {
    let statements = split_statements(SAMPLE);
    assert_eq!(statements.len(), 3);
    assert!(statements[1].ends_with("comment = 'it''s; fine'"));
}

#[test]
fn tables_parse_with_keys_and_clustering_order() {
    let file = SchemaFile::parse(SAMPLE).unwrap();
    assert_eq!(file.keyspace, "pickle");
    assert_eq!(
        file.create_keyspace_statement("other"),
        "CREATE KEYSPACE IF NOT EXISTS other WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}"
    );
    let visits = file.table("visits").unwrap();
    assert_eq!(visits.partition_key, ["employee_id"]);
    assert_eq!(
        visits.clustering,
        [
            ("tree".to_owned(), Order::Asc),
            ("at".to_owned(), Order::Desc)
        ]
    );
    assert_eq!(visits.column_type("tags"), Some("map<text,int>"));
    assert_eq!(visits.column_type("note"), Some("text"));
    let people = file.table("people").unwrap();
    assert_eq!(people.partition_key, ["id"]);
    assert!(people.clustering.is_empty());
}

#[test]
fn statements_are_reissued_in_another_keyspace() {
    let file = SchemaFile::parse(SAMPLE).unwrap();
    let create = file.table("people").unwrap().create_statement("test_abc");
    assert_eq!(
        create,
        "CREATE TABLE IF NOT EXISTS test_abc.people (id uuid PRIMARY KEY, name text)"
    );
}

#[test]
fn the_project_schema_parses_with_the_original_tables() {
    let file = SchemaFile::parse(include_str!("../schema.cql")).unwrap();
    let names: Vec<&str> = file.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "employees",
            "timesheets",
            "trees",
            "production",
            "production_by_day",
            "registrations"
        ]
    );
    let registrations = file.table("registrations").unwrap();
    assert_eq!(registrations.partition_key, ["seed", "employees"]);
    let timesheets = file.table("timesheets").unwrap();
    assert_eq!(
        timesheets.clustering,
        [
            ("pickle_tree_id".to_owned(), Order::Asc),
            ("timestamp".to_owned(), Order::Desc)
        ]
    );
    assert_eq!(
        file.table("production").unwrap().partition_key,
        ["pickle_count"]
    );
    assert_eq!(
        file.table("production_by_day").unwrap().partition_key,
        ["pickle_count", "day"]
    );
}

#[test]
fn mistakes_are_reported_with_the_statement_number() {
    let error = SchemaFile::parse("CREATE KEYSPACE IF NOT EXISTS k WITH x = 1; DROP TABLE k.t;")
        .unwrap_err();
    assert_eq!(error.statement, 2);
    let error = SchemaFile::parse(
        "CREATE KEYSPACE IF NOT EXISTS k WITH x = 1; CREATE TABLE IF NOT EXISTS k.t (a int);",
    )
    .unwrap_err();
    assert!(error.problem.contains("no PRIMARY KEY"));
    let error = SchemaFile::parse("CREATE KEYSPACE IF NOT EXISTS k WITH x = 1; CREATE TABLE IF NOT EXISTS k.t (a int, PRIMARY KEY (b));").unwrap_err();
    assert!(error.problem.contains("key column b"));
    let error = SchemaFile::parse("CREATE KEYSPACE IF NOT EXISTS k WITH x = 1; CREATE TABLE IF NOT EXISTS other.t (a int PRIMARY KEY);").unwrap_err();
    assert!(error.problem.contains("other.t"));
}
