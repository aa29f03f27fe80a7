//! Medians and spreads of samples, and the table they go into.

use std::fmt::Write as _;

/// Samples of one measurement.
#[derive(Clone, Debug, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut values = self.0.clone();
        values.sort_by(f64::total_cmp);
        values
    }

    fn quantile(&self, q: f64) -> f64 {
        let values = self.sorted();
        if values.is_empty() {
            return f64::NAN;
        }
        let position = q * (values.len() - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        values[low] + (values[high] - values[low]) * (position - low as f64)
    }

    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The interquartile range, as "p25–p75".
    pub fn spread(&self, unit: &str) -> String {
        format!("{}–{} {unit}", short(self.quantile(0.25)), short(self.quantile(0.75)))
    }
}

/// A number with three significant digits.
pub fn short(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// One row of the published table.
#[derive(Clone, Debug)]
pub struct Row {
    pub section: &'static str,
    pub name: String,
    pub baseline: String,
    pub measured: String,
    pub comparison: String,
    pub spread: String,
    pub target: String,
    pub verdict: String,
}

/// The results of a run.
#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    pub fn add(&mut self, row: Row) {
        println!(
            "{:<28} {:<44} baseline {:<22} measured {:<22} {:<26} spread {:<26} {}",
            row.section, row.name, row.baseline, row.measured, row.comparison, row.spread, row.verdict
        );
        self.rows.push(row);
    }

    /// A throughput row against a raw baseline, met at 0.8× raw or better.
    pub fn add_against_raw(
        &mut self,
        section: &'static str,
        name: String,
        ours: &Samples,
        raw: &Samples,
        ratio: &Samples,
    ) {
        let r = ratio.median();
        self.add(Row {
            section,
            name,
            baseline: format!("{} ops/s raw", short(raw.median())),
            measured: format!("{} ops/s", short(ours.median())),
            comparison: format!("{r:.2}× raw"),
            spread: ratio.spread("×"),
            target: "≥ 0.8× raw".into(),
            verdict: if r >= 0.8 { "met".into() } else { "MISSED".into() },
        });
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| section | measurement | baseline (median) | measured (median) | comparison | spread (p25–p75) | target | verdict |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.section, r.name, r.baseline, r.measured, r.comparison, r.spread, r.target, r.verdict
            );
        }
        out
    }
}
