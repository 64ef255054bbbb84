//! Reads `schema.cql` into what the code needs: the tables with their columns, keys and clustering
//! order, and each statement ready to run against another keyspace name.
//!
//! This is a parser for the subset of CQL the file uses (CREATE KEYSPACE, CREATE TABLE and
//! CREATE INDEX ... USING 'sai', with comments), not a general one. It exists so that the file stays the single source of truth:
//! `schema check` compares the live schema against what is parsed here, not against a second,
//! hand-written description that could drift from it.
//!
//! This file holds what the parse produces ([`SchemaFile`], [`TableDef`]) and the walk over the
//! file's statements; cutting the text into statements is in `split`, reading one CREATE TABLE is
//! in `table`, one CREATE INDEX in `index`.

mod index;
mod split;
mod table;

use std::fmt;

pub use split::split_statements;
pub use table::normalise_type;

use index::parse_index;
use table::parse_table;

/// Why `schema.cql` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema.cql, statement {statement}: {problem}")]
pub struct ParseError {
    /// 1-based index of the statement.
    pub statement: usize,
    /// What is wrong.
    pub problem: String,
}

/// Clustering order of a clustering column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending (the default).
    Asc,
    /// Descending.
    Desc,
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        })
    }
}

/// One column: its name and CQL type, lower case (`uuid`, `timeuuid`, `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// CQL type, normalised (lower case, no spaces, `varchar` written `text`).
    pub cql_type: String,
}

/// A table as the file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Table name, without keyspace.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Partition key columns, in order.
    pub partition_key: Vec<String>,
    /// Clustering columns with their order, in order.
    pub clustering: Vec<(String, Order)>,
    /// Everything after `CREATE TABLE IF NOT EXISTS <ks>.<name>`, to re-issue it elsewhere.
    body: String,
}

impl TableDef {
    /// The CREATE TABLE statement for this table in `keyspace`.
    pub fn create_statement(&self, keyspace: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.{} {}",
            self.name, self.body
        )
    }

    /// Every vector column of this table holding `dimensions` numbers instead, in its type and
    /// in the statement that creates it.
    fn set_vector_dimensions(&mut self, dimensions: usize) {
        for column in &mut self.columns {
            let Some((element, _)) = vector_type(&column.cql_type) else {
                continue;
            };
            let element = element.to_owned();
            column.cql_type = format!("vector<{element},{dimensions}>");
            // The statement spells the type as the file does: `<name> vector<float, 64>`.
            let body = self.body.to_lowercase();
            let declared = body
                .match_indices(column.name.as_str())
                .map(|(at, _)| at + column.name.len())
                .find(|&end| body[end..].trim_start().starts_with("vector"));
            let Some(end) = declared else { continue };
            let open = end + body[end..].find('<').unwrap_or(0);
            if let Some(close) = body[open..].find('>') {
                self.body
                    .replace_range(open..=open + close, &format!("<{element}, {dimensions}>"));
            }
        }
    }

    /// The declared type of `column`, if the table has it.
    pub fn column_type(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.cql_type.as_str())
    }
}

/// A Storage-Attached Index as the file declares it: on one column of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    /// Index name, without keyspace.
    pub name: String,
    /// The table it indexes.
    pub table: String,
    /// The column it indexes.
    pub column: String,
    /// Everything from the `(` on, to re-issue it elsewhere.
    body: String,
}

impl IndexDef {
    /// The CREATE INDEX statement for this index in `keyspace`.
    pub fn create_statement(&self, keyspace: &str) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {keyspace}.{} {}",
            self.name, self.table, self.body
        )
    }
}

/// The whole file: the keyspace name it uses, its tables and their indexes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    /// The keyspace name written in the file (`pickle`).
    pub keyspace: String,
    /// What follows the keyspace name in the file: `WITH replication = {...}`.
    pub keyspace_options: String,
    /// Tables in file order.
    pub tables: Vec<TableDef>,
    /// Indexes in file order, each on a table declared before it.
    pub indexes: Vec<IndexDef>,
}

