//! The report folder a suite (or a merge) writes: `report.json` with every scenario's run report
//! ([`suite_report`]), and `index.html` ([`html`]) with its SVG plots ([`plots`]) and the ring's
//! side of each scenario ([`ring_figures`]), offline; each plot a [`figure`] on the page.

pub mod figure;
pub mod html;
pub mod plots;
pub mod ring_figures;
pub mod suite_report;
