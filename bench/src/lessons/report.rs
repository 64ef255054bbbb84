//! What a run of `bench lessons` produces: each lesson's claim, table, plot and finding, the
//! report that holds them all (written as `lessons.json`), and each lesson as text for the
//! terminal.
//!
//! The results are kept apart from the experiments that measure them and from the page that shows
//! them (`page.rs`), so that every lesson fills in the same shape and every view reads it
//! the same way.

use std::fmt::Write as _;

use serde::Serialize;

use super::LessonsArgs;

/// One lesson's result: what it claims, its table, its plot and its explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Lesson {
    /// Short name (`prepared`).
    pub name: &'static str,
    /// The claim, as a title.
    pub title: String,
    /// The table's header.
    pub columns: Vec<String>,
    /// The table's rows, one per variant.
    pub rows: Vec<Vec<String>>,
    /// File name of the plot (SVG) in the report folder.
    pub plot: Option<String>,
    /// The result and the reason behind it, in one paragraph.
    pub finding: String,
    /// Why the lesson was left out, when it was.
    pub left_out: Option<String>,
}

impl Lesson {
    pub(super) fn measured(
        name: &'static str,
        title: &str,
        columns: &[&str],
        rows: Vec<Vec<String>>,
        plot: String,
        finding: String,
    ) -> Lesson {
        Lesson {
            name,
            title: title.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
            plot: Some(plot),
            finding,
            left_out: None,
        }
    }

    pub(super) fn left_out(name: &'static str, title: &str, why: String) -> Lesson {
        Lesson {
            name,
            title: title.to_owned(),
            columns: Vec::new(),
            rows: Vec::new(),
            plot: None,
            finding: String::new(),
            left_out: Some(why),
        }
    }

    /// The lesson as text: title, table, finding.
    pub fn text(&self) -> String {
        let mut text = format!("\n== {}: {}\n", self.name, self.title);
        if let Some(why) = &self.left_out {
            let _ = writeln!(text, "left out: {why}");
            return text;
        }
        let header: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        let mut table = loadgen::report::table::new(&header, &[0]);
        for row in &self.rows {
            table.add_row(row);
        }
        text.push_str(&loadgen::report::table::render(&table, 2));
        let _ = writeln!(text, "{}", self.finding);
        text
    }
}

/// The whole run: the ring, and each lesson.
#[derive(Debug, Clone, Serialize)]
pub struct LessonsReport {
    /// Always `lessons`.
    pub kind: &'static str,
    /// When the run began (RFC 3339).
    pub started_at: String,
    /// Contact points.
    pub hosts: Vec<String>,
    /// The local datacenter.
    pub local_dc: String,
    /// Nodes per datacenter.
    pub nodes: Vec<(String, usize)>,
    /// The delay a local ring models for these contact points, when it is such a ring: every
    /// number of the lessons carries it.
    pub modelled_network: Option<String>,
    /// The options.
    pub options: LessonsArgs,
    /// Each lesson.
    pub lessons: Vec<Lesson>,
}

/// Milliseconds, three decimals.
pub(super) fn ms(microseconds: f64) -> String {
    format!("{:.3}", microseconds / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesson_prints_as_an_aligned_table_and_its_finding() {
        let lesson = Lesson::measured(
            "demo",
            "A demo",
            &["variant", "rate"],
            vec![
                vec!["a".to_owned(), "1".to_owned()],
                vec!["longer".to_owned(), "1000".to_owned()],
            ],
            "demo.svg".to_owned(),
            "Because.".to_owned(),
        );
        let text = lesson.text();
        assert!(text.contains("== demo: A demo"), "{text}");
        // Names on the left, numbers on the right, two spaces apart.
        assert!(text.contains("\n  variant  rate\n"), "{text}");
        assert!(text.contains("\n  a           1\n"), "{text}");
        assert!(text.contains("\n  longer   1000\n"), "{text}");
        assert!(text.ends_with("Because.\n"), "{text}");
        let left_out = Lesson::left_out("gone", "Gone", "no reason to run".to_owned());
        assert!(left_out.text().contains("left out: no reason to run"));
    }
}
