//! Contexts: loading, creating, their data and message logs, their owners.

use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::codec::{StoredContext, decode, encode};
use super::tx::{MAX_CONFLICTS, abandon, contention, exec, get, read_error, watch};
use crate::error::{Entity, Error, Result};
use crate::model::{Context, ContextId, Message, Metadata, Page};
use crate::redis::pool::PooledConnection;

impl RedisStorage {
    pub(super) async fn stored_context(
        &self,
        conn: &mut PooledConnection,
        context_id: ContextId,
    ) -> Result<Option<StoredContext>> {
        get(conn, &self.keys.context(context_id))
            .await?
            .map(|text| decode("stored context", &text))
            .transpose()
    }

    pub(super) async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        let mut conn = self.connection().await?;
        let Some(context) = self.stored_context(&mut conn, context_id).await? else { return Ok(None) };
        let task_ids = self.ids(&mut conn, &self.keys.context_tasks(context_id), Page::ALL).await?;
        Ok(Some(Context {
            context_id,
            task_ids: super::lists::parse_ids(&task_ids),
            data: context.data,
            messages: context.messages,
        }))
    }

    /// Queues the creation of a context with its indexes.
    pub(super) fn add_context(
        &self,
        pipe: &mut redis::Pipeline,
        context_id: ContextId,
        context: &StoredContext,
    ) -> Result<()> {
        pipe.set(self.keys.context(context_id), encode(context)?).ignore();
        pipe.zadd(self.keys.contexts(), context_id.to_string(), context.seq).ignore();
        if let Some(owner) = &context.owner {
            pipe.zadd(self.keys.owner_contexts(owner), context_id.to_string(), context.seq).ignore();
        }
        Ok(())
    }

    /// Changes a context (creating it for `owner` when missing) with `change`, atomically.
    async fn change_context(
        &self,
        context_id: ContextId,
        owner: Option<&str>,
        what: &str,
        change: impl Fn(&mut StoredContext),
    ) -> Result<()> {
        let mut conn = self.connection().await?;
        let key = self.keys.context(context_id);
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&key]).await?;
            let existing = self.stored_context(&mut conn, context_id).await?;
            let mut pipe = redis::pipe();
            match existing {
                Some(mut context) => {
                    if context.owner.as_deref() != owner {
                        return abandon(&mut conn, Err(Error::ownership(Entity::Context, context_id))).await;
                    }
                    change(&mut context);
                    pipe.set(&key, encode(&context)?).ignore();
                }
                None => {
                    let seq: u64 =
                        conn.incr(self.keys.sequence(), 1).await.map_err(|e| read_error(what, e))?;
                    let mut context = StoredContext {
                        owner: owner.map(str::to_owned),
                        seq,
                        data: Metadata::new(),
                        messages: Vec::new(),
                    };
                    change(&mut context);
                    self.add_context(&mut pipe, context_id, &context)?;
                }
            }
            if exec(&mut conn, &mut pipe, what).await? {
                return Ok(());
            }
        }
        Err(contention(what))
    }

    pub(super) async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.change_context(context_id, owner, "update_context", |context| context.data = data.clone()).await
    }

    pub(super) async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        self.change_context(context_id, owner, "append_to_context", |context| {
            for message in messages {
                if !context.messages.iter().any(|m| m.message_id == message.message_id) {
                    let mut message = message.clone();
                    message.context_id = Some(context_id);
                    context.messages.push(message);
                }
            }
        })
        .await
    }

    pub(super) async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        let mut conn = self.connection().await?;
        match self.stored_context(&mut conn, context_id).await? {
            Some(context) => Ok(context.owner),
            None => Err(Error::not_found(Entity::Context, context_id)),
        }
    }
}
