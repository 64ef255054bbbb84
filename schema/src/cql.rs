//! Reads `schema.cql` into what the code needs: the tables with their columns, keys and clustering
//! order, and each statement ready to run against another keyspace name.
//!
//! This is a parser for the subset of CQL the file uses (CREATE KEYSPACE and CREATE TABLE with
//! comments), not a general one. It exists so that the file stays the single source of truth:
//! `schema check` compares the live schema against what is parsed here, not against a second,
//! hand-written description that could drift from it.

use std::fmt;

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

    /// The declared type of `column`, if the table has it.
    pub fn column_type(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.cql_type.as_str())
    }
}

/// The whole file: the keyspace name it uses and its tables, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    /// The keyspace name written in the file (`pickle`).
    pub keyspace: String,
    /// What follows the keyspace name in the file: `WITH replication = {...}`.
    pub keyspace_options: String,
    /// Tables in file order.
    pub tables: Vec<TableDef>,
}

impl SchemaFile {
    /// Parses the text of a schema file.
    pub fn parse(text: &str) -> Result<SchemaFile, ParseError> {
        let mut keyspace: Option<String> = None;
        let mut keyspace_options = String::new();
        let mut tables = Vec::new();
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
                _ => {
                    return Err(error(format!(
                        "only CREATE KEYSPACE IF NOT EXISTS and CREATE TABLE IF NOT EXISTS are supported, found: {}",
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
}

fn first_words(statement: &str) -> String {
    statement
        .split_whitespace()
        .take(4)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits CQL text into statements: comments (`--`, `//`, `/* */`) removed, split on `;` outside
/// string literals, whitespace collapsed.
pub fn split_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                current.push(c);
                // A string literal; '' is an escaped quote inside it.
                while let Some(inner) = chars.next() {
                    current.push(inner);
                    if inner == '\'' {
                        if chars.peek() == Some(&'\'') {
                            current.push('\'');
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => skip_line(&mut chars),
            '/' if chars.peek() == Some(&'/') => skip_line(&mut chars),
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for inner in chars.by_ref() {
                    if previous == '*' && inner == '/' {
                        break;
                    }
                    previous = inner;
                }
                current.push(' ');
            }
            ';' => {
                push_statement(&mut statements, &current);
                current.clear();
            }
            _ => current.push(c),
        }
    }
    push_statement(&mut statements, &current);
    statements
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for inner in chars.by_ref() {
        if inner == '\n' {
            break;
        }
    }
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !collapsed.is_empty() {
        statements.push(collapsed);
    }
}

/// Parses `CREATE TABLE IF NOT EXISTS ks.name (defs) [WITH options]` into the keyspace qualifier
/// and the table.
fn parse_table(statement: &str) -> Result<(String, TableDef), String> {
    let after_exists = statement
        .splitn(6, ' ')
        .nth(5)
        .ok_or("table name missing")?;
    let open = after_exists
        .find('(')
        .ok_or("'(' missing after the table name")?;
    let qualified = after_exists[..open].trim();
    let (qualifier, name) = match qualified.split_once('.') {
        Some((keyspace, table)) => (keyspace.to_owned(), table.to_owned()),
        None => {
            return Err(format!(
                "table '{qualified}' must be written keyspace.table"
            ));
        }
    };
    let body = after_exists[open..].to_owned();
    let close = matching_paren(&body).ok_or("unbalanced parentheses")?;
    let definitions = split_top_level(&body[1..close]);
    let options = &body[close + 1..];

    let mut columns = Vec::new();
    let mut partition_key = Vec::new();
    let mut clustering_names = Vec::new();
    for definition in definitions {
        let upper = definition.to_ascii_uppercase();
        if let Some(key) = upper.strip_prefix("PRIMARY KEY") {
            let key = definition[definition.len() - key.len()..].trim();
            let inner = key
                .strip_prefix('(')
                .and_then(|k| k.strip_suffix(')'))
                .ok_or("PRIMARY KEY needs (...)")?;
            let parts = split_top_level(inner);
            let (first, rest) = parts.split_first().ok_or("empty PRIMARY KEY")?;
            partition_key = match first.strip_prefix('(').and_then(|p| p.strip_suffix(')')) {
                Some(composite) => split_top_level(composite),
                None => vec![first.clone()],
            };
            clustering_names = rest.to_vec();
            continue;
        }
        let mut words = definition.split_whitespace();
        let column = words.next().ok_or("empty column definition")?.to_owned();
        let rest: Vec<&str> = words.collect();
        let rest_upper = rest.join(" ").to_ascii_uppercase();
        let inline_key = rest_upper.ends_with("PRIMARY KEY");
        let type_words = if inline_key {
            &rest[..rest.len().saturating_sub(2)]
        } else {
            &rest[..]
        };
        if type_words.is_empty() {
            return Err(format!("column {column} has no type"));
        }
        if inline_key {
            partition_key = vec![column.clone()];
        }
        columns.push(Column {
            name: column,
            cql_type: normalise_type(&type_words.join(" ")),
        });
    }
    if partition_key.is_empty() {
        return Err(format!("table {name} has no PRIMARY KEY"));
    }
    let orders = clustering_orders(options);
    let clustering = clustering_names
        .into_iter()
        .map(|column| {
            let order = orders
                .iter()
                .find(|(c, _)| *c == column)
                .map_or(Order::Asc, |(_, o)| *o);
            (column, order)
        })
        .collect();
    let table = TableDef {
        name,
        columns,
        partition_key,
        clustering,
        body,
    };
    for key in table
        .partition_key
        .iter()
        .chain(table.clustering.iter().map(|(c, _)| c))
    {
        if table.column_type(key).is_none() {
            return Err(format!(
                "key column {key} of table {} is not declared",
                table.name
            ));
        }
    }
    Ok((qualifier, table))
}

/// The orders in `WITH CLUSTERING ORDER BY (a ASC, b DESC)`, if present.
fn clustering_orders(options: &str) -> Vec<(String, Order)> {
    let upper = options.to_ascii_uppercase();
    let Some(at) = upper.find("CLUSTERING ORDER BY") else {
        return Vec::new();
    };
    let rest = &options[at + "CLUSTERING ORDER BY".len()..];
    let Some(open) = rest.find('(') else {
        return Vec::new();
    };
    let Some(close) = matching_paren(&rest[open..]) else {
        return Vec::new();
    };
    split_top_level(&rest[open + 1..open + close])
        .into_iter()
        .filter_map(|item| {
            let mut words = item.split_whitespace();
            let column = words.next()?.to_owned();
            let order = match words.next().map(str::to_ascii_uppercase).as_deref() {
                Some("DESC") => Order::Desc,
                _ => Order::Asc,
            };
            Some((column, order))
        })
        .collect()
}

/// Index of the `)` matching the `(` that `text` starts with.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits on commas that are not inside parentheses or angle brackets, trimming each part.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// Lower case, no spaces, and `varchar` spelled `text`, as `system_schema.columns` spells types.
pub fn normalise_type(cql_type: &str) -> String {
    let compact: String = cql_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if compact == "varchar" {
        "text".to_owned()
    } else {
        compact
    }
}

#[cfg(test)]
#[path = "cql_tests.rs"]
mod tests;
