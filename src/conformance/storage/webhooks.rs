//! Webhook configs.

use super::new_task;
use crate::conformance::step;
use crate::error::Error;
use crate::model::{PushNotificationConfig, TaskId};
use crate::storage::Storage;

/// One webhook config per task: save needs the task, replaces, loads, lists, deletes
/// idempotently.
pub async fn webhook_configs(storage: &dyn Storage) {
    let err = step!(storage.save_webhook_config(TaskId::new(), &PushNotificationConfig::new("https://h/x")))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let task = new_task(storage, None).await.task;
    assert!(step!(storage.load_webhook_config(task.id)).unwrap().is_none());
    let mut config = PushNotificationConfig::new("https://hooks.example/a");
    config.token = Some("t0ken".into());
    step!(storage.save_webhook_config(task.id, &config)).unwrap();
    step!(storage.save_webhook_config(task.id, &config)).unwrap();
    assert_eq!(step!(storage.load_webhook_config(task.id)).unwrap(), Some(config));
    let replacement = PushNotificationConfig::new("https://hooks.example/b");
    step!(storage.save_webhook_config(task.id, &replacement)).unwrap();
    assert_eq!(step!(storage.load_webhook_config(task.id)).unwrap().as_ref(), Some(&replacement));
    assert_eq!(step!(storage.load_all_webhook_configs()).unwrap().get(&task.id), Some(&replacement));
    step!(storage.delete_webhook_config(task.id)).unwrap();
    step!(storage.delete_webhook_config(task.id)).unwrap();
    assert!(step!(storage.load_webhook_config(task.id)).unwrap().is_none());
    assert!(!step!(storage.load_all_webhook_configs()).unwrap().contains_key(&task.id));
}
