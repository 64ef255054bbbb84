//! The search `bench findmax` runs, apart from the running: which rate to try next, given how the
//! steps tried so far went. Grow the rate until a step fails, then bisect between the highest
//! step that passed and the lowest that failed, until they are within the resolution asked for.
//!
//! A step is judged on every window, not on its whole ([`StepOutcome`]); a step the loader could
//! not drive (its verdict the client's or the machine's CPU) ends the search, because what failed
//! there was the loader, not the ring: its rate says nothing of the ring's capacity.

use serde::Serialize;

/// How one step went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "why", rename_all = "snake_case")]
pub enum StepOutcome {
    /// Every window met every bound.
    Passed,
    /// A window broke a bound (which, in words): the ring did not serve this rate within the SLA.
    Failed(String),
    /// The loader could not drive the rate (why): the search cannot go on from here.
    LoaderBound(String),
}

/// The search's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchSettings {
    /// The first rate tried.
    pub start: f64,
    /// The factor the rate grows by while steps pass.
    pub growth: f64,
    /// The highest rate to try: a search that passes it stops there.
    pub max_rate: f64,
    /// Stop bisecting when the failing rate is within this share above the passing one (0.05:
    /// 5%).
    pub resolution: f64,
}

/// The search, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct Search {
    settings: SearchSettings,
    /// Every step tried: its rate and how it went.
    pub steps: Vec<(f64, StepOutcome)>,
}

/// Where the search ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// The highest passing rate, and the lowest failing one above it.
    Between {
        /// The highest rate that passed (`None`: even the first step failed).
        passed: Option<f64>,
        /// The lowest rate that failed.
        failed: f64,
    },
    /// Every rate up to `--max-rate` passed.
    AtLeast {
        /// The highest rate tried, which passed.
        passed: f64,
    },
    /// The loader was the limit at `rate`; the highest passing rate below it, if any.
    LoaderBound {
        /// The rate the loader could not drive.
        rate: f64,
        /// The highest rate that passed before it.
        passed: Option<f64>,
        /// Why.
        why: String,
    },
    /// The search was stopped (time limit, Ctrl-C) before it converged: what it had.
    Stopped {
        /// The highest rate that passed.
        passed: Option<f64>,
        /// The lowest rate that failed.
        failed: Option<f64>,
    },
}

impl Search {
    /// A search with `settings`, no step tried.
    pub fn new(settings: SearchSettings) -> Search {
        Search {
            settings,
            steps: Vec::new(),
        }
    }

    /// The highest rate that passed, and the lowest that failed.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        let passed = (self.steps.iter())
            .filter(|(_, o)| *o == StepOutcome::Passed)
            .map(|(r, _)| *r)
            .fold(None, |best: Option<f64>, r| {
                Some(best.map_or(r, |b| b.max(r)))
            });
        let failed = (self.steps.iter())
            .filter(|(_, o)| matches!(o, StepOutcome::Failed(_)))
            .map(|(r, _)| *r)
            .fold(None, |best: Option<f64>, r| {
                Some(best.map_or(r, |b| b.min(r)))
            });
        (passed, failed)
    }

    /// Records how the step at `rate` went.
    pub fn record(&mut self, rate: f64, outcome: StepOutcome) {
        self.steps.push((rate, outcome));
    }

    /// The next rate to try, or where the search ended.
    pub fn next(&self) -> Result<f64, Answer> {
        let s = &self.settings;
        if let Some((rate, StepOutcome::LoaderBound(why))) = self.steps.last() {
            return Err(Answer::LoaderBound {
                rate: *rate,
                passed: self.bounds().0,
                why: why.clone(),
            });
        }
        match self.bounds() {
            (None, None) => Ok(s.start.min(s.max_rate)),
            // Growing: the highest rate so far passed.
            (Some(passed), None) if passed >= s.max_rate => Err(Answer::AtLeast { passed }),
            (Some(passed), None) => Ok((passed * s.growth).min(s.max_rate)),
            // Even the first step failed: bisect down towards zero.
            (None, Some(failed)) => {
                let next = failed / s.growth;
                if next < s.start / s.growth.powi(4) {
                    Err(Answer::Between {
                        passed: None,
                        failed,
                    })
                } else {
                    Ok(next)
                }
            }
            (Some(passed), Some(failed)) if failed <= passed * (1.0 + s.resolution) => {
                Err(Answer::Between {
                    passed: Some(passed),
                    failed,
                })
            }
            (Some(passed), Some(failed)) => Ok((passed * failed).sqrt()),
        }
    }

    /// What the search had when it was stopped before it converged.
    pub fn stopped(&self) -> Answer {
        match self.next() {
            Ok(_) => {
                let (passed, failed) = self.bounds();
                Answer::Stopped { passed, failed }
            }
            Err(answer) => answer,
        }
    }
}

