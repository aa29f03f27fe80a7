//! The example's parts, also driven by `tests/metrics_example.rs`: the Prometheus recorder, the
//! `/metrics` route, a worker, and a steady load of tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bindu::worker::{Agent, AgentError, AgentInput, AgentOutput, FnAgent, WorkerHandle};
use bindu::{App, ContextId, Message, Role, SchedulerExt, TaskId, TaskIdParams, TaskSendParams};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Histogram buckets of every `_seconds` metric, so they render as Prometheus histograms.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the Prometheus recorder for the process.
pub fn install_recorder() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()), BUCKETS)?;
    Ok(builder.install_recorder()?)
}

/// The HTTP server, the worker and the load.
pub struct Running {
    /// Where `/metrics` is served.
    pub addr: SocketAddr,
    app: App,
    worker: WorkerHandle,
    tasks: Vec<JoinHandle<()>>,
    #[cfg(feature = "webhooks")]
    notifier: Arc<bindu::notify::WebhookNotifier>,
}

/// Serves `prometheus` at `/metrics` on `listen` (and a webhook receiver at `/hook`), runs a
/// worker on `app` and submits a task every 200 ms.
pub async fn start(
    app: App,
    prometheus: PrometheusHandle,
    listen: SocketAddr,
) -> Result<Running, Box<dyn std::error::Error>> {
    let tcp = TcpListener::bind(listen).await?;
    let addr = tcp.local_addr()?;
    let metrics = prometheus.clone();
    let routes = Router::new()
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route("/hook", axum::routing::post(|| std::future::ready("ok")));
    let http = tokio::spawn(async move {
        if let Err(err) = axum::serve(tcp, routes).await {
            tracing::warn!(error = %err, "the HTTP server failed");
        }
    });
    // Without scrapes the recorder still drains its histograms now and then.
    let upkeep = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            prometheus.run_upkeep();
        }
    });
    let worker = app.worker(agent());
    #[cfg(feature = "webhooks")]
    let (worker, notifier) = {
        let mut options = bindu::notify::NotifierOptions::from_settings(&app.settings);
        // The receiver is this process, on loopback: allowed for the demo only.
        options.allowed_networks.push(bindu::settings::IpNetwork::new(addr.ip(), 32)?);
        let notifier = bindu::notify::WebhookNotifier::new(Arc::clone(&app.storage), options)?;
        (worker.with_listener(notifier.clone()), notifier)
    };
    let worker = worker.spawn();
    let load = tokio::spawn(load(app.clone(), format!("http://{addr}/hook")));
    Ok(Running {
        addr,
        app,
        worker,
        tasks: vec![http, upkeep, load],
        #[cfg(feature = "webhooks")]
        notifier,
    })
}

impl Running {
    /// Stops the load, lets running agents finish, and closes the backends.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.worker.shutdown(Duration::from_secs(5)).await;
        #[cfg(feature = "webhooks")]
        self.notifier.shutdown(Duration::from_secs(5)).await;
        self.app.close().await;
    }
}

/// Counts the words of the question after thinking 20–200 ms; an empty question asks for input,
/// one that says `fail` fails.
fn agent() -> Arc<dyn Agent> {
    Arc::new(FnAgent::new(|input: AgentInput| async move {
        let question =
            input.history.iter().rev().find(|m| m.role == Role::User).map(Message::text).unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(..180))).await;
        if question.trim().is_empty() {
            return Ok(AgentOutput::InputRequired(Message::agent_text("what should I count?")));
        }
        if question.contains("fail") {
            return Err(AgentError::from("asked to fail"));
        }
        Ok(AgentOutput::text(format!("{} words", question.split_whitespace().count())))
    }))
}

/// A task every 200 ms: one in ten asks for input, one in ten fails, one in ten is canceled
/// right away; one in five has a webhook.
async fn load(app: App, hook: String) {
    let context = ContextId::new();
    let mut every = tokio::time::interval(Duration::from_millis(200));
    for i in 0u64.. {
        every.tick().await;
        let text = match i % 10 {
            3 => String::new(),
            7 => "please fail".to_owned(),
            _ => format!("please count the words in request number {i}"),
        };
        let message = Message::user_text(text).for_task(TaskId::new());
        let task = match app.storage.submit_task(context, &message, None).await {
            Ok(submitted) => submitted.task,
            Err(err) => {
                tracing::warn!(error = %err, "could not submit a task");
                continue;
            }
        };
        if i % 5 == 0 {
            let config = bindu::PushNotificationConfig::new(hook.as_str());
            if let Err(err) = app.storage.save_webhook_config(task.id, &config).await {
                tracing::warn!(error = %err, "could not save a webhook config");
            }
        }
        let params = TaskSendParams::new(task.id, context, Some(message));
        if let Err(err) = app.scheduler.run_task(&params).await {
            tracing::warn!(error = %err, "could not schedule a run");
        }
        if i % 10 == 5
            && let Err(err) = app.scheduler.cancel_task(&TaskIdParams::new(task.id)).await
        {
            tracing::warn!(error = %err, "could not cancel a task");
        }
    }
}
