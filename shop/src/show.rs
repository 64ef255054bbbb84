//! What the shop prints of one fan-out: a timesheet table with the fan-out's latency next to its
//! slowest read, or the same as JSON, with the verification's outcome when there was one.

use std::time::{Duration, SystemTime};

use schema::model::timeuuid_time;

use crate::fanout::Fanout;
use crate::verify::Verification;

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Prints the fan-out as JSON, or as a table followed by the verification's outcome.
pub fn fanout(
    fanout: &Fanout,
    verification: Option<&Verification>,
    as_json: bool,
) -> serde_json::Result<()> {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(fanout, verification))?
        );
    } else {
        table(fanout);
        if let Some(verification) = verification {
            println!("{}", verification.summary());
        }
    }
    Ok(())
}

/// Prints the timesheets as a table, then the latency line.
fn table(fanout: &Fanout) {
    let header = [
        "employee",
        "name",
        "visits",
        "pickles",
        "trees",
        "last visit",
    ];
    let mut table = loadgen::report::table::new(&header, &[0, 1, 5]);
    for (person, timesheet, _) in &fanout.timesheets {
        let last = timesheet
            .last_visit()
            .map_or_else(|| "never".to_owned(), |t| rfc3339(timeuuid_time(t)));
        let name: String = person
            .name
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(24)
            .collect();
        table.add_row([
            person.employee_id.to_string(),
            name,
            timesheet.visits.to_string(),
            timesheet.pickles.to_string(),
            timesheet.trees.len().to_string(),
            last,
        ]);
    }
    print!("{}", loadgen::report::table::render(&table, 0));
    let how = if fanout.sequential {
        "one after another"
    } else {
        "all at once"
    };
    println!(
        "{} timesheet reads {how}: {:.3} ms in all; the slowest single read took {:.3} ms, the reads add up to {:.3} ms",
        fanout.timesheets.len(),
        ms(fanout.elapsed),
        ms(fanout.slowest()),
        ms(fanout.sum())
    );
}

/// The timesheets and the latencies as JSON.
fn json(fanout: &Fanout, verification: Option<&Verification>) -> serde_json::Value {
    let employees: Vec<serde_json::Value> = fanout
        .timesheets
        .iter()
        .map(|(person, timesheet, took)| {
            serde_json::json!({
                "employee_id": person.employee_id,
                "name": person.name,
                "visits": timesheet.visits,
                "pickles": timesheet.pickles,
                "trees": timesheet.trees.len(),
                "last_visit": timesheet.last_visit().map(|t| rfc3339(timeuuid_time(t))),
                "read_ms": ms(*took),
            })
        })
        .collect();
    serde_json::json!({
        "sequential": fanout.sequential,
        "employees": employees,
        "fan_out_ms": ms(fanout.elapsed),
        "slowest_read_ms": ms(fanout.slowest()),
        "sum_of_reads_ms": ms(fanout.sum()),
        "verification": verification,
    })
}
