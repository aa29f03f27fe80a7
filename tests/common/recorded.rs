//! A metrics recorder for one test: what is recorded on this thread (the tests run on a
//! current-thread runtime, so spawned tasks record here too) until it is dropped, read back by
//! name and labels. Reading takes nothing away (unlike `metrics-util`'s debugging recorder,
//! whose snapshots reset what they read).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, LocalRecorderGuard, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{AtomicStorage, Registry};

/// Keeps every series in an atomic registry.
struct Keeping(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for Keeping {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0.get_or_create_counter(key, |counter| Counter::from_arc(Arc::clone(counter)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0.get_or_create_gauge(key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0.get_or_create_histogram(key, |histogram| Histogram::from_arc(Arc::clone(histogram)))
    }
}

pub struct Recorded {
    registry: Arc<Registry<Key, AtomicStorage>>,
    _local: LocalRecorderGuard<'static>,
}

impl Recorded {
    /// Records what this thread records from now on.
    pub fn install() -> Self {
        let registry = Arc::new(Registry::atomic());
        // Leaked: the local guard borrows it for the rest of the test.
        let recorder: &'static Keeping = Box::leak(Box::new(Keeping(Arc::clone(&registry))));
        Self { registry, _local: metrics::set_default_local_recorder(recorder) }
    }

    /// The sum over the counters and gauges of `name` that carry every label of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let counters = self.registry.get_counter_handles();
        let gauges = self.registry.get_gauge_handles();
        let counted = counters.iter().filter(|(key, _)| matches(key, name, labels));
        let gauged = gauges.iter().filter(|(key, _)| matches(key, name, labels));
        counted.map(|(_, c)| c.load(Ordering::Relaxed) as f64).sum::<f64>()
            + gauged.map(|(_, g)| f64::from_bits(g.load(Ordering::Relaxed))).sum::<f64>()
    }

    /// [`value`](Self::value) of a counter.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.value(name, labels) as u64
    }

    /// Every observation of the histograms of `name` that carry every label of `labels`.
    pub fn observations(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let histograms = self.registry.get_histogram_handles();
        histograms.iter().filter(|(key, _)| matches(key, name, labels)).flat_map(|(_, h)| h.data()).collect()
    }

    /// The values `label` takes in the series of `name` recorded so far.
    pub fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        let mut keys: Vec<Key> = self.registry.get_counter_handles().into_keys().collect();
        keys.extend(self.registry.get_gauge_handles().into_keys());
        keys.extend(self.registry.get_histogram_handles().into_keys());
        keys.iter()
            .filter(|key| key.name() == name)
            .filter_map(|key| key.labels().find(|l| l.key() == label).map(|l| l.value().to_owned()))
            .collect()
    }
}

fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name && labels.iter().all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}
