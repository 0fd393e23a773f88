//! Embeds uap-core's `regexes.yaml` (shipped inside the `ua-parser` crate's package) as JSON,
//! so the user-agent parser needs no file at run time.
//!
//! Lookup order: `TRIPLINE_UAP_REGEXES` (a path to a regexes.yaml), then the `ua-parser`
//! package in Cargo's registry sources (`$CARGO_HOME/registry/src/*/ua-parser-<ver>/`), then a
//! `vendor/` directory at the workspace root. When none is found the build still succeeds with
//! an empty rule set (every agent parses as `Other`) and prints a warning; the crate's tests
//! fail loudly in that case.

use std::path::{Path, PathBuf};

const UA_PARSER_DIR: &str = "ua-parser-0.2.2";

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(p) = std::env::var("TRIPLINE_UAP_REGEXES") {
        out.push(PathBuf::from(p));
    }
    let mut homes = Vec::new();
    if let Ok(h) = std::env::var("CARGO_HOME") {
        homes.push(PathBuf::from(h));
    }
    if let Ok(h) = std::env::var("HOME") {
        homes.push(Path::new(&h).join(".cargo"));
    }
    for home in homes {
        let src = home.join("registry").join("src");
        if let Ok(rd) = std::fs::read_dir(&src) {
            let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            dirs.sort();
            for d in dirs {
                out.push(d.join(UA_PARSER_DIR).join("uap-core").join("regexes.yaml"));
            }
        }
    }
    if let Ok(m) = std::env::var("CARGO_MANIFEST_DIR") {
        let root = Path::new(&m).join("..").join("..");
        out.push(
            root.join("vendor")
                .join("ua-parser")
                .join("uap-core")
                .join("regexes.yaml"),
        );
    }
    out
}

fn main() {
    println!("cargo:rerun-if-env-changed=TRIPLINE_UAP_REGEXES");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut json = None;
    for c in candidates() {
        let Ok(text) = std::fs::read_to_string(&c) else {
            continue;
        };
        match serde_yaml::from_str::<serde_json::Value>(&text) {
            Ok(v) => {
                println!("cargo:rerun-if-changed={}", c.display());
                json = Some(serde_json::to_string(&v).expect("json"));
                break;
            }
            Err(e) => println!("cargo:warning=cannot parse {}: {e}", c.display()),
        }
    }
    let json = json.unwrap_or_else(|| {
        println!("cargo:warning=uap-core regexes.yaml not found (set TRIPLINE_UAP_REGEXES); user agents will parse as Other");
        r#"{"user_agent_parsers":[],"os_parsers":[],"device_parsers":[]}"#.to_string()
    });
    std::fs::write(out.join("uap-regexes.json"), json).expect("write uap-regexes.json");
}
