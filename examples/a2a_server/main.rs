//! An A2A server on `bindu`: the quick start's agent (a word counter) behind the agent card and a
//! JSON-RPC endpoint that speaks A2A protocol 1.0 (`SendMessage`, `GetTask`, …) and Bindu's 0.3
//! method names (`message/send`, `tasks/get`, …), with SSE streaming fed by the worker.
//!
//! Runs on the backends the environment selects (see `.env.example`): memory by default.
//! `A2A_LISTEN` sets the address (default `127.0.0.1:8000`). A message `sleep` runs until it is
//! canceled, `sleep 2` answers after 2 s: handy to try cancel and streaming.
//!
//! ```sh
//! cargo run --example a2a_server --features webhooks
//! ```
//!
//! Then talk to it with any A2A client, e.g. the official Python SDK (see the README).

mod server;

use std::net::SocketAddr;

use bindu::App;
use bindu::settings::Env;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let listen: SocketAddr = Env::process()?.parse(
        "A2A_LISTEN",
        ([127, 0, 0, 1], 8000).into(),
        "an address such as 127.0.0.1:8000",
    )?;
    let app = App::from_env().await?;
    let (storage, scheduler) =
        (format!("{:?}", app.settings.storage), format!("{:?}", app.settings.scheduler));
    let running = server::start(app, listen).await?;
    println!("A2A server listening on http://{} (storage {storage}, scheduler {scheduler})", running.addr);
    if !cfg!(feature = "webhooks") {
        println!(
            "push notification configs are stored but not sent: build with --features webhooks to send them"
        );
    }
    stopped().await;
    let stats = running.worker_stats();
    println!(
        "stopping: {} agent runs, {} completed, {} canceled",
        stats.agent_runs, stats.completed, stats.canceled
    );
    running.stop().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
