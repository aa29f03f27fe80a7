//! Only http(s) webhooks are called, and no secret reaches a log, an error or a `Debug`.

use std::sync::Arc;

use bindu::notify::{FailureReason, WebhookNotifier};
use bindu::worker::TaskListener;
use bindu::{InMemoryStorage, RetryPolicy, Storage, TaskState};

use crate::server::{Reply, WebhookServer};
use crate::{LIMIT, TOKEN, ms, options, store, task_with_webhook};

#[tokio::test]
async fn only_http_and_https_webhooks_are_called() {
    let server = WebhookServer::start([]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::never())).unwrap();
    let (bad, _) = task_with_webhook(&*storage, "ftp://127.0.0.1/secret-path", Some(TOKEN), "x").await;
    let (good, _) = task_with_webhook(&*storage, &server.url("/hook"), None, "y").await;
    notifier.task_changed(&store(&*storage, bad.id, TaskState::Working).await);
    notifier.task_changed(&store(&*storage, good.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);

    let failures = notifier.failed_notifications();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].task_id, failures[0].reason, failures[0].attempts),
        (bad.id, FailureReason::InvalidConfig, 0)
    );
    assert!(failures[0].error.contains("only http and https"), "{}", failures[0].error);
    assert!(!failures[0].error.contains("secret-path"), "{}", failures[0].error);
    assert_eq!(server.received().len(), 1, "only the http webhook was called");
}

/// Collects everything logged on this thread.
#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: the notifier's tasks run on this thread, under the test's subscriber.
#[tokio::test]
async fn the_token_and_the_url_path_never_appear_in_logs_errors_or_debug() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = WebhookServer::start([
        Reply::Status(503, Vec::new(), format!("retry later {TOKEN}")),
        Reply::Status(401, Vec::new(), format!("token {TOKEN} expired")),
    ])
    .await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier =
        WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::new(3, ms(10), ms(50)))).unwrap();
    let url = server.url("/hooks/path-secret-77?sig=query-secret-88");
    let (task, _) = task_with_webhook(&*storage, &url, Some(TOKEN), "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);

    let failures = notifier.failed_notifications();
    assert_eq!((failures.len(), failures[0].attempts), (1, 2));
    let config = storage.load_webhook_config(task.id).await.unwrap().unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("retrying after a retryable failure"), "{text}");
    assert!(text.contains("push notification failed") && text.contains(&server.host()), "{text}");
    let ours = format!("{text}\n{failures:?}\n{notifier:?}");
    for secret in [TOKEN, "path-secret-77", "query-secret-88"] {
        assert!(!ours.contains(secret), "{secret} leaked:\n{ours}");
    }
    // The stored config's own Debug hides the token (its URL is shown with only passwords redacted).
    assert!(!format!("{config:?}").contains(TOKEN));
}
