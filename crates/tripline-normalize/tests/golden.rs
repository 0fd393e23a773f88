//! Elastic's golden pipeline tests, when the shared corpus is present (skipped otherwise).

use std::path::Path;

use tripline_normalize::golden::{replay, Outcome};

#[test]
fn golden_pairs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let dir = root.join("elastic-cloudtrail-pipeline");
    if !dir.join("README.md").exists() {
        eprintln!("corpus not present, skipping");
        return;
    }
    let cases = replay(&dir, Some(&root.join("maxmind-test-db"))).expect("replay");
    let mut g3 = (0, 0);
    let mut failures = Vec::new();
    for c in &cases {
        let ok = match &c.outcome {
            Outcome::Match => true,
            Outcome::Skipped(_) => continue,
            _ if c.generation != "G3" => c.only_known_changes(),
            _ => false,
        };
        if c.generation == "G3" {
            g3.0 += ok as usize;
            g3.1 += 1;
        }
        if !ok {
            let detail = match &c.outcome {
                Outcome::Differ(d) => d.iter().map(|d| format!("\n    {d}")).collect::<String>(),
                Outcome::Error(e) => e.clone(),
                _ => String::new(),
            };
            failures.push(format!(
                "{} #{} ({}):{detail}",
                c.file, c.index, c.generation
            ));
        }
    }
    eprintln!("G3: {}/{}", g3.0, g3.1);
    assert!(g3.1 > 0, "no G3 case found");
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
