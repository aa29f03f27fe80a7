//! Feedback: one JSON array per task, deduplicated by feedback id.

use deadpool_redis::redis;

use super::RedisStorage;
use super::codec::{decode, encode};
use super::tx::get;
use crate::error::Result;
use crate::model::{Feedback, TaskId};

impl RedisStorage {
    pub(super) async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        let key = self.keys.feedback(feedback.task_id);
        self.while_task_exists(feedback.task_id, "store_task_feedback", &key, |current| {
            let mut stored: Vec<Feedback> =
                current.map(|text| decode("feedback", &text)).transpose()?.unwrap_or_default();
            if stored.iter().any(|f| f.id == feedback.id) {
                return Ok(None);
            }
            stored.push(feedback.clone());
            let mut pipe = redis::pipe();
            pipe.set(&key, encode(&stored)?).ignore();
            Ok(Some(pipe))
        })
        .await
    }

    pub(super) async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        let mut conn = self.connection().await?;
        Ok(get(&mut conn, &self.keys.feedback(task_id))
            .await?
            .map(|t| decode("feedback", &t))
            .transpose()?
            .unwrap_or_default())
    }
}
