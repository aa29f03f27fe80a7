//! The metrics example (`examples/metrics`) in process, on the in-memory backends: its `/metrics`
//! page, fetched over HTTP, shows every metric the README documents (the webhooks' with the
//! `webhooks` feature). One test: the Prometheus recorder is global to the process.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/metrics/serve.rs"]
mod serve;

use std::time::Duration;

use bindu::telemetry::METRICS;
use bindu::{App, AppSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_every_documented_metric() {
    let prometheus = serve::install_recorder().unwrap();
    let app = App::connect(&AppSettings::default()).await.unwrap();
    let running = serve::start(app, prometheus, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}/metrics", running.addr);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let expected: Vec<&str> = METRICS
        .iter()
        .map(|metric| metric.name)
        .filter(|name| cfg!(feature = "webhooks") || !name.starts_with("bindu_webhook_"))
        .collect();
    let mut missing = expected.clone();
    for _ in 0..150 {
        let page = http.get(&url).send().await.unwrap().text().await.unwrap();
        missing = expected.iter().copied().filter(|name| !shows(&page, name)).collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(missing.is_empty(), "not on {url} after 30 s: {missing:?}");
    running.stop().await;
}

/// Whether the page has a sample of `name` (a histogram's samples are its `_bucket`, `_sum` and
/// `_count` lines).
fn shows(page: &str, name: &str) -> bool {
    page.lines().filter(|line| !line.starts_with('#')).any(|line| {
        let metric = line.split(['{', ' ']).next().unwrap_or_default();
        metric == name || [name, "_bucket"].concat() == metric || [name, "_count"].concat() == metric
    })
}
