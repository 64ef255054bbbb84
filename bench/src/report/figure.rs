//! A plot on a page, and the page around plots: every HTML page `bench` writes (the suite's
//! report, the lessons') puts its SVG plots in [`figure`]s and itself in a [`document`], whose
//! script marks each figure drawn once the browser has laid it out (the live test reads that back
//! from headless Chromium, so "the plots render" is checked in a real browser).
//!
//! It sits below the pages that use it (`html`, `ring_figures`, the lessons' page), so that none
//! of them reaches into another for it.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// A whole page: `content` under `title`, styled by `style`, with the script that checks the
/// plots once the browser has drawn them.
pub(crate) fn document(title: &str, style: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(style)) }
            }
            body data-plots="not checked" {
                (content)
                (PreEscaped(CHECK_SCRIPT))
            }
        }
    }
}

/// A plot with its caption; the SVG is our own drawing, inlined as it is.
pub(crate) fn figure(name: &str, svg: &str, caption: &str) -> Markup {
    html! {
        figure.plot data-plot=(name) {
            (PreEscaped(svg))
            figcaption { (caption) }
        }
    }
}

/// Marks each plot drawn once the browser has laid it out.
const CHECK_SCRIPT: &str = r#"<script>
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
