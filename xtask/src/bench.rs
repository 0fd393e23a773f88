//! `cargo xtask bench`: the throughput benchmark of issue 9 (first stages).
//!
//! Builds (once, cached by seed and size) a corpus from `tripline-gen` in the S3 delivery
//! layout, loads the compressed files into memory (so the disk is not measured), then times
//! each stage on one core:
//! - decompress only, with flate2 (zlib-rs backend) and with libdeflate;
//! - parse only, the decompressed `{"Records":[...]}` documents into a DOM, with serde_json,
//!   simd-json and sonic-rs;
//! - the real reader: `tripline_sources::read_bytes` (decompress + record scanner + serde_json
//!   per record), on one core and on all cores (parallel by file).
//!
//! It prints records/s and MB/s (compressed and uncompressed) per stage.
//!
//! Options: `--records N` (default 1,000,000), `--seed S` (1), `--corpus DIR` (default
//! `target/bench-corpus/seed<S>-n<N>`), `--threads T` (default: all cores), `--repeat R` (best
//! of R runs, default 1), `--only NAME[,NAME]` (stages whose name contains NAME).

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

struct Opts {
    records: u64,
    seed: u64,
    corpus: Option<PathBuf>,
    threads: usize,
    repeat: usize,
    only: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        records: 1_000_000,
        seed: 1,
        corpus: None,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        repeat: 1,
        only: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--records" => o.records = val()?.replace('_', "").parse()?,
            "--seed" => o.seed = val()?.parse()?,
            "--corpus" => o.corpus = Some(PathBuf::from(val()?)),
            "--threads" => o.threads = val()?.parse::<usize>()?.max(1),
            "--repeat" => o.repeat = val()?.parse::<usize>()?.max(1),
            "--only" => o.only = val()?.split(',').map(str::to_string).collect(),
            other => bail!("unknown option {other}; usage: cargo xtask bench [--records N] [--seed S] [--corpus DIR] [--threads T] [--repeat R] [--only STAGE,..]"),
        }
    }
    Ok(o)
}

/// The corpus in memory: compressed files, and counts.
struct Corpus {
    files: Vec<Vec<u8>>,
    records: u64,
    compressed: u64,
    uncompressed: u64,
    description: String,
}

fn load_corpus(o: &Opts) -> Result<Corpus> {
    let dir = o.corpus.clone().unwrap_or_else(|| {
        super::workspace_root().join(format!(
            "target/bench-corpus/v2-seed{}-n{}",
            o.seed, o.records
        ))
    });
    let marker = dir.join(".complete");
    let cfg = tripline_gen::GenConfig {
        seed: o.seed,
        records: o.records,
        ..Default::default()
    };
    if !marker.exists() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        eprintln!(
            "generating {} records into {} ...",
            o.records,
            dir.display()
        );
        let t = Instant::now();
        let s = tripline_gen::write_s3_corpus(&dir, &cfg).context("generating the corpus")?;
        eprintln!(
            "  {} files, {:.1} MB gzip, {:.1} MB JSON, {} attack scenarios, in {:.1}s",
            s.files,
            mb(s.bytes_compressed),
            mb(s.bytes_uncompressed),
            s.attacks,
            t.elapsed().as_secs_f64()
        );
        std::fs::write(
            &marker,
            format!("{s:?}\n").lines().next().unwrap_or_default(),
        )?;
    }
    let found = tripline_sources::discover(std::slice::from_ref(&dir.join("AWSLogs")));
    if let Some(e) = found.errors.first() {
        bail!("{e}");
    }
    let mut files = Vec::new();
    for input in &found.inputs {
        if let tripline_sources::Input::File(p) = input {
            files.push(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?);
        }
    }
    let compressed = files.iter().map(|f| f.len() as u64).sum();
    // Count records and uncompressed bytes with the real reader (also checks the corpus).
    let mut records = 0u64;
    let mut uncompressed = 0u64;
    for (i, f) in files.iter().enumerate() {
        let st =
            tripline_sources::read_bytes(&format!("file{i}"), f, &Default::default(), &mut |it| {
                if let tripline_sources::Item::Error(e) = it {
                    panic!("generated corpus unreadable: {e}");
                }
            });
        records += st.records;
        uncompressed += st.bytes_uncompressed;
    }
    let description = format!(
        "tripline-gen seed {} ({} records, {} files, {:.1} MB gzip, {:.1} MB JSON, {:.0} B/record, ratio {:.1}x)",
        o.seed,
        records,
        files.len(),
        mb(compressed),
        mb(uncompressed),
        uncompressed as f64 / records.max(1) as f64,
        uncompressed as f64 / compressed.max(1) as f64
    );
    Ok(Corpus {
        files,
        records,
        compressed,
        uncompressed,
        description,
    })
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

