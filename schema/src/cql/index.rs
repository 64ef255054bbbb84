//! Reading one `CREATE INDEX IF NOT EXISTS name ON ks.table (column) USING 'sai' [WITH OPTIONS =
//! {...}]` statement into an [`IndexDef`]: Cassandra 5.0's Storage-Attached Indexes, the only kind
//! the file declares (the legacy secondary indexes are not what a 5.0 app should learn).

use super::IndexDef;

/// Parses a CREATE INDEX statement into the keyspace qualifier and the index.
pub(super) fn parse_index(statement: &str) -> Result<(String, IndexDef), String> {
    // CREATE INDEX IF NOT EXISTS <name> ON <ks.table> (<column>) USING '<class>' [WITH ...]
    let after_exists = statement
        .splitn(6, ' ')
        .nth(5)
        .ok_or("index name missing")?;
    let (name, rest) = after_exists
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or("ON missing after the index name")?;
    let rest = rest.trim_start();
    let on = rest.get(..3).unwrap_or_default();
    if !on.eq_ignore_ascii_case("ON ") {
        return Err(format!("index {name}: ON missing after its name"));
    }
    let rest = &rest[3..];
    let open = rest
        .find('(')
        .ok_or_else(|| format!("index {name}: '(' missing after the table"))?;
    let close = rest[open..]
        .find(')')
        .map(|at| open + at)
        .ok_or_else(|| format!("index {name}: ')' missing after the column"))?;
    let (qualifier, table) = rest[..open]
        .trim()
        .split_once('.')
        .ok_or_else(|| format!("index {name}: its table must be written keyspace.table"))?;
    let column = rest[open + 1..close].trim();
    if column.is_empty() || column.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(format!(
            "index {name}: one column between the parentheses, found '{column}'"
        ));
    }
    let after = rest[close + 1..].trim_start();
    let using = after.get(..6).unwrap_or_default();
    if !using.eq_ignore_ascii_case("USING ") {
        return Err(format!(
            "index {name}: USING 'sai' missing after the column"
        ));
    }
    let class = after[6..]
        .trim_start()
        .strip_prefix('\'')
        .and_then(|quoted| quoted.split_once('\''))
        .map(|(class, _)| class)
        .ok_or_else(|| format!("index {name}: USING needs a quoted class, such as 'sai'"))?;
    if !class.eq_ignore_ascii_case("sai") && !class.ends_with("StorageAttachedIndex") {
        return Err(format!(
            "index {name}: USING '{class}': only Storage-Attached Indexes ('sai') are supported"
        ));
    }
    Ok((
        qualifier.trim().to_owned(),
        IndexDef {
            name: name.to_owned(),
            table: table.trim().to_owned(),
            column: column.to_owned(),
            body: rest[open..].to_owned(),
        },
    ))
}
