//! Webhooks reach public addresses only, unless a range is allowed: checked after DNS
//! resolution, with the connection made to the checked address.

use std::sync::Arc;

use bindu::notify::{FailureReason, NotifierOptions, WebhookNotifier};
use bindu::worker::TaskListener;
use bindu::{InMemoryStorage, RetryPolicy, Storage, TaskState};

use crate::server::WebhookServer;
use crate::{LIMIT, TOKEN, options, store, task_with_webhook};

fn public_only() -> NotifierOptions {
    NotifierOptions {
        allowed_networks: Vec::new(),
        ..options(RetryPolicy::new(3, crate::ms(10), crate::ms(20)))
    }
}

/// Sends one notification for a task whose webhook is `url`; returns the notifier's failures.
async fn notify(options: NotifierOptions, url: &str) -> Vec<bindu::notify::FailedNotification> {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options).unwrap();
    let (task, _) = task_with_webhook(&*storage, url, Some(TOKEN), "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);
    notifier.failed_notifications()
}

#[tokio::test]
async fn a_loopback_receiver_is_refused_by_default_and_reached_when_allowed() {
    let server = WebhookServer::start([]).await;
    let failures = notify(public_only(), &server.url("/hook")).await;
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].reason, failures[0].attempts), (FailureReason::Forbidden, 0));
    assert!(failures[0].error.contains("127.0.0.1 is not a public address"), "{}", failures[0].error);
    assert!(failures[0].error.contains("WEBHOOK_ALLOWED_NETWORKS"), "{}", failures[0].error);
    assert!(server.received().is_empty(), "nothing reached the receiver");

    let allowed = NotifierOptions { allowed_networks: vec!["127.0.0.0/8".parse().unwrap()], ..public_only() };
    assert!(notify(allowed, &server.url("/hook")).await.is_empty());
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_hostname_resolving_to_loopback_is_refused_after_resolution_and_never_retried() {
    let server = WebhookServer::start([]).await;
    let url = server.url("/hook").replace("127.0.0.1", "localhost");
    let failures = notify(public_only(), &url).await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].reason, FailureReason::Forbidden, "{}", failures[0].error);
    assert_eq!(failures[0].attempts, 1, "a refused address is not retried");
    assert!(failures[0].error.contains("localhost resolves to no public address"), "{}", failures[0].error);
    assert!(server.received().is_empty());

    // Allowed: the connection goes to the address the check let through.
    let allowed = NotifierOptions {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()],
        ..public_only()
    };
    assert!(notify(allowed, &url).await.is_empty());
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn metadata_private_and_mapped_addresses_are_refused_without_a_connection() {
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:8080/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0:9/hook",
    ] {
        let failures = notify(public_only(), url).await;
        assert_eq!(failures.len(), 1, "{url}");
        assert_eq!((failures[0].reason, failures[0].attempts), (FailureReason::Forbidden, 0), "{url}");
        assert!(!failures[0].error.contains("meta-data") && !failures[0].error.contains("/hook"), "{url}");
    }
}