/// gzip's ISIZE trailer: the uncompressed size mod 2^32 of the last member.
fn gzip_isize(gz: &[u8]) -> usize {
    if gz.len() < 4 {
        return 0;
    }
    let t = &gz[gz.len() - 4..];
    u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
}

fn decompress_flate2(gz: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    flate2::read::MultiGzDecoder::new(gz).read_to_end(out)?;
    Ok(())
}

fn decompress_libdeflate(
    d: &mut libdeflater::Decompressor,
    gz: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    // Single-member files (as CloudTrail writes them): ISIZE is the exact size.
    let n = gzip_isize(gz);
    out.resize(n.max(1), 0);
    let got = d
        .gzip_decompress(gz, out)
        .map_err(|e| anyhow::anyhow!("libdeflate: {e:?}"))?;
    out.truncate(got);
    Ok(())
}

struct Row {
    stage: String,
    threads: usize,
    secs: f64,
}

/// Runs `f` over every file on `threads` threads (parallel by file), best of `repeat`.
fn timed<F>(c: &Corpus, threads: usize, repeat: usize, f: F) -> Result<f64>
where
    F: Fn(&[u8], &mut Vec<u8>) -> Result<Duration> + Sync,
{
    let mut best = f64::INFINITY;
    for _ in 0..repeat {
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        // Each closure call returns the time it wants counted (parse-only stages exclude
        // their own decompression); with one thread the sum is used, else wall time.
        let counted: Result<Vec<Duration>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| -> Result<Duration> {
                        let mut buf = Vec::new();
                        let mut total = Duration::ZERO;
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(file) = c.files.get(i) else { break };
                            total += f(file, &mut buf)?;
                        }
                        Ok(total)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("bench thread panicked"))?
                })
                .collect()
        });
        let counted = counted?;
        let secs = if threads == 1 {
            counted[0].as_secs_f64()
        } else {
            start.elapsed().as_secs_f64()
        };
        best = best.min(secs);
    }
    Ok(best)
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let c = load_corpus(&o)?;
    let want = |name: &str| o.only.is_empty() || o.only.iter().any(|w| name.contains(w.as_str()));
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |stage: &str, threads: usize, secs: f64| {
        eprintln!("  {stage} ({threads} thread(s)): {secs:.2}s");
        rows.push(Row {
            stage: stage.to_string(),
            threads,
            secs,
        });
    };

    eprintln!("corpus: {}", c.description);
    if want("decompress/flate2") {
        let s = timed(&c, 1, o.repeat, |gz, buf| {
            let t = Instant::now();
            decompress_flate2(gz, buf)?;
            Ok(t.elapsed())
        })?;
        add("decompress/flate2-zlib-rs", 1, s);
    }
    if want("decompress/libdeflate") {
        let s = timed(&c, 1, o.repeat, |gz, buf| {
            let mut d = libdeflater::Decompressor::new();
            let t = Instant::now();
            decompress_libdeflate(&mut d, gz, buf)?;
            Ok(t.elapsed())
        })?;
        add("decompress/libdeflate", 1, s);
    }
    // Parse-only stages: decompress outside the timed part.
    if want("parse/serde_json") {
        let s = timed(&c, 1, o.repeat, |gz, buf| {
            decompress_flate2(gz, buf)?;
            let t = Instant::now();
            let v: serde_json::Value = serde_json::from_slice(buf)?;
            anyhow::ensure!(v["Records"].is_array());
            drop(v); // the pipeline pays for freeing the tree too
            Ok(t.elapsed())
        })?;
        add("parse/serde_json-Value", 1, s);
    }
    if want("parse/simd-json") {
        let s = timed(&c, 1, o.repeat, |gz, buf| {
            decompress_flate2(gz, buf)?;
            let t = Instant::now();
            let v =
                simd_json::to_borrowed_value(buf).map_err(|e| anyhow::anyhow!("simd-json: {e}"))?;
            anyhow::ensure!(matches!(v, simd_json::BorrowedValue::Object(_)));
            drop(v);
            Ok(t.elapsed())
        })?;
        add("parse/simd-json-borrowed", 1, s);
    }
    if want("parse/sonic-rs") {
        let s = timed(&c, 1, o.repeat, |gz, buf| {
            decompress_flate2(gz, buf)?;
            let t = Instant::now();
            let v: sonic_rs::Value =
                sonic_rs::from_slice(buf).map_err(|e| anyhow::anyhow!("sonic-rs: {e}"))?;
            anyhow::ensure!(sonic_rs::JsonValueTrait::is_object(&v));
            drop(v);
            Ok(t.elapsed())
        })?;
        add("parse/sonic-rs-Value", 1, s);
    }
    if want("scan/tripline-sources") {
        let s = timed(&c, 1, o.repeat, |gz, _buf| {
            let t = Instant::now();
            let mut n = 0u64;
            tripline_sources::read_bytes_raw("bench", gz, &Default::default(), &mut |it| {
                if let tripline_sources::RawItem::Bytes { bytes, .. } = it {
                    n += bytes.len() as u64;
                }
            });
            anyhow::ensure!(n > 0);
            Ok(t.elapsed())
        })?;
        add(
            "scan/tripline-sources raw (gunzip+record scanner, no parse)",
            1,
            s,
        );
    }
    if want("read/tripline-sources raw+sonic-rs") {
        let s = timed(&c, 1, o.repeat, |gz, _buf| {
            let t = Instant::now();
            let mut n = 0u64;
            let mut bad = 0u64;
            tripline_sources::read_bytes_raw("bench", gz, &Default::default(), &mut |it| {
                if let tripline_sources::RawItem::Bytes { bytes, .. } = it {
                    match sonic_rs::from_slice::<sonic_rs::Value>(bytes) {
                        Ok(_) => n += 1,
                        Err(_) => bad += 1,
                    }
                }
            });
            anyhow::ensure!(n > 0 && bad == 0);
            Ok(t.elapsed())
        })?;
        add("read/tripline-sources raw+sonic-rs per record", 1, s);
    }
    if want("read/tripline-sources") {
        let read = |gz: &[u8], _buf: &mut Vec<u8>| -> Result<Duration> {
            let t = Instant::now();
            let mut n = 0u64;
            tripline_sources::read_bytes("bench", gz, &Default::default(), &mut |it| {
                if let tripline_sources::Item::Record(_) = it {
                    n += 1
                }
            });
            anyhow::ensure!(n > 0);
            Ok(t.elapsed())
        };
        let s = timed(&c, 1, o.repeat, read)?;
        add("read/tripline-sources (gunzip+scan+serde_json)", 1, s);
        if o.threads > 1 {
            let s = timed(&c, o.threads, o.repeat, read)?;
            add(
                "read/tripline-sources (gunzip+scan+serde_json)",
                o.threads,
                s,
            );
        }
    }

    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("\nmachine: {cpu}, {cores} core(s); commit {commit}");
    println!("corpus: {}\n", c.description);
    println!("| stage | threads | seconds | records/s | MB/s gzip | MB/s JSON |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} | {:.0} | {:.1} | {:.1} |",
            r.stage,
            r.threads,
            r.secs,
            c.records as f64 / r.secs,
            mb(c.compressed) / r.secs,
            mb(c.uncompressed) / r.secs
        );
    }
    let pick = |prefix: &str| {
        rows.iter()
            .filter(|r| r.stage.starts_with(prefix) && r.threads == 1)
            .min_by(|a, b| a.secs.total_cmp(&b.secs))
    };
    if let Some(r) = pick("decompress/") {
        println!(
            "\nfastest decompressor: {} ({:.0} records/s/core)",
            r.stage,
            c.records as f64 / r.secs
        );
    }
    if let Some(r) = pick("parse/") {
        println!(
            "fastest parser: {} ({:.0} records/s/core)",
            r.stage,
            c.records as f64 / r.secs
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompressors_agree_on_a_small_corpus() {
        let dir = tempfile_dir();
        let o = Opts {
            records: 2_000,
            seed: 3,
            corpus: Some(dir.clone()),
            threads: 2,
            repeat: 1,
            only: Vec::new(),
        };
        let c = load_corpus(&o).unwrap();
        assert_eq!(c.records, 2_000);
        let mut d = libdeflater::Decompressor::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for f in &c.files {
            decompress_flate2(f, &mut a).unwrap();
            decompress_libdeflate(&mut d, f, &mut b).unwrap();
            assert_eq!(a, b);
            let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
            let s: sonic_rs::Value = sonic_rs::from_slice(&a).unwrap();
            // Both parsers see the same records: compare through serde_json.
            let from_sonic: serde_json::Value =
                serde_json::from_str(&sonic_rs::to_string(&s).unwrap()).unwrap();
            assert_eq!(
                v["Records"].as_array().unwrap().len(),
                from_sonic["Records"].as_array().unwrap().len()
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("tripline-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }
}
