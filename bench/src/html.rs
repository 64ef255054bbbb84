//! The report page, `index.html`: a summary table and SVG plots, all in one file that works
//! offline (no script or font is fetched from anywhere).
//!
//! A few lines of script run when the page loads: for every plot they check that the browser
//! laid out its drawing (a non-empty bounding box, lines and shapes present) and mark the plot
//! `data-drawn="yes"`; the body then carries `data-plots="drawn/total"`. The live test reads
//! that back from headless Chromium, so "the plots render" is checked in a real browser.

use std::fmt::Write as _;
use std::path::Path;

use crate::plots::{self, PlotError};
use crate::suite_report::SuiteReport;

/// The page's file name in a report folder.
pub const PAGE: &str = "index.html";

/// Why the page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A plot failed.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Makes the page and writes it into `folder`, atomically.
pub fn write_page(folder: &Path, suite: &SuiteReport) -> Result<(), PageError> {
    let path = folder.join(PAGE);
    let io = |source| PageError::Io {
        path: path.display().to_string(),
        source,
    };
    driver::report::write_atomically(&path, page(suite)?.as_bytes()).map_err(io)
}

/// The page's HTML.
pub fn page(suite: &SuiteReport) -> Result<String, PageError> {
    let mut html = String::new();
    let ring = &suite.ring;
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pickle bench report {started}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child, td.text {{ text-align: left; }}
figure {{ display: inline-block; margin: 1em 1em 1em 0; }}
figcaption {{ font-size: 13px; color: #555; max-width: 760px; }}
.note {{ color: #555; font-size: 14px; max-width: 60em; }}
</style></head>
<body data-plots="not checked">
<h1>pickle bench report</h1>
<p class="note">Started {started}. Ring: {nodes} node(s) in {dcs} ({hosts}){version}{local}. Keyspace <code>{keyspace}</code>.
Response time counts from each operation's <em>intended</em> start, so a late schedule or a full in-flight window shows in it.</p>
"#,
        started = escape(&suite.started_at),
        nodes = ring.nodes,
        dcs = escape(&ring.datacenters.join(", ")),
        hosts = escape(&ring.hosts.join(", ")),
        version = ring
            .cassandra_version
            .as_ref()
            .map(|v| format!(", Cassandra {}", escape(v)))
            .unwrap_or_default(),
        local = if ring.started_locally {
            ", started locally by bench"
        } else {
            ""
        },
        keyspace = escape(&suite.keyspace),
    );
    html.push_str(&summary_table(suite));

    html.push_str("<h2>Latency by percentile</h2>\n");
    let mut tools: Vec<&str> = suite
        .scenarios
        .iter()
        .map(|s| s.report.tool.as_str())
        .collect();
    tools.dedup();
    for tool in tools {
        let series: Vec<(String, hdrhistogram::Histogram<u64>)> = suite
            .scenarios
            .iter()
            .filter(|s| s.report.tool == tool)
            .filter_map(|s| Some((s.name.clone(), s.report.headline_histogram()?)))
            .collect();
        let svg = plots::percentile_curves(
            &format!("{tool}: latency of every operation by percentile"),
            &series,
        )?;
        figure(
            &mut html,
            &format!("{tool}-percentiles"),
            &svg,
            "Both axes are logarithmic: each step right adds a nine.",
        );
    }

    let ladder: Vec<(String, Option<f64>, f64)> = suite
        .scenarios
        .iter()
        .filter(|s| s.report.tool == "factory")
        .map(|s| (s.name.clone(), s.report.target_rate, s.report.achieved_rate))
        .collect();
    if !ladder.is_empty() {
        html.push_str("<h2>Achieved against target</h2>\n");
        let svg = plots::rates("factory: achieved and target rate", "visit", &ladder)?;
        figure(
            &mut html,
            "factory-rates",
            &svg,
            "Outline: the target; filled: what was achieved. Unthrottled runs have no target.",
        );
    }

    html.push_str("<h2>Over time</h2>\n");
    for scenario in &suite.scenarios {
        let svg = plots::over_time(
            &format!(
                "{}: throughput and p99 ({})",
                scenario.name,
                scenario.report.measures()
            ),
            &scenario.report.names.op,
            &scenario.report.intervals,
        )?;
        let caption = format!(
            "{}. {} Latency counts every operation that ended in each second, failed ones too; \
             a gap in the p99 line is a second in which none ended, and the grey line is the age \
             of the oldest one still out.",
            scenario.description, scenario.report.limiter.explanation
        );
        figure(
            &mut html,
            &format!("{}-time", scenario.name),
            &svg,
            &caption,
        );
    }
    html.push_str(CHECK_SCRIPT);
    html.push_str("</body></html>\n");
    Ok(html)
}

fn summary_table(suite: &SuiteReport) -> String {
    let mut html = String::from(
        "<table><tr><th>scenario</th><th>target/s</th><th>achieved/s</th><th>p50 ms</th><th>p99 ms</th>\
         <th>p99.9 ms</th><th>max ms</th><th>errors %</th><th>CPU µs/request</th><th>limited by</th></tr>\n",
    );
    for row in suite.summary_rows() {
        let [p50, p99, p999, max] = row.response_ms;
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{p50:.3}</td><td>{p99:.3}</td><td>{p999:.3}</td><td>{max:.3}</td>\
             <td>{:.2}</td><td>{:.1}</td><td class=\"text\">{}</td></tr>",
            escape(&row.name),
            escape(&row.target),
            row.achieved,
            row.errors_percent,
            row.cpu_us_per_request,
            escape(&row.limited_by)
        );
    }
    html.push_str("</table>\n");
    let _ = writeln!(
        html,
        "<p class=\"note\">{}</p>",
        escape(&suite.table_note())
    );
    html
}

pub(crate) fn figure(html: &mut String, name: &str, svg: &str, caption: &str) {
    let _ = writeln!(
        html,
        "<figure class=\"plot\" data-plot=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
        escape(name),
        escape(caption)
    );
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Marks each plot drawn once the browser has laid it out.
pub(crate) const CHECK_SCRIPT: &str = r#"<script>
window.addEventListener('load', function () {
  var figures = document.querySelectorAll('figure.plot');
  var drawn = 0;
  figures.forEach(function (figure) {
    var svg = figure.querySelector('svg');
    var ok = false;
    if (svg) {
      var box = svg.getBBox();
      var marks = svg.querySelectorAll('polyline, path, rect, line, circle').length;
      ok = box.width > 100 && box.height > 100 && marks > 5;
    }
    figure.setAttribute('data-drawn', ok ? 'yes' : 'no');
    if (ok) { drawn += 1; }
  });
  document.body.setAttribute('data-plots', drawn + '/' + figures.length);
});
</script>
"#;
