//! How Elastic's scheduled rule runs map to event time. Kept in one place: threshold and
//! ES|QL rules both use it.
//!
//! Elastic runs a rule every `interval` (e.g. `5m`); each run queries the look-back window
//! `[run_time - lookback, run_time)` where lookback comes from `from` (e.g. `now-6m`), so
//! consecutive windows overlap by `lookback - interval`. Tripline replays that schedule in event
//! time: runs happen at every multiple of `interval` since the Unix epoch (so results do not
//! depend on where an input file starts), run `k` executes at `k * interval` and sees the events
//! with `k*interval - lookback <= t < k*interval`. An event at time `t` is therefore seen by the
//! runs `k` with `t < k*interval <= t + lookback`.
//!
//! Elastic deduplicates threshold alerts across overlapping runs by remembering each group's
//! last alert; the threshold detector does the same (a group alerts again only for events after
//! the previous alert's window end).

/// A rule's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval_ms: i64,
    pub lookback_ms: i64,
}

impl Schedule {
    pub fn new(interval_ms: i64, lookback_ms: i64) -> Schedule {
        let interval_ms = interval_ms.max(1);
        // A look-back shorter than the interval would leave gaps Elastic also has; keep it
        // at least one interval so no event is unseen.
        Schedule {
            interval_ms,
            lookback_ms: lookback_ms.max(interval_ms),
        }
    }

    pub fn from_rule(rule: &tripline_rules::Rule) -> Schedule {
        Schedule::new(rule.interval_millis(), rule.lookback_millis())
    }

    /// Time at which run `k` executes.
    pub fn run_time(&self, k: i64) -> i64 {
        k.saturating_mul(self.interval_ms)
    }

    /// The half-open event-time window `[start, end)` that run `k` queries.
    pub fn window(&self, k: i64) -> (i64, i64) {
        let end = self.run_time(k);
        (end.saturating_sub(self.lookback_ms), end)
    }

    /// The first run that sees an event at `t`.
    pub fn first_run_seeing(&self, t: i64) -> i64 {
        t.div_euclid(self.interval_ms) + 1
    }

    /// The last run that sees an event at `t`.
    pub fn last_run_seeing(&self, t: i64) -> i64 {
        (t + self.lookback_ms).div_euclid(self.interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_every_event_with_overlap() {
        let s = Schedule::new(300_000, 360_000); // 5m interval, now-6m
        let t = 1_000_000;
        let (a, b) = (s.first_run_seeing(t), s.last_run_seeing(t));
        assert!(a <= b);
        for k in a..=b {
            let (start, end) = s.window(k);
            assert!(
                start <= t && t < end,
                "run {k} window {start}..{end} misses {t}"
            );
        }
        let (start, end) = s.window(a - 1);
        assert!(!(start <= t && t < end));
        let (start, end) = s.window(b + 1);
        assert!(!(start <= t && t < end));
    }
}
