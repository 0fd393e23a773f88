//! Normalization throughput on a file of CloudTrail records, one JSON object a line:
//! `cargo run --release -p tripline-normalize --example normbench -- records.jsonl [rounds]`.
//! Prints µs/record and allocations/record (mimalloc, as the CLI uses). With 0 rounds, prints
//! each document instead. With `NORMBENCH_FIELDS=a.b,c.d` set, measures
//! `normalize_projected` for those fields (with `NORMBENCH_FULL_THEN_PROJECT` also set: the
//! full document, then its projection).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

use tripline_doc::projection::Projection;
use tripline_normalize::{FieldPlan, NormalizeOptions, Normalizer};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        INNER.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        INNER.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        INNER.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time of this (main) thread in seconds: the machine is shared, wall time is not a measure.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("records file");
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let n = Normalizer::new(NormalizeOptions::default());
    if rounds == 0 {
        // Dump mode: each document as JSON (key order kept), to compare two builds.
        for l in &lines {
            match n.normalize_json(l) {
                Ok((doc, ts)) => {
                    println!("{ts} {}", serde_json::to_string(&doc.0).unwrap_or_default())
                }
                Err(e) => println!("error {e}"),
            }
        }
        return;
    }
    let plan = std::env::var("NORMBENCH_FIELDS").ok().map(|f| {
        let p = Projection::new(f.split(',')).expect("projectable field names");
        FieldPlan::new(&p)
    });
    let full_then_project = std::env::var_os("NORMBENCH_FULL_THEN_PROJECT").is_some();
    let mut best = f64::MAX;
    let mut allocs = 0;
    for _ in 0..rounds {
        let a0 = ALLOCS.load(Ordering::Relaxed);
        let t = cpu_seconds();
        let mut ok = 0usize;
        for l in &lines {
            let r = match &plan {
                // The way without a plan: the full document, then its projection.
                Some(p) if full_then_project => n
                    .normalize_json(l)
                    .map(|(d, ts)| (d.project(p.projection(), l.to_string()), ts)),
                Some(p) => n.normalize_projected(l, p),
                None => n.normalize_json(l),
            };
            if let Ok((doc, _)) = r {
                ok += doc.0.len();
            }
        }
        let dt = cpu_seconds() - t;
        allocs = ALLOCS.load(Ordering::Relaxed) - a0;
        best = best.min(dt);
        std::hint::black_box(ok);
    }
    let per = lines.len() as f64;
    println!(
        "{} records: {:.2} CPU-µs/record, {:.0} records/CPU-s, {:.1} allocations/record",
        lines.len(),
        best * 1e6 / per,
        per / best,
        allocs as f64 / per
    );
}
