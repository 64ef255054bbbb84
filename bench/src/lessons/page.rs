//! The lessons' page: one section per lesson, with its table, its plot (inlined, so the page
//! works offline) and its explanation.

use std::path::Path;

use maud::{Markup, html};

use crate::report::figure::{document, figure};

use super::{Lesson, LessonsReport};

/// Writes `index.html` into `folder`.
pub(super) fn write(folder: &Path, report: &LessonsReport) -> std::io::Result<()> {
    let nodes = report
        .nodes
        .iter()
        .map(|(dc, n)| format!("{dc}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sections = Vec::with_capacity(report.lessons.len());
    for lesson in &report.lessons {
        sections.push(section(folder, lesson)?);
    }
    let content = html! {
        h1 { "What the patterns are worth on this ring" }
        p {
            (report.started_at) "; ring " (report.hosts.join(",")) ", local datacenter "
            (report.local_dc) "; nodes per datacenter: " (nodes) ". Each lesson measures \
            its variants side by side, on one session and the same data: compare the ratios."
        }
        @if let Some(network) = &report.modelled_network {
            p { "Network delay added to every number here: " strong { (network) } "." }
        }
        @for section in &sections { (section) }
    };
    let title = format!("pickle lessons {}", report.started_at);
    let page = document(&title, STYLE, content);
    loadgen::report::write_atomically(
        &folder.join(crate::report::html::PAGE),
        page.into_string().as_bytes(),
    )
}

const STYLE: &str = "
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 62em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1em 0; }
figcaption { font-size: 13px; color: #555; }
.left-out { color: #855; }
";

/// One lesson: its table, its plot (read from the folder it was drawn into) and its finding.
fn section(folder: &Path, lesson: &Lesson) -> std::io::Result<Markup> {
    let plot = match &lesson.plot {
        Some(plot) => Some(std::fs::read_to_string(folder.join(plot))?),
        None => None,
    };
    Ok(html! {
        h2 id=(lesson.name) { (lesson.title) }
        @if let Some(why) = &lesson.left_out {
            p.left-out { "Left out: " (why) "." }
        } @else {
            table {
                tr { @for column in &lesson.columns { th { (column) } } }
                @for row in &lesson.rows {
                    tr { @for cell in row { td { (cell) } } }
                }
            }
            @if let Some(svg) = &plot { (figure(lesson.name, svg, &lesson.title)) }
            p { (lesson.finding) }
        }
    })
}
