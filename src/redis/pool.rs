//! The connection pool shared by the Redis backends: bounded waits, connect and response
//! timeouts from [`RedisOptions`].

use deadpool_redis::redis::{AsyncConnectionConfig, Client};
use deadpool_redis::{Manager, Pool, QueueMode, Runtime};

use super::RedisOptions;
use super::error::connect_error;
use crate::error::{BackendError, Error, Result, Transience};

/// A pool for `options` (no connection is opened yet).
pub(crate) fn build(options: &RedisOptions) -> Result<Pool> {
    let shown = options.redacted_url();
    let client = Client::open(options.url.as_str())
        .map_err(|err| Error::config("REDIS_URL", format!("{shown:?} is not a usable Redis URL: {err}")))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.response_timeout));
    let manager = Manager::new_with_config(client.get_connection_info().clone(), config)
        .map_err(|err| connect_error("configure the pool", err))?;
    Pool::builder(manager)
        .max_size(options.pool_size)
        .wait_timeout(Some(options.pool_wait_timeout))
        .create_timeout(Some(options.connect_timeout + options.response_timeout))
        .recycle_timeout(Some(options.response_timeout))
        // The most recently used connection first: a warm one, not whichever idled longest.
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| {
            BackendError::new("redis", Transience::Permanent, format!("build the pool: {err}")).into()
        })
}
