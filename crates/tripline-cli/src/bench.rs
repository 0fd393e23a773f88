//! `tripline bench`: the throughput benchmark of issue 9.
//!
//! Builds (once, cached by seed and size) a corpus with `tripline-gen` in the S3 delivery
//! layout, then measures, stage by stage, how fast Tripline gets through it:
//!
//! | stage        | work                                                                     |
//! |--------------|--------------------------------------------------------------------------|
//! | `decompress` | read each file, gunzip it whole (libdeflate; the fastest decoder here)   |
//! | `scan`       | + cut out the records of the `Records` list (the real reader)            |
//! | `parse`      | + parse each record into a JSON tree (sonic-rs, the fastest parser)      |
//! | `normalize`  | the real pipeline: read + normalize to ECS, events in input order        |
//! | `rules`      | + every rule of `--rules` except analytics, alerts built                 |
//! | `hunt`       | + analytics (session lineage): exactly what `tripline hunt` does          |
//!
//! Each stage runs in a child process (`--child STAGE`), so each has its own peak RSS
//! (`VmHWM`) and CPU time; on one thread the child is pinned to one CPU with `taskset` when
//! available, so "1 core" means one core. Records/s per CPU-second is also reported: it is
//! what a loaded, shared machine distorts least. `load-rules` times loading and compiling
//! every rule under `--all-rules` (all clouds).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli::{InputArgs, InputMode};
use crate::pipeline::{self, PipelineOptions};

const AWS_RULES: &str = "../shared/corpus/detection-rules/rules/integrations/aws";
const ALL_RULES: &str = "../shared/corpus/detection-rules/rules";
const STAGES: &[&str] = &["decompress", "scan", "parse", "normalize", "rules", "hunt"];

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Records in the generated corpus.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads for the multi-core runs (default: all cores). Every stage also runs on 1.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the corpus is cached (default `target/bench-corpus/v2-seed<S>-n<N>`; v2: 5-minute delivery files).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Rule sets for the `rules` and `hunt` stages (default: `builtin` and the Elastic AWS
    /// folder, `../shared/corpus/detection-rules/rules/integrations/aws`, when present).
    #[arg(long = "rules", value_name = "PATH|builtin")]
    pub rules: Vec<String>,
    /// Folder whose rules (all clouds) `load-rules` loads and compiles.
    #[arg(long, value_name = "DIR", default_value = ALL_RULES)]
    pub all_rules: PathBuf,
    /// Stages to run, comma-separated (decompress,scan,parse,normalize,rules,hunt,load-rules).
    #[arg(long, value_delimiter = ',')]
    pub stages: Vec<String>,
    /// Only the multi-core runs (skip the 1-core ones), or with `--threads 1` only those.
    #[arg(long)]
    pub no_single: bool,
    /// Append the results, as a dated Markdown section, to this file (e.g. BENCHMARKS.md).
    #[arg(long, value_name = "FILE")]
    pub append: Option<PathBuf>,
    /// Free text for the Markdown section (what changed).
    #[arg(long, default_value = "")]
    pub note: String,
    /// Internal: run one stage in this process and print its measurement as JSON.
    #[arg(long, hide = true, value_name = "STAGE")]
    pub child: Option<String>,
    /// Internal (differential tests): with `--child rules|hunt`, evaluate the plain way, every
    /// detector on every event (no rule index).
    #[arg(long, hide = true)]
    pub plain: bool,
    /// Internal (differential tests): with `--child rules|hunt`, write each alert's uuid and
    /// rule id, one per line, to this file.
    #[arg(long, hide = true, value_name = "FILE")]
    pub alerts_out: Option<PathBuf>,
}

