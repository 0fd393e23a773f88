//! What part of time the trail covers, per account and region, as the analytic streams.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Coverage of one account and region.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RegionCoverage {
    pub first: i64,
    pub last: i64,
    pub events: u64,
    /// Silences longer than the configured gap (start, end), most recent last; bounded.
    pub gaps: VecDeque<(i64, i64)>,
}

/// Why a time is or is not covered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Covered {
    Yes,
    /// Nothing of this account/region in the trail.
    RegionMissing(String),
    /// The region's events start after the time (or within the margin).
    BeforeCoverage {
        region: String,
        start: i64,
    },
    /// The time falls in a silence.
    InGap {
        region: String,
        start: i64,
        end: i64,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CoverageTracker {
    /// account → region → coverage.
    pub accounts: BTreeMap<String, BTreeMap<String, RegionCoverage>>,
}

const MAX_GAPS: usize = 256;

impl CoverageTracker {
    pub fn observe(&mut self, account: &str, region: &str, t: i64, max_gap: i64) {
        // Every event lands here: allocate the account's name only the first time.
        if !self.accounts.contains_key(account) {
            self.accounts
                .insert(account.to_string(), Default::default());
        }
        let Some(regions) = self.accounts.get_mut(account) else {
            return;
        };
        match regions.get_mut(region) {
            Some(c) => {
                if t > c.last {
                    if t - c.last > max_gap {
                        c.gaps.push_back((c.last, t));
                        if c.gaps.len() > MAX_GAPS {
                            c.gaps.pop_front();
                        }
                    }
                    c.last = t;
                }
                c.first = c.first.min(t);
                c.events += 1;
            }
            None => {
                regions.insert(
                    region.to_string(),
                    RegionCoverage {
                        first: t,
                        last: t,
                        events: 1,
                        gaps: VecDeque::new(),
                    },
                );
            }
        }
    }

    pub fn knows_account(&self, account: &str) -> bool {
        self.accounts.contains_key(account)
    }

    /// Whether `t` in `account`/`region` is covered, with `margin` of prior coverage required.
    pub fn covered(&self, account: &str, region: &str, t: i64, margin: i64) -> Covered {
        let Some(c) = self.accounts.get(account).and_then(|r| r.get(region)) else {
            return Covered::RegionMissing(region.to_string());
        };
        if c.first > t.saturating_sub(margin) {
            return Covered::BeforeCoverage {
                region: region.to_string(),
                start: c.first,
            };
        }
        for &(s, e) in &c.gaps {
            if s <= t && t <= e {
                return Covered::InGap {
                    region: region.to_string(),
                    start: s,
                    end: e,
                };
            }
        }
        Covered::Yes
    }

    pub fn region(&self, account: &str, region: &str) -> Option<&RegionCoverage> {
        self.accounts.get(account).and_then(|r| r.get(region))
    }

    /// Forgets gaps that ended before `horizon`.
    pub fn prune(&mut self, horizon: i64) {
        for regions in self.accounts.values_mut() {
            for c in regions.values_mut() {
                while c.gaps.front().is_some_and(|g| g.1 < horizon) {
                    c.gaps.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_start_margin_and_gaps() {
        let mut c = CoverageTracker::default();
        let h = 3_600_000;
        c.observe("1", "us-east-1", 0, h);
        c.observe("1", "us-east-1", 10 * 60_000, h);
        c.observe("1", "us-east-1", 5 * h, h);
        assert_eq!(
            c.covered("1", "us-east-1", 6 * 60_000, 5 * 60_000),
            Covered::Yes
        );
        assert!(matches!(
            c.covered("1", "us-east-1", 60_000, 5 * 60_000),
            Covered::BeforeCoverage { .. }
        ));
        assert!(matches!(
            c.covered("1", "us-east-1", 2 * h, 0),
            Covered::InGap { .. }
        ));
        assert!(matches!(
            c.covered("1", "eu-west-1", 2 * h, 0),
            Covered::RegionMissing(_)
        ));
        assert!(matches!(
            c.covered("2", "us-east-1", 2 * h, 0),
            Covered::RegionMissing(_)
        ));
        c.prune(6 * h);
        assert_eq!(c.covered("1", "us-east-1", 2 * h, 0), Covered::Yes);
    }
}