impl Answer {
    /// The answer in a sentence.
    pub fn describe(&self, op: &str) -> String {
        let rate = |r: f64| format!("{r:.0} {op}s/s");
        match self {
            Answer::Between {
                passed: Some(passed),
                failed,
            } => format!(
                "the highest rate within the SLA is between {} (passed) and {} (failed)",
                rate(*passed),
                rate(*failed)
            ),
            Answer::Between {
                passed: None,
                failed,
            } => format!(
                "no rate tried was within the SLA: the lowest, {}, failed",
                rate(*failed)
            ),
            Answer::AtLeast { passed } => format!(
                "every rate up to --max-rate passed: at least {} (raise --max-rate to look further)",
                rate(*passed)
            ),
            Answer::LoaderBound {
                rate: r,
                passed,
                why,
            } => format!(
                "the loader, not the ring, is the limit here: at {} {why}; add loaders (`bench \
                 plan`) or shards{}",
                rate(*r),
                passed.map_or_else(String::new, |p| format!(
                    "; the ring served {} within the SLA",
                    rate(p)
                ))
            ),
            Answer::Stopped { passed, failed } => format!(
                "stopped before the search converged: {} passed, {} failed",
                passed.map_or_else(|| "no rate".to_owned(), rate),
                failed.map_or_else(|| "no rate".to_owned(), rate)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SearchSettings {
        SearchSettings {
            start: 1000.0,
            growth: 2.0,
            max_rate: 100_000.0,
            resolution: 0.05,
        }
    }

    /// The search against a ring that serves `capacity` within the SLA: the steps it tries, and
    /// where it ends.
    fn against(capacity: f64, settings: SearchSettings) -> (Vec<f64>, Answer) {
        let mut search = Search::new(settings);
        loop {
            match search.next() {
                Ok(rate) => {
                    let outcome = if rate <= capacity {
                        StepOutcome::Passed
                    } else {
                        StepOutcome::Failed(format!("p99 over the SLA at {rate:.0}"))
                    };
                    search.record(rate, outcome);
                }
                Err(answer) => return (search.steps.iter().map(|(r, _)| *r).collect(), answer),
            }
        }
    }

    #[test]
    fn the_search_grows_then_bisects_to_within_its_resolution() {
        let (steps, answer) = against(7_600.0, settings());
        assert_eq!(&steps[..4], [1000.0, 2000.0, 4000.0, 8000.0]);
        let Answer::Between {
            passed: Some(passed),
            failed,
        } = answer
        else {
            panic!("{answer:?}");
        };
        assert!(passed <= 7_600.0 && failed > 7_600.0, "{passed} {failed}");
        assert!(failed <= passed * 1.05, "{passed} {failed}");
        // Four steps to grow, then a handful to bisect a factor of two to 5%.
        assert!(steps.len() <= 4 + 5, "{steps:?}");
    }

    #[test]
    fn a_ring_that_fails_the_first_step_is_searched_downwards() {
        let (steps, answer) = against(300.0, settings());
        assert_eq!(&steps[..3], [1000.0, 500.0, 250.0]);
        let Answer::Between {
            passed: Some(passed),
            failed,
        } = answer
        else {
            panic!("{answer:?}");
        };
        assert!(passed <= 300.0 && failed > 300.0 && failed <= passed * 1.05);
        // A ring that serves nothing gives up after a few halvings, saying so.
        let (_, nothing) = against(0.0, settings());
        assert!(
            matches!(nothing, Answer::Between { passed: None, .. }),
            "{nothing:?}"
        );
    }

    #[test]
    fn a_search_that_passes_its_max_rate_stops_there() {
        let (steps, answer) = against(
            1e9,
            SearchSettings {
                max_rate: 5000.0,
                ..settings()
            },
        );
        assert_eq!(steps, [1000.0, 2000.0, 4000.0, 5000.0]);
        assert_eq!(answer, Answer::AtLeast { passed: 5000.0 });
    }

    #[test]
    fn a_step_the_loader_could_not_drive_ends_the_search_with_the_loader_named() {
        let mut search = Search::new(settings());
        search.record(1000.0, StepOutcome::Passed);
        search.record(2000.0, StepOutcome::Passed);
        search.record(
            4000.0,
            StepOutcome::LoaderBound("the client's CPU held the schedule back".into()),
        );
        let answer = search.next().unwrap_err();
        let text = answer.describe("visit");
        assert!(
            text.starts_with("the loader, not the ring, is the limit here: at 4000 visits/s")
                && text.contains("2000 visits/s within the SLA"),
            "{text}"
        );
    }

    #[test]
    fn a_step_that_fails_in_one_window_only_is_a_failed_step() {
        // The outcome of a step is its worst window's (the running side judges each window): one
        // bad window among ten fails the rate, and the search bisects below it.
        let mut search = Search::new(settings());
        search.record(1000.0, StepOutcome::Passed);
        search.record(
            2000.0,
            StepOutcome::Failed("window 40-50 s: p99 31 ms > 10 ms".into()),
        );
        let next = search.next().unwrap();
        assert!(next > 1000.0 && next < 2000.0, "{next}");
        assert_eq!(search.bounds(), (Some(1000.0), Some(2000.0)));
    }

    #[test]
    fn a_stopped_search_says_what_it_had() {
        let mut search = Search::new(settings());
        search.record(1000.0, StepOutcome::Passed);
        search.record(2000.0, StepOutcome::Failed("errors 0.4% > 0.1%".into()));
        assert_eq!(
            search.stopped(),
            Answer::Stopped {
                passed: Some(1000.0),
                failed: Some(2000.0)
            }
        );
    }
}
