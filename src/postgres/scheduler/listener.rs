//! LISTEN on a dedicated connection: wakes a receiver as soon as an operation is enqueued in one
//! of its lanes (the notification's payload names the lane). Notifications are only a hint —
//! receivers also poll — so a lost connection costs latency, never an operation; it is reopened
//! with backoff.

use std::convert::Infallible;
use std::sync::Arc;
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

/// A listening task; it ends when the scheduler is closed, and is aborted when dropped.
pub(crate) struct Listener(JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

const RECONNECT: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

impl Listener {
    /// Listens on `channel` and calls `wake.notify_one()` for every notification about `lanes`,
    /// until `closed` is cancelled.
    pub(crate) fn spawn(
        options: PostgresOptions,
        channel: String,
        lanes: Lanes,
        wake: Arc<Notify>,
        closed: CancellationToken,
    ) -> Self {
        let listening = async move {
            let mut failures = 0u32;
            let wanted = Wanted { lanes, wake: &wake };
            loop {
                let Err(err) = listen(&options, &channel, &wanted, &mut failures).await;
                failures += 1;
                tracing::warn!(url = %options.redacted_url(), error = %err, "LISTEN connection lost; reopening");
                // Whatever was missed meanwhile is found by polling; wake the receiver once.
                wake.notify_one();
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

/// Whom to wake for which notification.
struct Wanted<'a> {
    lanes: Lanes,
    wake: &'a Notify,
}

impl Wanted<'_> {
    /// Wakes the receiver if the notification is about one of its lanes. An unknown payload (an
    /// earlier release sent none) wakes it too: a look too many costs one query.
    fn notified(&self, payload: &str) {
        let lane = [Lane::Runs, Lane::Control].into_iter().find(|lane| lane.as_str() == payload);
        if lane.is_none_or(|lane| self.lanes.includes(lane)) {
            self.wake.notify_one();
        }
    }
}

/// Listens until the connection is lost; returns why. Once listening, the count of `failures`
/// in a row starts over.
async fn listen(
    options: &PostgresOptions,
    channel: &str,
    wanted: &Wanted<'_>,
    failures: &mut u32,
) -> Result<Infallible, String> {
    let config = options.driver_config().map_err(|e| e.to_string())?;
    match options.tls {
        TlsMode::Disable => {
            let (client, connection) =
                config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
            run(client, connection, channel, wanted, failures).await
        }
        TlsMode::Require => {
            let tls = crate::postgres::tls::connector().map_err(|e| e.to_string())?;
            let (client, connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
            run(client, connection, channel, wanted, failures).await
        }
    }
}

async fn run<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    channel: &str,
    wanted: &Wanted<'_>,
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
                wanted.wake.notify_one();
                break;
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(note))) => wanted.notified(note.payload()),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.to_string()),
                None => return Err("connection closed".into()),
            },
        }
    }
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(note)) => wanted.notified(note.payload()),
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
        let wake = Notify::new();
        let woken = || wake.notified().now_or_never().is_some();
        let runs = Wanted { lanes: Lanes::Runs, wake: &wake };
        runs.notified("control");
        assert!(!woken(), "a control operation does not wake a runs receiver");
        runs.notified("runs");
        assert!(woken());
        runs.notified("");
        assert!(woken(), "an earlier release's notification wakes everyone");
        let all = Wanted { lanes: Lanes::All, wake: &wake };
        all.notified("control");
        assert!(woken());
    }
}
