//! LISTEN on a dedicated connection: wakes the receivers of a lane as soon as an operation is
//! enqueued in it (the notification's payload names the lane). Notifications are only a hint —
//! receivers also poll — so a lost connection costs latency, never an operation; it is reopened
//! with backoff.
//!
//! A scheduler has one such connection for all its receivers in the process ([`Listeners`]),
//! opened with the first receiver and closed with the last: the server reads its notification
//! queue in a transaction of each listening connection, so every extra listener costs a
//! transaction per enqueue.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use crate::model::{Lane, Lanes};
use crate::postgres::PostgresOptions;
use crate::postgres::options::TlsMode;
use crate::retry::Backoff;

/// The listening connection of a scheduler's receivers, shared while any of them is alive.
#[derive(Default)]
pub(crate) struct Listeners {
    current: Mutex<Weak<Listener>>,
    receivers: Arc<Receivers>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").finish_non_exhaustive()
    }
}

impl Listeners {
    /// Registers a receiver of `lanes`: the returned [`Notify`] is woken for every notification
    /// about them, for as long as the returned [`Listener`] is held (starting one if none is).
    pub(crate) fn subscribe(
        &self,
        options: &PostgresOptions,
        channel: &str,
        lanes: Lanes,
        closed: &CancellationToken,
    ) -> (Arc<Notify>, Arc<Listener>) {
        let wake = Arc::new(Notify::new());
        self.receivers.add(lanes, &wake);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let listener = current.upgrade().unwrap_or_else(|| {
            let started = Arc::new(Listener::spawn(
                options.clone(),
                channel.to_owned(),
                Arc::clone(&self.receivers),
                closed.clone(),
            ));
            *current = Arc::downgrade(&started);
            started
        });
        (wake, listener)
    }
}

/// The receivers to wake, by lane. A receiver that went away is forgotten at the next wake-up.
#[derive(Default)]
struct Receivers(Mutex<Vec<(Lanes, Weak<Notify>)>>);

impl Receivers {
    fn add(&self, lanes: Lanes, wake: &Arc<Notify>) {
        let mut receivers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        receivers.retain(|(_, wake)| wake.strong_count() > 0);
        receivers.push((lanes, Arc::downgrade(wake)));
    }

    /// Wakes the receivers of the notification's lane. An unknown payload (an earlier release
    /// sent none) wakes them all: a look too many costs one query.
    fn notified(&self, payload: &str) {
        let lane = [Lane::Runs, Lane::Control].into_iter().find(|lane| lane.as_str() == payload);
        self.wake(|lanes| lane.is_none_or(|lane| lanes.includes(lane)));
    }

    fn wake_all(&self) {
        self.wake(|_| true);
    }

    fn wake(&self, wanted: impl Fn(Lanes) -> bool) {
        let mut receivers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        receivers.retain(|(lanes, wake)| match wake.upgrade() {
            Some(wake) => {
                if wanted(*lanes) {
                    wake.notify_one();
                }
                true
            }
            None => false,
        });
    }
}

/// A listening task; it ends when the scheduler is closed, and is aborted when dropped.
pub(crate) struct Listener(JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

const RECONNECT: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

impl Listener {
    /// Listens on `channel` and wakes `receivers` for every notification about their lanes,
    /// until `closed` is cancelled.
    fn spawn(
        options: PostgresOptions,
        channel: String,
        receivers: Arc<Receivers>,
        closed: CancellationToken,
    ) -> Self {
        let listening = async move {
            let mut failures = 0u32;
            loop {
                let Err(err) = listen(&options, &channel, &receivers, &mut failures).await;
                failures += 1;
                tracing::warn!(url = %options.redacted_url(), error = %err, "LISTEN connection lost; reopening");
                // Whatever was missed meanwhile is found by polling; wake the receivers once.
                receivers.wake_all();
                tokio::time::sleep(RECONNECT.wait(failures)).await;
            }
        };
        Self(tokio::spawn(async move {
            tokio::select! {
                () = listening => {}
                () = closed.cancelled() => {}
            }
        }))
    }
}

/// Listens until the connection is lost; returns why. Once listening, the count of `failures`
/// in a row starts over.
async fn listen(
    options: &PostgresOptions,
    channel: &str,
    receivers: &Receivers,
    failures: &mut u32,
) -> Result<Infallible, String> {
    let config = options.driver_config().map_err(|e| e.to_string())?;
    match options.tls {
        TlsMode::Disable => {
            let (client, connection) =
                config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
            run(client, connection, channel, receivers, failures).await
        }
        TlsMode::Require => {
            let tls = crate::postgres::tls::connector().map_err(|e| e.to_string())?;
            let (client, connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
            run(client, connection, channel, receivers, failures).await
        }
    }
}

async fn run<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    channel: &str,
    receivers: &Receivers,
    failures: &mut u32,
) -> Result<Infallible, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The connection makes progress only while polled: poll it while LISTEN runs.
    let statement = format!("LISTEN \"{channel}\"");
    let listen = client.batch_execute(&statement);
    tokio::pin!(listen);
    loop {
        tokio::select! {
            result = &mut listen => {
                result.map_err(|e| e.to_string())?;
                *failures = 0;
                // What was enqueued before we listened sent its notification to nobody: look once.
                receivers.wake_all();
                break;
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(note))) => receivers.notified(note.payload()),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.to_string()),
                None => return Err("connection closed".into()),
            },
        }
    }
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(note)) => receivers.notified(note.payload()),
            Ok(_) => {}
            Err(err) => return Err(err.to_string()),
        }
    }
    Err("connection closed".into())
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn notifications_wake_the_receivers_of_their_lane() {
        let receivers = Receivers::default();
        let (runs, all) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        receivers.add(Lanes::Runs, &runs);
        receivers.add(Lanes::All, &all);
        let woken = |wake: &Notify| wake.notified().now_or_never().is_some();
        receivers.notified("control");
        assert!(!woken(&runs), "a control operation does not wake a runs receiver");
        assert!(woken(&all));
        receivers.notified("runs");
        assert!(woken(&runs) && woken(&all));
        receivers.notified("");
        assert!(woken(&runs) && woken(&all), "an earlier release's notification wakes everyone");
        drop(all);
        receivers.wake_all();
        assert_eq!(receivers.0.lock().unwrap().len(), 1, "a receiver that went away is forgotten");
        assert!(woken(&runs));
    }
}
