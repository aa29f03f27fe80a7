//! `Retrying<S>` as a [`Storage`]: every method is the inner call through the one helper.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::Retrying;
use super::retried::retried;
use crate::forwarding::boxed_methods;
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, FailedNotification, Feedback,
    Message, Metadata, Page, PushNotificationConfig, Renewal, StuckTask, Submission, Task, TaskId, TaskState,
    TaskUpdate,
};
use crate::storage::{Storage, storage_methods};

#[deny(clippy::missing_trait_methods)]
impl<S: Storage> Storage for Retrying<S> {
    storage_methods!(boxed_methods! { body = retried(STORAGE, "storage"); });
}