impl SchemaFile {
    /// Parses the text of a schema file.
    pub fn parse(text: &str) -> Result<SchemaFile, ParseError> {
        let mut keyspace: Option<String> = None;
        let mut keyspace_options = String::new();
        let mut tables: Vec<TableDef> = Vec::new();
        let mut indexes: Vec<IndexDef> = Vec::new();
        for (index, statement) in split_statements(text).iter().enumerate() {
            let error = |problem: String| ParseError {
                statement: index + 1,
                problem,
            };
            let words: Vec<String> = statement
                .split_whitespace()
                .take(6)
                .map(str::to_ascii_uppercase)
                .collect();
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match words.as_slice() {
                ["CREATE", "KEYSPACE", "IF", "NOT", "EXISTS", ..] => {
                    let mut parts = statement.splitn(7, ' ');
                    let name = parts
                        .nth(5)
                        .ok_or_else(|| error("keyspace name missing".into()))?;
                    keyspace = Some(name.to_owned());
                    keyspace_options = parts.next().unwrap_or_default().to_owned();
                }
                ["CREATE", "TABLE", "IF", "NOT", "EXISTS", ..] => {
                    let (qualifier, table) = parse_table(statement).map_err(error)?;
                    if keyspace.as_deref() != Some(qualifier.as_str()) {
                        return Err(error(format!(
                            "table {qualifier}.{} is not in the keyspace created before it",
                            table.name
                        )));
                    }
                    tables.push(table);
                }
                ["CREATE", "INDEX", "IF", "NOT", "EXISTS", ..] => {
                    let (qualifier, found) = parse_index(statement).map_err(error)?;
                    let table = tables
                        .iter()
                        .find(|t| t.name == found.table && Some(&qualifier) == keyspace.as_ref())
                        .ok_or_else(|| {
                            error(format!(
                                "index {} is on {qualifier}.{}, which is not a table declared \
                                 before it",
                                found.name, found.table
                            ))
                        })?;
                    if table.column_type(&found.column).is_none() {
                        return Err(error(format!(
                            "index {} is on column {}, which table {} does not have",
                            found.name, found.column, found.table
                        )));
                    }
                    if indexes.iter().any(|i| i.name == found.name) {
                        return Err(error(format!("index {} is declared twice", found.name)));
                    }
                    indexes.push(found);
                }
                _ => {
                    return Err(error(format!(
                        "only CREATE KEYSPACE, CREATE TABLE and CREATE INDEX (each IF NOT EXISTS) are supported, found: {}",
                        first_words(statement)
                    )));
                }
            }
        }
        let keyspace = keyspace.ok_or(ParseError {
            statement: 1,
            problem: "no CREATE KEYSPACE statement".into(),
        })?;
        Ok(SchemaFile {
            keyspace,
            keyspace_options,
            tables,
            indexes,
        })
    }

    /// The CREATE KEYSPACE statement of the file, for a keyspace called `keyspace`.
    pub fn create_keyspace_statement(&self, keyspace: &str) -> String {
        format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} {}",
            self.keyspace_options
        )
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The same schema with every vector column holding `dimensions` numbers (`schema apply
    /// --dimensions`; the apps follow the ring's).
    #[must_use]
    pub fn with_vector_dimensions(mut self, dimensions: usize) -> SchemaFile {
        for table in &mut self.tables {
            table.set_vector_dimensions(dimensions);
        }
        self
    }

    /// The indexes on table `name`.
    pub fn indexes_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a IndexDef> + 'a {
        self.indexes.iter().filter(move |i| i.table == name)
    }
}

/// The element type and the dimensions of a vector type as the file or the ring spells it
/// (`vector<float, 64>`, `vector<float,64>`), or `None` for any other type.
pub fn vector_type(cql_type: &str) -> Option<(&str, usize)> {
    let inner = cql_type.trim().strip_prefix("vector<")?.strip_suffix('>')?;
    let (element, dimensions) = inner.split_once(',')?;
    Some((element.trim(), dimensions.trim().parse().ok()?))
}

fn first_words(statement: &str) -> String {
    statement
        .split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "cql_tests.rs"]
mod tests;
