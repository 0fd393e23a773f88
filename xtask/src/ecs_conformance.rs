//! ECS conformance: Elastic's golden CloudTrail pipeline tests replayed through
//! `tripline-normalize` (`<corpus>/elastic-cloudtrail-pipeline`, GeoIP from
//! `<corpus>/maxmind-test-db`).
//!
//! One case per expected document. G3 documents (the generation our normalizer implements)
//! must match exactly; documents of older generations (labelled in the corpus README's table)
//! pass when every difference is in a field known to have changed between pipeline versions
//! (`tripline_normalize::golden::KNOWN_CHANGED`), and the differing fields are listed by
//! generation. Empty input lines (the pipeline's stub document) are skipped.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use tripline_normalize::golden::{known_change, replay, Outcome};

use crate::suite::Suite;

pub fn run(corpus: &Path) -> Result<Suite> {
    let dir = corpus.join("elastic-cloudtrail-pipeline");
    let maxmind = corpus.join("maxmind-test-db");
    let cases = replay(&dir, maxmind.is_dir().then_some(maxmind.as_path()))
        .with_context(|| format!("replaying {}", dir.display()))?;
    let mut s = Suite::new("ecs-conformance");
    // generation → (passed, total)
    let mut per_gen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    // (generation, file) → every compared document passed
    let mut per_file: BTreeMap<(String, String), bool> = BTreeMap::new();
    // generation → field → (count, reason)
    let mut changed: BTreeMap<String, BTreeMap<String, (usize, &'static str)>> = BTreeMap::new();
    for c in &cases {
        let case = format!("{} #{} ({})", c.file, c.index, c.generation);
        let g3 = c.generation == "G3";
        let entry = per_gen.entry(c.generation.clone()).or_default();
        let before = entry.0;
        match &c.outcome {
            Outcome::Skipped(why) => {
                s.skipped += 1;
                s.notes.push(format!("skipped {case}: {why}"));
                continue;
            }
            Outcome::Error(e) => {
                entry.1 += 1;
                s.fail("normalizer rejected the record", format!("{case}: {e}"));
            }
            Outcome::Match => {
                entry.0 += 1;
                entry.1 += 1;
                s.pass();
            }
            Outcome::Differ(diffs) => {
                entry.1 += 1;
                if !g3 && c.only_known_changes() {
                    entry.0 += 1;
                    s.pass();
                    let by_field = changed.entry(c.generation.clone()).or_default();
                    for d in diffs {
                        let why = known_change(&d.path).unwrap_or("");
                        by_field.entry(d.path.clone()).or_insert((0, why)).0 += 1;
                    }
                } else {
                    let first = diffs
                        .iter()
                        .find(|d| g3 || known_change(&d.path).is_none())
                        .unwrap_or(&diffs[0]);
                    let cause = if g3 {
                        "G3 document differs"
                    } else {
                        "older-generation document differs outside the known-changed fields"
                    };
                    s.fail(
                        cause,
                        format!(
                            "{case}: first difference {first} ({} differing field(s))",
                            diffs.len()
                        ),
                    );
                }
            }
        }
        let passed = per_gen[&c.generation].0 > before;
        *per_file
            .entry((c.generation.clone(), c.file.clone()))
            .or_insert(true) &= passed;
    }
    for (g, (p, t)) in per_gen.iter().rev() {
        let files: Vec<bool> = per_file
            .iter()
            .filter(|((fg, _), _)| fg == g)
            .map(|(_, ok)| *ok)
            .collect();
        let ok_files = files.iter().filter(|ok| **ok).count();
        s.notes.insert(
            0,
            format!(
                "{g}: {p}/{t} documents pass ({ok_files}/{} files)",
                files.len()
            ),
        );
    }
    s.notes.sort_by_key(|n| !n.starts_with('G'));
    for (g, fields) in &changed {
        s.notes.push(format!(
            "{g}: fields differing (known changes between pipeline versions):"
        ));
        for (f, (n, why)) in fields {
            s.notes.push(format!("    {f} x{n}: {why}"));
        }
    }
    Ok(s)
}
