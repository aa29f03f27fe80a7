//! The connection pool: bounded waits everywhere, and connections that may be stuck are never
//! handed out again. [`run`] is the one way storage and scheduler alike talk to the server.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, QueueMode, RecyclingMethod, Runtime};

use super::error::{classify_pool, timed_out};
use super::options::{PostgresOptions, TlsMode};
use crate::error::{BackendError, Error, Result, Transience};

/// Builds a pool from `options` (no connection is opened yet).
pub(crate) fn build(options: &PostgresOptions) -> Result<Pool> {
    let config = options.driver_config()?;
    // Fast recycling checks only that the connection is open; a connection whose server went
    // away reports closed and is replaced instead of being handed out.
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = match options.tls {
        TlsMode::Disable => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        TlsMode::Require => Manager::from_config(config, super::tls::connector()?, manager_config),
    };
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        // The most recently used connection first: a warm one, not whichever idled longest.
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| {
            Error::Backend(BackendError::new(
                "postgres",
                Transience::Permanent,
                format!("cannot build the pool: {err}"),
            ))
        })
}

/// Runs `operation` on a pooled connection (waiting for one at most the pool's `wait_timeout`)
/// and gives it at most `limit`: a stalled server gives an uncertain timeout, not a hang. A
/// connection whose operation was abandoned (timed out, or its caller went away) is closed rather
/// than handed out again with a statement possibly still in flight.
pub(crate) async fn run<T>(
    pool: &Pool,
    limit: Duration,
    operation: impl AsyncFnOnce(&mut Object) -> Result<T>,
) -> Result<T> {
    let mut checkout = Checkout::get(pool).await?;
    match tokio::time::timeout(limit, operation(checkout.client())).await {
        Ok(result) => {
            checkout.release();
            result
        }
        // The checkout is dropped unreleased: the possibly stuck connection is closed.
        Err(_) => Err(timed_out(limit)),
    }
}

/// A pooled connection that goes back to the pool only when its operation finished. If the
/// operation is abandoned midway (a timeout, a cancelled caller), the connection may still have a
/// statement in flight, so it is closed instead.
struct Checkout {
    object: Option<Object>,
}

impl Checkout {
    async fn get(pool: &Pool) -> Result<Self> {
        let object = pool.get().await.map_err(classify_pool)?;
        Ok(Self { object: Some(object) })
    }

    fn client(&mut self) -> &mut Object {
        self.object.as_mut().expect("a checkout holds its connection until dropped")
    }

    /// The operation finished (well or not): the connection may be reused.
    fn release(mut self) {
        drop(self.object.take());
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            // Detached from the pool, the connection closes when dropped.
            drop(Object::take(object));
        }
    }
}

/// One cheap round trip (`SELECT 1`): health checks and circuit breaker probes.
pub(crate) async fn ping(client: &mut Object) -> Result<()> {
    client.simple_query("SELECT 1").await.map_err(super::error::in_transaction)?;
    Ok(())
}
