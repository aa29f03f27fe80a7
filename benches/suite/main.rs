//! The benchmark suite behind `BENCHMARKS.md`: decorator overhead, in-memory throughput, the
//! backends against their raw drivers, and recovery time. One command runs it all and writes the
//! table: `scripts/bench` (see that script for the options). The growth section (8) also runs the
//! previous release, built by `scripts/bench` (see `growth.rs`).
//!
//! `--quick` runs every measurement briefly (CI's smoke mode: it must build and run, and is never
//! a pass/fail on timing); `--markdown FILE` writes the table.

mod alloc;
mod decorator;
mod fixture;
#[cfg(all(feature = "postgres", feature = "redis"))]
mod growth;
#[cfg(all(feature = "postgres", feature = "redis"))]
mod growth_measure;
mod memory;
#[cfg(all(feature = "postgres", feature = "redis"))]
mod pipeline;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod recovery;
#[cfg(feature = "redis")]
mod redis;
mod resilience;
mod stats;

use stats::Table;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Quick,
    Full,
}

fn main() {
    // A panic in a spawned task would otherwise leave the suite waiting for it forever (CI would
    // time out instead of failing): report it and end the process.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));
    let args: Vec<String> = std::env::args().collect();
    let mode = if args.iter().any(|a| a == "--quick") { Mode::Quick } else { Mode::Full };
    let markdown = args.iter().position(|a| a == "--markdown").and_then(|i| args.get(i + 1)).cloned();
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let wanted = |section: &str| only.as_deref().is_none_or(|o| o == section);

    let mut table = Table::default();
    if wanted("decorator") {
        decorator::run(mode, &mut table);
    }
    if wanted("memory") {
        memory::run(mode, &mut table);
    }
    #[cfg(feature = "postgres")]
    if wanted("postgres") {
        postgres::run(mode, &mut table);
    }
    #[cfg(feature = "redis")]
    if wanted("redis") {
        redis::run(mode, &mut table);
    }
    #[cfg(all(feature = "postgres", feature = "redis"))]
    if wanted("pipeline") {
        pipeline::run(mode, &mut table);
    }
    if wanted("resilience") {
        resilience::overhead(mode, &mut table);
        #[cfg(all(feature = "postgres", feature = "redis"))]
        resilience::run(mode, &mut table);
    }
    #[cfg(all(feature = "postgres", feature = "redis"))]
    if wanted("growth") {
        growth::run(mode, &mut table);
    }
    if let Some(path) = markdown {
        std::fs::write(&path, table.markdown()).expect("write the markdown table");
        println!("wrote {path}");
    }
}