/// One stage's measurement (what a child prints).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Measure {
    stage: String,
    threads: usize,
    secs: f64,
    cpu_secs: f64,
    records: u64,
    hwm_kb: u64,
    alerts: u64,
    rules: usize,
    /// Fields in the projection detectors saw (0: whole documents).
    #[serde(default)]
    projected_fields: usize,
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn corpus_dir(a: &BenchArgs) -> PathBuf {
    a.corpus.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "target/bench-corpus/v2-seed{}-n{}",
            a.seed, a.records
        ))
    })
}

fn rule_specs(a: &BenchArgs) -> Vec<String> {
    if !a.rules.is_empty() {
        return a.rules.clone();
    }
    let mut v = vec!["builtin".to_string()];
    if Path::new(AWS_RULES).is_dir() {
        v.push(AWS_RULES.to_string());
    }
    v
}

/// The corpus's gzip files (generated first when missing).
fn corpus(a: &BenchArgs) -> Result<Vec<PathBuf>> {
    let dir = corpus_dir(a);
    let marker = dir.join(".complete");
    if !marker.exists() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        eprintln!(
            "generating {} records into {} ...",
            a.records,
            dir.display()
        );
        let t = Instant::now();
        let cfg = tripline_gen::GenConfig {
            seed: a.seed,
            records: a.records,
            ..Default::default()
        };
        let s = tripline_gen::write_s3_corpus(&dir, &cfg).context("generating the corpus")?;
        eprintln!(
            "  {} files, {} attack scenarios, in {:.1}s",
            s.files,
            s.attacks,
            t.elapsed().as_secs_f64()
        );
        std::fs::write(
            &marker,
            format!("files {} records {}\n", s.files, s.records),
        )?;
    }
    let found = tripline_sources::discover(std::slice::from_ref(&dir.join("AWSLogs")));
    if let Some(e) = found.errors.first() {
        bail!("{e}");
    }
    Ok(found
        .inputs
        .into_iter()
        .filter_map(|i| match i {
            tripline_sources::Input::File(p) => Some(p),
            tripline_sources::Input::Stdin => None,
        })
        .collect())
}

/// CPU time of this process so far (user + system), from /proc (0 where unavailable).
fn cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces), from the last ')'.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; USER_HZ is 100
    // on every Linux ABI.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of this process (kB), from /proc.
