//! The crate's metrics served at `/metrics` by the Prometheus exporter while a worker runs a
//! steady trickle of tasks: some answered, some asking for input, some failing, some canceled,
//! and (with `--features webhooks`) push notifications to a receiver of its own.
//!
//! Runs on the backends the environment selects (see `.env.example`): memory by default; the
//! same with PostgreSQL and Redis. `METRICS_LISTEN` sets the address (default `127.0.0.1:9000`).
//!
//! ```sh
//! cargo run --example metrics --features webhooks
//! curl -s http://127.0.0.1:9000/metrics | grep '^bindu_'
//! ```

mod serve;

use std::net::SocketAddr;

use bindu::App;
use bindu::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let listen: SocketAddr = Env::process()?.parse(
        "METRICS_LISTEN",
        ([127, 0, 0, 1], 9000).into(),
        "an address such as 127.0.0.1:9000",
    )?;
    // First the recorder, then the app: `App::connect` describes the metrics to it.
    let prometheus = serve::install_recorder()?;
    let app = App::from_env().await?;
    let (storage, scheduler) =
        (format!("{:?}", app.settings.storage), format!("{:?}", app.settings.scheduler));
    let running = serve::start(app, prometheus, listen).await?;
    let url = format!("http://{}/metrics", running.addr);
    println!("metrics at {url} (storage {storage}, scheduler {scheduler}); a task every 200 ms");
    println!("where to look (the README's \"Metrics and traces\" has the full table):");
    println!(
        "  retries and outages   bindu_calls_total{{outcome!=\"ok\"}}, bindu_call_retries_total, bindu_circuit_breaker_state"
    );
    println!("  the queue             bindu_scheduler_queue_depth, bindu_scheduler_queue_oldest_age_seconds");
    println!(
        "  redeliveries          bindu_scheduler_redelivered_total, bindu_scheduler_dead_lettered_total"
    );
    println!(
        "  the worker            bindu_worker_runs_total, bindu_worker_agent_duration_seconds, bindu_worker_slots_in_use"
    );
    println!("  webhooks              bindu_webhook_deliveries_total (with --features webhooks)");
    println!("try: curl -s {url} | grep '^bindu_'    (Ctrl-C stops)");
    if !cfg!(feature = "webhooks") {
        println!("build with --features webhooks to see push notifications too");
    }
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}
