//! The growth section's "before" side: the previous release of bindu running the suite's growth
//! measurements, driven by the suite over stdin/stdout (see `growth_measure.rs`).

#[path = "../../suite/growth_measure.rs"]
mod growth_measure;

fn main() {
    growth_measure::serve();
}
