//! An A2A server on the crate: the agent card and one JSON-RPC endpoint speaking protocol 1.0
//! ([`v1`]) and Bindu's 0.3 method names ([`v03`]), on an [`App`]'s storage, scheduler and
//! worker. Only `App` and the crate's traits are used, so it runs on every backend.
//!
//! - [`jsonrpc`] reads and checks requests and answers them (JSON, or SSE for streams);
//! - [`v1`] and [`v03`] translate each version's payloads to the crate's model;
//! - [`service`] does the operations on storage and scheduler;
//! - [`hub`] and [`stream`] turn the states the worker stores into updates, as it stores them.

pub mod agent;
mod card;
mod hub;
pub mod jsonrpc;
pub mod service;
mod stream;
mod v03;
mod v1;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bindu::App;
use bindu::worker::{StatsSnapshot, TaskListener, WorkerHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use hub::{Hub, Listeners};
pub use service::Service;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How long a stopping server lets running agents finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Service {
    /// The address the server listens on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }
}

/// The routes: `POST /` (JSON-RPC) and the agent card.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/", post(jsonrpc::handle))
        .route("/.well-known/agent-card.json", get(card::handle))
        .route("/.well-known/agent.json", get(card::handle))
        .with_state(service)
}

/// A running server: its worker and its HTTP listener.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its backends.
    pub app: App,
    stopping: CancellationToken,
    http: JoinHandle<std::io::Result<()>>,
    worker: WorkerHandle,
    #[cfg(feature = "webhooks")]
    notifier: Arc<bindu::notify::WebhookNotifier>,
}

/// Starts the worker (running [`agent::word_counter`]) and the HTTP server on `listen`.
pub async fn start(app: App, listen: SocketAddr) -> Result<Running, Box<dyn std::error::Error>> {
    let hub = Arc::new(Hub::default());
    #[cfg_attr(not(feature = "webhooks"), allow(unused_mut))]
    let mut listeners: Vec<Arc<dyn TaskListener>> = vec![hub.clone()];
    #[cfg(feature = "webhooks")]
    let notifier = {
        let options = bindu::notify::NotifierOptions::from_settings(&app.settings);
        let notifier = bindu::notify::WebhookNotifier::new(Arc::clone(&app.storage), options)?;
        listeners.push(notifier.clone());
        notifier
    };
    let worker = app.worker(agent::word_counter()).with_listener(Arc::new(Listeners(listeners))).spawn();
    let tcp = TcpListener::bind(listen).await?;
    let addr = tcp.local_addr()?;
    let stopping = CancellationToken::new();
    let service = Arc::new(Service::new(app.clone(), hub, stopping.clone(), addr));
    let http = tokio::spawn(
        axum::serve(tcp, router(service))
            .with_graceful_shutdown(stopping.clone().cancelled_owned())
            .into_future(),
    );
    Ok(Running {
        addr,
        app,
        stopping,
        http,
        worker,
        #[cfg(feature = "webhooks")]
        notifier,
    })
}

impl Running {
    /// The worker's counters.
    pub fn worker_stats(&self) -> StatsSnapshot {
        self.worker.stats()
    }

    /// Stops taking requests (open streams and waits end), lets running agents finish for a
    /// while, and closes the backends.
    pub async fn stop(self) {
        self.stopping.cancel();
        match self.http.await {
            Ok(Err(err)) => tracing::warn!(error = %err, "the HTTP server failed"),
            Err(err) => tracing::warn!(error = %err, "the HTTP server ended abnormally"),
            Ok(Ok(())) => {}
        }
        self.worker.shutdown(SHUTDOWN_GRACE).await;
        #[cfg(feature = "webhooks")]
        self.notifier.shutdown(SHUTDOWN_GRACE).await;
        self.app.close().await;
    }
}
