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
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Registers a receiver of `lanes`: the returned [`Wake`] is woken for notifications about
    /// them, for as long as the returned [`Listener`] is held (starting one if none is).
    pub(crate) fn subscribe(
        &self,
        options: &PostgresOptions,
        channel: &str,
        lanes: Lanes,
        closed: &CancellationToken,
    ) -> (Arc<Wake>, Arc<Listener>) {
        let wake = Arc::new(Wake::default());
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

/// A receiver's wake-up: the [`Notify`] it waits on, and whether it is waiting now.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    notify: Notify,
    idle: AtomicBool,
}

impl Wake {
    /// Waits for a wake-up, at most `wait`. While it waits the receiver counts as idle, so that a
    /// notification goes to it rather than to every receiver. A wake-up sent before the wait
    /// began is not lost: `Notify` keeps it.
    pub(crate) async fn idle_for(&self, wait: Duration) {
        self.idle.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(wait, self.notify.notified()).await;
        self.idle.store(false, Ordering::SeqCst);
    }

    /// Wakes it if it is idle (it is then no longer counted as idle); whether it was.
    fn wake_if_idle(&self) -> bool {
        let was_idle = self.idle.swap(false, Ordering::SeqCst);
        if was_idle {
            self.notify.notify_one();
        }
        was_idle
    }

    fn wake(&self) {
        self.notify.notify_one();
    }
}

/// The receivers to wake, by lane. A receiver that went away is forgotten at the next wake-up.
#[derive(Default)]
struct Receivers(Mutex<Vec<(Lanes, Weak<Wake>)>>);

impl Receivers {
    fn add(&self, lanes: Lanes, wake: &Arc<Wake>) {
        let mut receivers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        receivers.retain(|(_, wake)| wake.strong_count() > 0);
        receivers.push((lanes, Arc::downgrade(wake)));
    }

    /// One operation was enqueued in the notification's lane: one idle receiver of the lane is
    /// enough to claim it (with whatever else it can take). Waking every receiver would make all
    /// but one claim nothing, a transaction each. When none is idle, every receiver of the lane
    /// is woken, to look again once it is free; an unknown payload (an earlier release sent
    /// none) wakes everyone. Notifications are hints: receivers also poll.
    fn notified(&self, payload: &str) {
        match [Lane::Runs, Lane::Control].into_iter().find(|lane| lane.as_str() == payload) {
            Some(lane) => {
                if !self.wake_one_idle(lane) {
                    self.wake(|lanes| lanes.includes(lane));
                }
            }
            None => self.wake_all(),
        }
    }

    fn wake_one_idle(&self, lane: Lane) -> bool {
        let receivers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        receivers
            .iter()
            .filter(|(lanes, _)| lanes.includes(lane))
            .filter_map(|(_, wake)| wake.upgrade())
            .any(|wake| wake.wake_if_idle())
    }

    fn wake_all(&self) {
        self.wake(|_| true);
    }

    fn wake(&self, wanted: impl Fn(Lanes) -> bool) {
        let mut receivers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        receivers.retain(|(lanes, wake)| match wake.upgrade() {
            Some(wake) => {
                if wanted(*lanes) {
                    wake.wake();
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

    fn woken(wake: &Wake) -> bool {
        wake.notify.notified().now_or_never().is_some()
    }

    fn idle(wake: &Wake) {
        wake.idle.store(true, Ordering::SeqCst);
    }

    #[test]
    fn notifications_wake_the_receivers_of_their_lane() {
        let receivers = Receivers::default();
        let (runs, all) = (Arc::new(Wake::default()), Arc::new(Wake::default()));
        receivers.add(Lanes::Runs, &runs);
        receivers.add(Lanes::All, &all);
        receivers.notified("control");
        assert!(!woken(&runs), "a control operation does not wake a runs receiver");
        assert!(woken(&all));
        receivers.notified("runs");
        assert!(woken(&runs) && woken(&all), "none idle: every receiver of the lane looks again");
        receivers.notified("");
        assert!(woken(&runs) && woken(&all), "an earlier release's notification wakes everyone");
        drop(all);
        receivers.wake_all();
        assert_eq!(receivers.0.lock().unwrap().len(), 1, "a receiver that went away is forgotten");
        assert!(woken(&runs));
    }

    #[test]
    fn one_idle_receiver_is_woken_per_notification() {
        let receivers = Receivers::default();
        let wakes: Vec<_> = (0..3).map(|_| Arc::new(Wake::default())).collect();
        for wake in &wakes {
            receivers.add(Lanes::Runs, wake);
        }
        idle(&wakes[1]);
        idle(&wakes[2]);
        receivers.notified("runs");
        assert_eq!(wakes.iter().map(|w| woken(w)).collect::<Vec<_>>(), [false, true, false]);
        // The one woken is no longer idle: the next notification goes to another.
        receivers.notified("runs");
        assert_eq!(wakes.iter().map(|w| woken(w)).collect::<Vec<_>>(), [false, false, true]);
        // None idle now: all of them look again once they are free.
        receivers.notified("runs");
        assert_eq!(wakes.iter().map(|w| woken(w)).collect::<Vec<_>>(), [true, true, true]);
    }

    #[tokio::test]
    async fn a_wake_up_sent_just_before_the_wait_is_kept() {
        let wake = Wake::default();
        wake.wake();
        let started = std::time::Instant::now();
        wake.idle_for(Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!wake.idle.load(Ordering::SeqCst), "not idle once woken");
    }
}
