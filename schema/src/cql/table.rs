//! Reading one `CREATE TABLE IF NOT EXISTS ks.name (...) [WITH ...]` statement into a
//! [`TableDef`]: its columns and types, its partition key, and its clustering columns with their
//! order.
//!
//! Each step of the reading is a function of its own, so that `parse_table` reads as the list of
//! what a table declaration is made of, and each error says which step refused the text.

use super::split::{matching_paren, split_top_level};
use super::{Column, Order, TableDef};

/// What the definitions between a table's parentheses declare, before the clustering order from
/// the `WITH` options is known.
#[derive(Default)]
struct Declared {
    columns: Vec<Column>,
    partition_key: Vec<String>,
    clustering_names: Vec<String>,
}

/// Parses `CREATE TABLE IF NOT EXISTS ks.name (defs) [WITH options]` into the keyspace qualifier
/// and the table.
pub(super) fn parse_table(statement: &str) -> Result<(String, TableDef), String> {
    let (qualifier, name, body) = qualified_name_and_body(statement)?;
    let close = matching_paren(&body).ok_or("unbalanced parentheses")?;
    let declared = read_definitions(&split_top_level(&body[1..close]))?;
    if declared.partition_key.is_empty() {
        return Err(format!("table {name} has no PRIMARY KEY"));
    }
    let clustering = in_clustering_order(declared.clustering_names, &body[close + 1..]);
    let table = TableDef {
        name,
        columns: declared.columns,
        partition_key: declared.partition_key,
        clustering,
        body,
    };
    check_key_columns_are_declared(&table)?;
    Ok((qualifier, table))
}

/// The keyspace qualifier, the table name, and everything from the `(` on (the body, kept to
/// re-issue the statement in another keyspace).
fn qualified_name_and_body(statement: &str) -> Result<(String, String, String), String> {
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
    Ok((qualifier, name, after_exists[open..].to_owned()))
}

/// Reads the column definitions and the key, in order: a later `PRIMARY KEY` (inline or not)
/// replaces an earlier one, as the original single loop did.
fn read_definitions(definitions: &[String]) -> Result<Declared, String> {
    let mut declared = Declared::default();
    for definition in definitions {
        let upper = definition.to_ascii_uppercase();
        if let Some(key) = upper.strip_prefix("PRIMARY KEY") {
            let key = definition[definition.len() - key.len()..].trim();
            (declared.partition_key, declared.clustering_names) = primary_key(key)?;
            continue;
        }
        let (column, inline_key) = column_definition(definition)?;
        if inline_key {
            declared.partition_key = vec![column.name.clone()];
        }
        declared.columns.push(column);
    }
    Ok(declared)
}

/// The partition key and clustering column names of a `PRIMARY KEY (...)` clause, given what
/// follows `PRIMARY KEY`.
fn primary_key(key: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let inner = key
        .strip_prefix('(')
        .and_then(|k| k.strip_suffix(')'))
        .ok_or("PRIMARY KEY needs (...)")?;
    let parts = split_top_level(inner);
    let (first, rest) = parts.split_first().ok_or("empty PRIMARY KEY")?;
    let partition_key = match first.strip_prefix('(').and_then(|p| p.strip_suffix(')')) {
        Some(composite) => split_top_level(composite),
        None => vec![first.clone()],
    };
    Ok((partition_key, rest.to_vec()))
}

/// One `name type [PRIMARY KEY]` definition: the column, and whether it is the whole key.
fn column_definition(definition: &str) -> Result<(Column, bool), String> {
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
    let column = Column {
        name: column,
        cql_type: normalise_type(&type_words.join(" ")),
    };
    Ok((column, inline_key))
}

/// The clustering columns with the order the `WITH` options give them (ascending by default).
fn in_clustering_order(clustering_names: Vec<String>, options: &str) -> Vec<(String, Order)> {
    let orders = clustering_orders(options);
    clustering_names
        .into_iter()
        .map(|column| {
            let order = orders
                .iter()
                .find(|(c, _)| *c == column)
                .map_or(Order::Asc, |(_, o)| *o);
            (column, order)
        })
        .collect()
}

/// Every partition key and clustering column must be one of the table's columns.
fn check_key_columns_are_declared(table: &TableDef) -> Result<(), String> {
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
    Ok(())
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
