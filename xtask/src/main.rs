//! Project tasks. `cargo xtask conformance [CORPUS]` runs every corpus conformance suite,
//! prints `N passed, N failed` per suite with failures grouped by cause, and (with
//! `--check-floors`) fails when a suite passes fewer cases than `conformance-floors.toml` says.

mod rules_suite;
mod suite;
// Suites and tasks owned by their areas (one line each):
mod bench;
mod ecs_conformance;
mod eql_qa;
mod gen_field_types;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use suite::Suite;

type SuiteFn = fn(&Path) -> Result<Suite>;

/// Every conformance suite: (name, runner). Names are the keys of conformance-floors.toml.
fn suites() -> Vec<(&'static str, SuiteFn)> {
    vec![
        ("ecs", ecs_conformance::run as SuiteFn),
        ("rules-compile", rules_suite::run as SuiteFn),
        ("eql-qa", eql_qa::run as SuiteFn),
    ]
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn read_floors() -> Result<toml::Table> {
    let p = workspace_root().join("conformance-floors.toml");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    Ok(toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?)
}

fn conformance(args: &[String]) -> Result<()> {
    let check = args.iter().any(|a| a == "--check-floors");
    let only: Vec<&String> = args.iter().filter(|a| a.starts_with("--suite=")).collect();
    let corpus = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/corpus"));
    if !corpus.is_dir() {
        bail!("corpus folder {} not found", corpus.display());
    }
    let floors = if check { Some(read_floors()?) } else { None };
    let mut below = Vec::new();
    for (name, run) in suites() {
        if !only.is_empty()
            && !only
                .iter()
                .any(|o| o.trim_start_matches("--suite=") == name)
        {
            continue;
        }
        let s = match run(&corpus) {
            Ok(s) => s,
            Err(e) => {
                println!("== {name}\n{name}: error: {e:#}");
                below.push(format!("{name}: did not run: {e:#}"));
                continue;
            }
        };
        s.print();
        if let Some(f) = floors
            .as_ref()
            .and_then(|f| f.get(name))
            .and_then(|v| v.as_integer())
        {
            if (s.passed as i64) < f {
                below.push(format!("{name}: {} passed, floor is {f}", s.passed));
            }
        }
    }
    if !below.is_empty() {
        for b in &below {
            eprintln!("conformance below floor: {b}");
        }
        bail!("{} suite(s) below their floor", below.len());
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(|s| s.as_str()) {
        Some("conformance") => conformance(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("gen-field-types") => gen_field_types::run(
            &args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("../shared/corpus")),
            &args.get(2).map(PathBuf::from).unwrap_or_else(|| {
                workspace_root().join("crates/tripline-doc/data/field-types.tsv")
            }),
        ),
        _ => {
            eprintln!("usage: cargo xtask conformance [CORPUS] [--check-floors] [--suite=NAME]");
            std::process::exit(2);
        }
    }
}
