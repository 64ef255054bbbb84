//! One fan-out of timesheet reads, as the shop holds it ([`Fanout`]), and the tags each of the
//! shop's reads is counted under in a report ([`Tag`]): what the one-off read, the loop, the
//! verification and the printing share.

use std::time::Duration;

use schema::reads::{Staff, Timesheet};

use crate::TimesheetRead;

/// The service-time tag a read is counted under in the report: the timesheet reads, then the
/// three reads that verify a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A fan-out's timesheet reads.
    Timesheets,
    /// A visit to verify, read from `timesheets`.
    VerifyTimesheets,
    /// Its copy in `trees`.
    VerifyTrees,
    /// Its copy in `production`.
    VerifyProduction,
}

impl Tag {
    /// Every tag, each at its [`Tag::index`].
    pub const ALL: [Tag; 4] = [
        Tag::Timesheets,
        Tag::VerifyTimesheets,
        Tag::VerifyTrees,
        Tag::VerifyProduction,
    ];

    /// Its name in the report (`service-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Tag::Timesheets => "timesheets",
            Tag::VerifyTimesheets => "verify-timesheets",
            Tag::VerifyTrees => "verify-trees",
            Tag::VerifyProduction => "verify-production",
        }
    }

    /// Its place among the workload's service tags, which a measured read is given.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One fan-out: the timesheets read, each read's own time, and the whole fan-out's time.
pub struct Fanout {
    /// Whether the reads went one after another.
    pub sequential: bool,
    /// From the first read sent to the last answer.
    pub elapsed: Duration,
    /// Each employee, their timesheet, and how long its read took.
    pub timesheets: Vec<(Staff, Timesheet, Duration)>,
}

impl Fanout {
    /// The fan-out of `staff` whose reads took `elapsed` in all and gave `results`, in the same
    /// order; an error naming the employee when a read failed.
    pub fn read(
        sequential: bool,
        elapsed: Duration,
        staff: &[Staff],
        results: Vec<TimesheetRead>,
    ) -> anyhow::Result<Fanout> {
        let mut timesheets = Vec::with_capacity(staff.len());
        for (person, (request, timesheet)) in staff.iter().zip(results) {
            let timesheet = timesheet.ok_or_else(|| {
                let kind = request
                    .error
                    .map(|f| f.kind.to_string())
                    .unwrap_or_default();
                anyhow::anyhow!(
                    "reading the timesheet of {} failed ({kind})",
                    person.employee_id
                )
            })?;
            timesheets.push((person.clone(), timesheet, request.service));
        }
        Ok(Fanout {
            sequential,
            elapsed,
            timesheets,
        })
    }

    /// The slowest read of the fan-out.
    pub fn slowest(&self) -> Duration {
        self.timesheets
            .iter()
            .map(|(_, _, took)| *took)
            .max()
            .unwrap_or_default()
    }

    /// The reads' times added up: what reading one after another would cost.
    pub fn sum(&self) -> Duration {
        self.timesheets.iter().map(|(_, _, took)| *took).sum()
    }
}
