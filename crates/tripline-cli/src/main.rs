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
