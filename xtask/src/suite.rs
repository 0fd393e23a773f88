//! The result of one conformance suite: counts plus failures grouped by cause.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Suite {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    /// Cases the suite itself marks as not applicable (reported separately, never counted).
    pub skipped: usize,
    /// cause → examples (first few are printed).
    pub failures: BTreeMap<String, Vec<String>>,
    /// Free-form lines printed after the counts (e.g. per-generation notes).
    pub notes: Vec<String>,
}

impl Suite {
    pub fn new(name: &str) -> Suite {
        Suite {
            name: name.to_string(),
            ..Default::default()
        }
    }

    pub fn pass(&mut self) {
        self.passed += 1;
    }

    pub fn fail(&mut self, cause: impl Into<String>, detail: impl Into<String>) {
        self.failed += 1;
        self.failures
            .entry(cause.into())
            .or_default()
            .push(detail.into());
    }

    pub fn print(&self) {
        println!("== {}", self.name);
        for n in &self.notes {
            println!("   {n}");
        }
        for (cause, ex) in &self.failures {
            println!("   {} x {}", ex.len(), cause);
            for e in ex.iter().take(5) {
                println!("      - {e}");
            }
        }
        if self.skipped > 0 {
            println!(
                "{}: {} passed, {} failed, {} skipped",
                self.name, self.passed, self.failed, self.skipped
            );
        } else {
            println!(
                "{}: {} passed, {} failed",
                self.name, self.passed, self.failed
            );
        }
    }
}
