//! The operations sent and not yet answered, by number, with the time each was due: so that the
//! driver can say, once a second, how old the oldest of them is (a stall shows as a growing age,
//! not as a second without completions), and can count each one it abandons, with its lateness.
//!
//! Operations are sent in the order of their numbers and answer in any order. A queue indexed from
//! the oldest unanswered number holds the due time of each one still out; answered ones leave a
//! hole that is dropped once everything older has answered. Each operation costs one push and one
//! store, and the queue holds at most the operations sent since the oldest still out.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Operations sent and not yet answered.
#[derive(Debug, Default)]
pub struct Outstanding {
    /// The number of the operation at the queue's front.
    first: u64,
    /// The due time of each operation from `first` on; `None` once it has answered.
    due: VecDeque<Option<Instant>>,
}

impl Outstanding {
    /// Operation `n`, due at `due`, was sent. Numbers come in order, each once.
    pub fn sent(&mut self, n: u64, due: Instant) {
        if self.due.is_empty() {
            self.first = n;
        }
        // Numbers skipped (none are, in the driver) count as answered.
        let next = self.first + self.due.len() as u64;
        self.due
            .extend(std::iter::repeat_n(None, (n.saturating_sub(next)) as usize));
        self.due.push_back(Some(due));
    }

    /// Operation `n` answered.
    pub fn answered(&mut self, n: u64) {
        let Some(slot) = n
            .checked_sub(self.first)
            .and_then(|i| self.due.get_mut(usize::try_from(i).ok()?))
        else {
            return;
        };
        *slot = None;
        while let Some(None) = self.due.front() {
            self.due.pop_front();
            self.first += 1;
        }
    }

    /// When the oldest operation still out was due.
    pub fn oldest(&self) -> Option<Instant> {
        self.due.front().copied().flatten()
    }

    /// The due time of every operation still out.
    pub fn due_times(&self) -> impl Iterator<Item = Instant> + '_ {
        self.due.iter().filter_map(|due| *due)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_oldest_is_the_earliest_due_still_unanswered_whatever_order_they_answer_in() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut out = Outstanding::default();
        assert_eq!(out.oldest(), None);
        for n in 0..4 {
            out.sent(n, at(n * 10));
        }
        out.answered(2);
        assert_eq!(out.oldest(), Some(at(0)));
        out.answered(0);
        assert_eq!(out.oldest(), Some(at(10)));
        out.answered(1);
        assert_eq!(out.oldest(), Some(at(30)), "2 answered earlier");
        assert_eq!(out.due_times().collect::<Vec<_>>(), vec![at(30)]);
        out.answered(3);
        assert_eq!(out.oldest(), None);
        assert_eq!(out.due.len(), 0, "nothing is held once all answered");
        out.sent(4, at(40));
        out.answered(99);
        assert_eq!(
            out.oldest(),
            Some(at(40)),
            "an unknown number changes nothing"
        );
    }
}