fn hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `f` over every file on `threads` threads (parallel by file); returns records.
fn par_files(
    files: &[PathBuf],
    threads: usize,
    f: impl Fn(&Path) -> Result<u64> + Sync,
) -> Result<u64> {
    let next = AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = files.get(i) else { return Ok(()) };
                        total.fetch_add(f(p)?, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join()
                .map_err(|_| anyhow::anyhow!("bench thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(total.into_inner())
}

/// Runs one stage in this process.
fn child(a: &BenchArgs, stage: &str) -> Result<Measure> {
    let threads = a.threads.unwrap_or_else(cores).max(1);
    let files = corpus(a)?;
    let mut m = Measure {
        stage: stage.into(),
        threads,
        secs: 0.0,
        cpu_secs: 0.0,
        records: 0,
        hwm_kb: 0,
        alerts: 0,
        rules: 0,
        projected_fields: 0,
    };
    let opts = tripline_sources::ReadOptions::default();
    // Rules are loaded before the clock starts: their load time is its own stage.
    let loaded = match stage {
        "rules" | "hunt" | "load-rules" => {
            let specs = if stage == "load-rules" {
                vec![a.all_rules.display().to_string()]
            } else {
                rule_specs(a)
            };
            let t = Instant::now();
            let ctx = crate::rulesets::compile_context();
            let mut l = crate::rulesets::load(&specs, &ctx)?;
            if stage == "rules" {
                l.detectors
                    .retain(|d| d.rule().rule_type != tripline_rules::RuleType::Analytic);
            }
            m.rules = l.detectors.len();
            if stage != "load-rules" {
                // How well the rule index can narrow dispatch (see the runner).
                let by = |f: &str| {
                    l.detectors
                        .iter()
                        .filter(|d| d.required(f).is_some())
                        .count()
                };
                let neither = l.detectors.iter().filter(|d| {
                    d.required("event.provider").is_none() && d.required("event.action").is_none()
                });
                let names: Vec<String> = neither
                    .map(|d| format!("{} ({})", d.rule().name, d.rule().rule_type))
                    .collect();
                eprintln!(
                    "{} detectors: {} fix event.provider, {} fix event.action, {} fix neither: {}",
                    l.detectors.len(),
                    by("event.provider"),
                    by("event.action"),
                    names.len(),
                    names.join("; ")
                );
            }
            if stage == "load-rules" {
                m.secs = t.elapsed().as_secs_f64();
                m.records = (l.detectors.len() + l.failures.len()) as u64;
                m.cpu_secs = cpu_secs();
                m.hwm_kb = hwm_kb();
                return Ok(m);
            }
            Some(l)
        }
        _ => None,
    };
    let cpu0 = cpu_secs();
    let t = Instant::now();
    match stage {
        "decompress" => {
            par_files(&files, threads, |p| {
                let data = std::fs::read(p)?;
                let mut out = Vec::new();
                tripline_sources::gunzip(&data, &mut out)?;
                Ok(0)
            })?;
            // The generator writes exactly the records asked for.
            m.records = a.records;
        }
        "scan" => {
            m.records = par_files(&files, threads, |p| {
                let mut n = 0u64;
                tripline_sources::read_input_raw(
                    &tripline_sources::Input::File(p.to_path_buf()),
                    &opts,
                    &mut |it| {
                        if let tripline_sources::RawItem::Bytes { bytes, .. } = it {
                            n += u64::from(!bytes.is_empty());
                        }
                    },
                );
                Ok(n)
            })?;
        }
        "parse" => {
            m.records = par_files(&files, threads, |p| {
                let mut n = 0u64;
                tripline_sources::read_input_raw(
                    &tripline_sources::Input::File(p.to_path_buf()),
                    &opts,
                    &mut |it| {
                        if let tripline_sources::RawItem::Bytes { bytes, .. } = it {
                            if sonic_rs::from_slice::<sonic_rs::Value>(bytes).is_ok() {
                                n += 1;
                            }
                        }
                    },
                );
                Ok(n)
            })?;
        }
        "normalize" | "rules" | "hunt" => {
            let input = InputArgs {
                paths: vec![corpus_dir(a).join("AWSLogs")],
                geoip_db: Vec::new(),
                input: InputMode::Auto,
            };
            let cfg = tripline_engine::RunnerConfig {
                indexed: !a.plain,
                ..Default::default()
            };
            let mut runner = loaded.map(|l| tripline_engine::Runner::new(l.detectors, cfg));
            // As `hunt` does; `--plain` evaluates whole documents (no projection) too.
            let (projection, hydrator) = match runner.as_mut() {
                Some(r) => {
                    let (p, h) = crate::projection::prepare(r, &input, !a.plain, false)?;
                    (p, Some(h))
                }
                None => (None, None),
            };
            m.projected_fields = projection.as_ref().map_or(0, |p| p.fields().len());
            let popts = PipelineOptions {
                keep_original: false,
                threads,
                projection,
            };
            let mut drafts = Vec::new();
            // Alerts are built as the hunt builds them (that cost is part of it). Each line:
            // uuid, a digest of the whole alert document, rule id.
            let mut alerts: Vec<String> = Vec::new();
            let keep = |d: &tripline_engine::AlertDraft, alerts: &mut Vec<String>| {
                let Some(h) = hydrator.as_ref() else { return };
                let al = h.alert(d);
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(
                    &serde_json::to_string(&al.doc).unwrap_or_default(),
                    &mut hasher,
                );
                let digest = std::hash::Hasher::finish(&hasher);
                alerts.push(format!("{} {digest:016x} {}", al.uuid, al.rule_id));
            };
            let stats = pipeline::run(
                &input,
                &popts,
                |ev| {
                    if let Some(r) = runner.as_mut() {
                        r.push(Arc::new(ev), &mut drafts);
                        for d in drafts.drain(..) {
                            keep(&d, &mut alerts);
                        }
                    }
                    Ok(())
                },
                |_, _| {},
            )?;
            if let Some(r) = runner.as_mut() {
                r.finish(&mut drafts);
                for d in drafts.drain(..) {
                    keep(&d, &mut alerts);
                }
            }
            m.alerts = alerts.len() as u64;
            if let Some(p) = &a.alerts_out {
                let mut text = alerts.join("\n");
                text.push('\n');
                std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            }
            m.records = stats.records;
        }
        other => bail!(
            "unknown stage {other:?}; stages: {}, load-rules",
            STAGES.join(", ")
        ),
    }
    m.secs = t.elapsed().as_secs_f64();
    m.cpu_secs = cpu_secs() - cpu0;
    m.hwm_kb = hwm_kb();
    Ok(m)
}

fn run_child(a: &BenchArgs, stage: &str, threads: usize) -> Result<Measure> {
    let exe = std::env::current_exe()?;
    let mut args: Vec<String> = vec![
        "bench".into(),
        "--child".into(),
        stage.into(),
        "--threads".into(),
        threads.to_string(),
    ];
    args.extend([
        "--records".into(),
        a.records.to_string(),
        "--seed".into(),
        a.seed.to_string(),
    ]);
    args.extend(["--corpus".into(), corpus_dir(a).display().to_string()]);
    args.extend(["--all-rules".into(), a.all_rules.display().to_string()]);
    for r in rule_specs(a) {
        args.extend(["--rules".into(), r]);
    }
    // One thread: pin to one CPU, so the consumer thread shares that core too.
    let pin = threads == 1 && Command::new("taskset").arg("--version").output().is_ok();
    let out = if pin {
        Command::new("taskset")
            .arg("-c")
            .arg(first_allowed_cpu())
            .arg(&exe)
            .args(&args)
            .output()?
    } else {
        Command::new(&exe).args(&args).output()?
    };
    if !out.status.success() {
        bail!(
            "stage {stage} ({threads} threads) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim())
        .with_context(|| format!("stage {stage}: unexpected output {line:?}"))
}

/// A CPU this process may run on (from /proc/self/status `Cpus_allowed_list`), for taskset.
fn first_allowed_cpu() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
            let v = l.split(':').nth(1)?.trim();
            Some(v.split([',', '-']).next()?.to_string())
        })
        .unwrap_or_else(|| "0".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn bench(a: BenchArgs) -> Result<i32> {
    if let Some(stage) = &a.child {
        let m = child(&a, stage)?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(0);
    }
    let files = corpus(&a)?;
    // Sizes: stored bytes, and the gzip trailers' ISIZE for the JSON size (exact for
    // single-member files under 4 GiB, which is what the generator writes).
    let (mut gz, mut json) = (0u64, 0u64);
    for p in &files {
        let data = std::fs::read(p)?;
        gz += data.len() as u64;
        if data.len() >= 4 {
            let t = &data[data.len() - 4..];
            json += u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as u64;
        }
    }
    let threads = a.threads.unwrap_or_else(cores).max(1);
    let stages: Vec<String> = if a.stages.is_empty() {
        STAGES
            .iter()
            .map(|s| s.to_string())
            .chain(std::iter::once("load-rules".to_string()))
            .collect()
    } else {
        a.stages.clone()
    };
    let mut thread_counts = Vec::new();
    if !a.no_single || threads == 1 {
        thread_counts.push(1);
    }
    if threads > 1 {
        thread_counts.push(threads);
    }
    let load_before = loadavg();
    let mut rows: Vec<Measure> = Vec::new();
    let mut load_rules: Option<Measure> = None;
    for stage in &stages {
        if stage == "load-rules" {
            if !a.all_rules.is_dir() {
                eprintln!("load-rules: {} not found, skipped", a.all_rules.display());
                continue;
            }
            let m = run_child(&a, stage, 1)?;
            eprintln!(
                "  load-rules: {} rule files, {} compiled, {:.3}s",
                m.records, m.rules, m.secs
            );
            load_rules = Some(m);
            continue;
        }
        for &t in &thread_counts {
            let m = run_child(&a, stage, t)?;
            eprintln!(
                "  {:<10} {:>2} thread(s): {:>7.2}s, {:>9.0} records/s, {:>9.0} records/CPU-s, peak RSS {:.0} MB{}",
                m.stage,
                m.threads,
                m.secs,
                m.records as f64 / m.secs,
                m.records as f64 / m.cpu_secs.max(1e-9),
                m.hwm_kb as f64 / 1024.0,
                if m.rules > 0 { format!(", {} rules, {} alerts", m.rules, m.alerts) } else { String::new() }
            );
            rows.push(m);
        }
    }
    let load_after = loadavg();
    let md = report(
        &a,
        &files,
        gz,
        json,
        &rows,
        load_rules.as_ref(),
        &load_before,
        &load_after,
    );
    println!("{md}");
    if let Some(p) = &a.append {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("opening {}", p.display()))?;
        writeln!(f, "\n{md}")?;
        eprintln!("appended to {}", p.display());
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &BenchArgs,
    files: &[PathBuf],
    gz: u64,
    json: u64,
    rows: &[Measure],
    load: Option<&Measure>,
    lb: &str,
    la: &str,
) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let records = rows.iter().map(|r| r.records).max().unwrap_or(a.records);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.0} GB RAM", kb as f64 / 1048576.0))
        .unwrap_or_default();
    let commit = sh("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = if sh("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (+ uncommitted changes)"
    };
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "## {date} — commit {commit}{dirty}{}",
        if a.note.is_empty() {
            String::new()
        } else {
            format!(": {}", a.note)
        }
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "- machine: {cpu}, {} core(s), {mem}; load average {lb} before, {la} after",
        cores()
    );
    let _ = writeln!(
        s,
        "- corpus: tripline-gen seed {} — {} records in {} S3-layout files, {:.1} MB gzip, {:.1} MB JSON ({:.0} B/record, ratio {:.1}x)",
        a.seed,
        records,
        files.len(),
        mb(gz),
        mb(json),
        json as f64 / records.max(1) as f64,
        json as f64 / gz.max(1) as f64
    );
    let _ = writeln!(
        s,
        "- rules (rules/hunt stages): {}",
        rule_specs(a).join(", ")
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "| stage | threads | seconds | records/s | records/CPU-s | MB/s gzip | MB/s JSON | peak RSS MB | rules | alerts |");
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.0} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {} |",
            r.stage,
            r.threads,
            r.secs,
            r.records as f64 / r.secs,
            r.records as f64 / r.cpu_secs.max(1e-9),
            mb(gz) / r.secs,
            mb(json) / r.secs,
            r.hwm_kb as f64 / 1024.0,
            r.rules,
            r.alerts
        );
    }
    if let Some(l) = load {
        let _ = writeln!(
            s,
            "\nLoad and compile every rule under `{}` ({} files, {} compiled): {:.3} s.",
            a.all_rules.display(),
            l.records,
            l.rules,
            l.secs
        );
    }
    for t in rows
        .iter()
        .map(|r| r.threads)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let get = |st: &str| rows.iter().find(|r| r.stage == st && r.threads == t);
        if let (Some(d), Some(h)) = (get("decompress"), get("hunt")) {
            let ratio = d.secs / h.secs;
            let _ = writeln!(
                s,
                "\n{t} thread(s): hunt at {:.1}% of decompress-only throughput (target ≥ 60%); {:.0} records/s per core (target ≥ 400k).",
                ratio * 100.0,
                h.records as f64 / h.secs / t as f64
            );
        }
    }
    s
}
