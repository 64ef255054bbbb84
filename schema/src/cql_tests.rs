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
            "visits",
            "tree_profiles",
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

#[test]
fn sai_indexes_parse_on_declared_tables_and_columns_and_are_reissued_elsewhere() {
    let text = format!(
        "{SAMPLE}
        CREATE INDEX IF NOT EXISTS visits_by_tree ON pickle.visits (tree) USING 'sai';
        CREATE INDEX IF NOT EXISTS people_by_name ON pickle.people ( name ) using 'SAI'
            WITH OPTIONS = {{'case_sensitive': 'false'}};"
    );
    let file = SchemaFile::parse(&text).unwrap();
    assert_eq!(file.indexes.len(), 2);
    let by_tree = &file.indexes[0];
    assert_eq!(
        (
            by_tree.name.as_str(),
            by_tree.table.as_str(),
            by_tree.column.as_str()
        ),
        ("visits_by_tree", "visits", "tree")
    );
    assert_eq!(
        by_tree.create_statement("test_abc"),
        "CREATE INDEX IF NOT EXISTS visits_by_tree ON test_abc.visits (tree) USING 'sai'"
    );
    assert_eq!(file.indexes[1].column, "name");
    assert!(
        file.indexes[1]
            .create_statement("k")
            .ends_with("{'case_sensitive': 'false'}")
    );
    assert_eq!(file.indexes_of("people").count(), 1);
}

#[test]
fn indexes_on_what_does_not_exist_or_of_another_kind_are_refused() {
    let cases = [
        (
            "CREATE INDEX IF NOT EXISTS i ON pickle.nothing (x) USING 'sai'",
            "not a table declared",
        ),
        (
            "CREATE INDEX IF NOT EXISTS i ON pickle.people (age) USING 'sai'",
            "does not have",
        ),
        (
            "CREATE INDEX IF NOT EXISTS i ON pickle.people (name)",
            "USING 'sai' missing",
        ),
        (
            "CREATE INDEX IF NOT EXISTS i ON pickle.people (name) USING 'legacy'",
            "only Storage-Attached",
        ),
        (
            "CREATE INDEX IF NOT EXISTS i ON pickle.people (id, name) USING 'sai'",
            "one column",
        ),
        (
            "CREATE INDEX IF NOT EXISTS i ON people (name) USING 'sai'",
            "keyspace.table",
        ),
        ("CREATE INDEX IF NOT EXISTS i", "ON missing"),
        (
            "CREATE INDEX IF NOT EXISTS i ON pickle.people (name USING 'sai'",
            "')' missing",
        ),
    ];
    for (statement, expected) in cases {
        let error = SchemaFile::parse(&format!("{SAMPLE}\n{statement};")).unwrap_err();
        assert!(error.problem.contains(expected), "{statement}: {error}");
    }
    let twice = format!(
        "{SAMPLE}
        CREATE INDEX IF NOT EXISTS i ON pickle.people (name) USING 'sai';
        CREATE INDEX IF NOT EXISTS i ON pickle.people (name) USING 'sai';"
    );
    assert!(
        SchemaFile::parse(&twice)
            .unwrap_err()
            .problem
            .contains("twice")
    );
}

#[test]
fn vector_types_are_read_however_they_are_spelled() {
    assert_eq!(vector_type("vector<float, 64>"), Some(("float", 64)));
    assert_eq!(vector_type("vector<float,16>"), Some(("float", 16)));
    assert_eq!(vector_type("list<float>"), None);
    assert_eq!(vector_type("vector<float, many>"), None);
}

#[test]
fn another_vector_size_changes_the_type_and_the_statement_and_nothing_else() {
    let file = SchemaFile::parse(crate::SCHEMA_CQL).unwrap();
    let resized = file.clone().with_vector_dimensions(16);
    let profiles = resized.table("tree_profiles").unwrap();
    assert_eq!(profiles.column_type("profile"), Some("vector<float,16>"));
    let statement = profiles.create_statement("ks");
    assert!(
        statement.contains("profile vector<float, 16>"),
        "{statement}"
    );
    assert!(!statement.contains("64"), "{statement}");
    // The statement still parses to the same table.
    let reparsed = SchemaFile::parse(&format!(
        "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 1}};\n{statement};"
    ))
    .unwrap();
    assert_eq!(
        reparsed.table("tree_profiles").unwrap().columns,
        profiles.columns
    );
    // Every other table is as the file has it.
    for table in file.tables.iter().filter(|t| t.name != "tree_profiles") {
        assert_eq!(resized.table(&table.name), Some(table));
    }
}
