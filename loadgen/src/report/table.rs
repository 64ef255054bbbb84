//! Text tables for the terminal, in one style for every tool: no borders, two spaces between
//! columns, names on the left and numbers on the right. `comfy-table` measures the columns.

use comfy_table::{CellAlignment, Table, presets};

/// A table with `header`: the columns numbered in `text_columns` align left, the others (numbers)
/// right.
pub fn new(header: &[&str], text_columns: &[usize]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_header(header);
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        column.set_cell_alignment(if text_columns.contains(&index) {
            CellAlignment::Left
        } else {
            CellAlignment::Right
        });
    }
    table
}

/// The table's lines, each indented by `indent` spaces and without trailing spaces, each ending
/// in a newline.
pub fn render(table: &Table, indent: usize) -> String {
    let margin = " ".repeat(indent);
    table
        .to_string()
        .lines()
        .map(|line| format!("{margin}{}\n", line.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_align_left_and_numbers_right_two_spaces_apart() {
        let mut table = super::new(&["name", "ms"], &[0]);
        table.add_row(["a", "1.500"]);
        table.add_row(["longer", "12.000"]);
        assert_eq!(
            super::render(&table, 2),
            "  name        ms\n  a        1.500\n  longer  12.000\n"
        );
    }
}
