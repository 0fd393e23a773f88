//! Embeds every `rules/builtin/*.toml` and `rules/builtin/tests/*.json` of the repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn list(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../rules/builtin");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed={}", root.join("tests").display());
    let mut out = String::from("pub static RULES: &[(&str, &str)] = &[\n");
    for p in list(&root, "toml") {
        println!("cargo:rerun-if-changed={}", p.display());
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("rule file names are UTF-8");
        writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            p.canonicalize()
                .expect("rule file exists")
                .display()
                .to_string()
        )
        .unwrap();
    }
    out.push_str("];\npub static TESTS: &[(&str, &str)] = &[\n");
    for p in list(&root.join("tests"), "json") {
        println!("cargo:rerun-if-changed={}", p.display());
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("test file names are UTF-8");
        writeln!(
            out,
            "    ({stem:?}, include_str!({:?})),",
            p.canonicalize()
                .expect("test file exists")
                .display()
                .to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
