//! The lessons' page: one section per lesson, with its table, its plot (inlined, so the page
//! works offline) and its explanation.

use std::fmt::Write as _;
use std::path::Path;

use crate::html::{CHECK_SCRIPT, escape, figure};

use super::LessonsReport;

/// Writes `index.html` into `folder`.
pub(super) fn write(folder: &Path, report: &LessonsReport) -> std::io::Result<()> {
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pickle lessons {started}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 62em; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
figure {{ margin: 1em 0; }}
figcaption {{ font-size: 13px; color: #555; }}
.left-out {{ color: #855; }}
</style></head><body>
<h1>What the patterns are worth on this ring</h1>
<p>{started}; ring {hosts}, local datacenter {dc}; nodes per datacenter: {nodes}. Each lesson
measures its variants side by side, on one session and the same data: compare the ratios.</p>
"#,
        started = escape(&report.started_at),
        hosts = escape(&report.hosts.join(",")),
        dc = escape(&report.local_dc),
        nodes = escape(
            &report
                .nodes
                .iter()
                .map(|(dc, n)| format!("{dc}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for lesson in &report.lessons {
        let _ = writeln!(
            html,
            "<h2 id=\"{}\">{}</h2>",
            escape(lesson.name),
            escape(&lesson.title)
        );
        if let Some(why) = &lesson.left_out {
            let _ = writeln!(html, "<p class=\"left-out\">Left out: {}.</p>", escape(why));
            continue;
        }
        html.push_str("<table>\n<tr>");
        for column in &lesson.columns {
            let _ = write!(html, "<th>{}</th>", escape(column));
        }
        html.push_str("</tr>\n");
        for row in &lesson.rows {
            html.push_str("<tr>");
            for cell in row {
                let _ = write!(html, "<td>{}</td>", escape(cell));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</table>\n");
        if let Some(plot) = &lesson.plot {
            let svg = std::fs::read_to_string(folder.join(plot))?;
            figure(&mut html, lesson.name, &svg, &lesson.title);
        }
        let _ = writeln!(html, "<p>{}</p>", escape(&lesson.finding));
    }
    html.push_str(CHECK_SCRIPT);
    html.push_str("</body></html>\n");
    driver::report::write_atomically(&folder.join(crate::html::PAGE), html.as_bytes())
}
