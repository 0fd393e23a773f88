//! `tripline`: threat detection over cloud audit logs.

mod bench;
mod cli;
mod enrich;
mod hunt;
mod pipeline;
mod projection;
mod query;
mod rulesets;
mod views;

use clap::Parser;

// mimalloc: normalization allocates many small maps and strings per record, freed on
// another thread; measured in BENCHMARKS.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Hunts free and reallocate the same amount of memory all the time (documents are
    // built on the workers and dropped on the runner thread): returning freed pages to the
    // OS at once made every later allocation fault them in again (~15% of a hunt's CPU in
    // page zeroing). mimalloc reads its options lazily, on first use, which is after this.
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        std::env::set_var("MIMALLOC_PURGE_DELAY", "1000");
    }
    // A closed stdout (e.g. `| head`) is not an error worth a panic message.
    let cli = cli::Cli::parse();
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
            }
            eprintln!("tripline: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
