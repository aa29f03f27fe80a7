//! Section 4: RedisScheduler end to end (enqueue → receive → acknowledge) and enqueue alone, per
//! second, against raw redis commands doing the same stream operations (the same enqueue script,
//! `XREADGROUP … COUNT 1 BLOCK` over both lanes' streams on a dedicated connection, the same
//! acknowledge script), side by side on one throwaway server. And section 5's Redis row: recovery
//! after a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::redis::{RedisOptions, RedisScheduler, RedisSchedulerOptions};
use bindu::{
    Action, ContextId, Message, RetrySettings, Retrying, SchedulerExt, TaskId, TaskOperation, TaskSendParams,
};
use bindu_test_support::{RedisServer, RedisServerOptions};
use deadpool_redis::redis::{self, Script, Value, aio::MultiplexedConnection};
use futures_util::StreamExt;

use crate::Mode;
use crate::recovery;
use crate::stats::{Samples, Table};

const SECTION: &str = "4 redis vs raw commands";

const ENQUEUE: [&str; 2] = [
    include_str!("../../src/redis/scheduler/lua/append.lua"),
    include_str!("../../src/redis/scheduler/lua/enqueue.lua"),
];
const ACK: [&str; 2] = [
    include_str!("../../src/redis/scheduler/lua/holder.lua"),
    include_str!("../../src/redis/scheduler/lua/ack.lua"),
];

fn params() -> TaskSendParams {
    let task_id = TaskId::new();
    TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)))
}

/// The raw client: the scheduler's commands, sent directly.
struct Raw {
    prefix: String,
    script: Script,
    ack: Script,
    shared: MultiplexedConnection,
    client: redis::Client,
}

impl Raw {
    async fn new(url: &str) -> Self {
        let prefix = format!("{{{}}}", RedisServer::unique_prefix());
        let client = redis::Client::open(url).unwrap();
        let mut shared = client.get_multiplexed_async_connection().await.unwrap();
        for stream in ["ops", "control"] {
            let _: Value = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(format!("{prefix}:{stream}"))
                .arg("workers")
                .arg("0-0")
                .arg("MKSTREAM")
                .query_async(&mut shared)
                .await
                .unwrap();
        }
        Self {
            prefix,
            script: Script::new(&ENQUEUE.concat()),
            ack: Script::new(&ACK.concat()),
            shared,
            client,
        }
    }

    async fn enqueue(&self) {
        let params = params();
        let operation = TaskOperation::new(params.operation_id(), Action::Run(params));
        let mut payload = serde_json::to_value(&operation).unwrap();
        payload["v"] = 1.into();
        let mut con = self.shared.clone();
        let _: i64 = self
            .script
            .key(format!("{}:op:{}", self.prefix, operation.id))
            .key(format!("{}:ops", self.prefix))
            .arg(86_400_000u64)
            .arg(operation.id.to_string())
            .arg(payload.to_string())
            .arg(0)
            .invoke_async(&mut con)
            .await
            .unwrap();
    }

    /// Receives and acknowledges `count` entries on a dedicated connection.
    async fn drain(&self, count: usize) {
        let mut reader = self
            .client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .unwrap();
        let (stream, control) = (format!("{}:ops", self.prefix), format!("{}:control", self.prefix));
        let mut done = 0;
        while done < count {
            let reply: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("workers")
                .arg("raw-consumer")
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(2000)
                .arg("STREAMS")
                .arg(&control)
                .arg(&stream)
                .arg(">")
                .arg(">")
                .query_async(&mut reader)
                .await
                .unwrap();
            let Some(id) = entry_id(reply) else { continue };
            let mut con = self.shared.clone();
            let _: i64 = self
                .ack
                .key(&stream)
                .arg("workers")
                .arg("raw-consumer")
                .arg(&id)
                .arg(1)
                .invoke_async(&mut con)
                .await
                .unwrap();
            done += 1;
        }
    }
}

/// The entry id in an `XREADGROUP … COUNT 1` reply (RESP2 array or RESP3 map).
fn entry_id(reply: Value) -> Option<String> {
    let streams = match reply {
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return None,
    };
    let flat: Vec<Value> = streams
        .into_iter()
        .flat_map(|stream| match stream {
            Value::Array(parts) => parts,
            other => vec![other],
        })
        .collect();
    flat.into_iter().find_map(|part| match part {
        Value::Array(entries) => entries.into_iter().next().and_then(|entry| match entry {
            Value::Array(mut pair) if !pair.is_empty() => match pair.remove(0) {
                Value::BulkString(id) => String::from_utf8(id).ok(),
                _ => None,
            },
            _ => None,
        }),
        _ => None,
    })
}

fn options(url: &str) -> RedisSchedulerOptions {
    let mut redis = RedisOptions::from_url(url).unwrap().with_prefix(RedisServer::unique_prefix());
    redis.pool_size = 64;
    RedisSchedulerOptions::new(redis)
}

pub fn run(mode: Mode, table: &mut Table) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = RedisServer::spawn(RedisServerOptions::default());
    let (runs, operations) = match mode {
        Mode::Quick => (1, 200),
        Mode::Full => (5, 3000),
    };
    runtime.block_on(async {
        // End to end: one producer, one consumer.
        let (mut ours, mut raw, mut ratio) = (Samples::default(), Samples::default(), Samples::default());
        for run in 0..runs {
            let measure_ours = async {
                let scheduler = Arc::new(Retrying::with_policy(
                    RedisScheduler::connect_with(options(server.url())).await.unwrap(),
                    RetrySettings::default().scheduler,
                ));
                let mut stream = scheduler.receive_task_operations().await.unwrap();
                let started = Instant::now();
                let producer = {
                    let scheduler = Arc::clone(&scheduler);
                    tokio::spawn(async move {
                        for _ in 0..operations {
                            let params = params();
                            scheduler.run_task(&params).await.unwrap();
                        }
                    })
                };
                for _ in 0..operations {
                    let delivery = stream.next().await.unwrap().unwrap();
                    delivery.ack().await.unwrap();
                }
                producer.await.unwrap();
                operations as f64 / started.elapsed().as_secs_f64()
            };
            let measure_raw = async {
                let raw = Arc::new(Raw::new(server.url()).await);
                let started = Instant::now();
                let producer = {
                    let raw = Arc::clone(&raw);
                    tokio::spawn(async move {
                        for _ in 0..operations {
                            raw.enqueue().await;
                        }
                    })
                };
                raw.drain(operations).await;
                producer.await.unwrap();
                operations as f64 / started.elapsed().as_secs_f64()
            };
            let (a, b) = if run % 2 == 0 {
                let a = measure_ours.await;
                (a, measure_raw.await)
            } else {
                let b = measure_raw.await;
                (measure_ours.await, b)
            };
            ours.push(a);
            raw.push(b);
            ratio.push(a / b);
        }
        table.add_against_raw(
            SECTION,
            "end to end (enqueue → receive → ack), 1 producer + 1 consumer".into(),
            &ours,
            &raw,
            &ratio,
        );

        // Enqueue alone, 1 and 64 producers.
        for producers in [1usize, 64] {
            let (mut ours, mut raw, mut ratio) = (Samples::default(), Samples::default(), Samples::default());
            for run in 0..runs {
                let scheduler = Arc::new(RedisScheduler::connect_with(options(server.url())).await.unwrap());
                let raw_client = Arc::new(Raw::new(server.url()).await);
                let ours_rate = || {
                    let scheduler = Arc::clone(&scheduler);
                    rate(producers, operations, move || {
                        let scheduler = Arc::clone(&scheduler);
                        async move {
                            let params = params();
                            scheduler.run_task(&params).await.unwrap();
                        }
                    })
                };
                let raw_rate = || {
                    let raw_client = Arc::clone(&raw_client);
                    rate(producers, operations, move || {
                        let raw_client = Arc::clone(&raw_client);
                        async move { raw_client.enqueue().await }
                    })
                };
                let (a, b) = if run % 2 == 0 {
                    let a = ours_rate().await;
                    (a, raw_rate().await)
                } else {
                    let b = raw_rate().await;
                    (ours_rate().await, b)
                };
                ours.push(a);
                raw.push(b);
                ratio.push(a / b);
            }
            table.add_against_raw(
                SECTION,
                format!("enqueue alone, {producers} producer(s)"),
                &ours,
                &raw,
                &ratio,
            );
        }
    });
    drop(server);
    recovery(&runtime, mode, table);
}

async fn rate<F, Fut>(producers: usize, operations: usize, make: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_producer = operations.div_ceil(producers);
    let started = Instant::now();
    let handles: Vec<_> = (0..producers)
        .map(|_| {
            let make = make.clone();
            tokio::spawn(async move {
                for _ in 0..per_producer {
                    make().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    (per_producer * producers) as f64 / started.elapsed().as_secs_f64()
}

/// Section 5: a restarted Redis accepting connections again → the first successful enqueue
/// through `Retrying` with the default scheduler policy.
fn recovery(runtime: &tokio::runtime::Runtime, mode: Mode, table: &mut Table) {
    let mut server = RedisServer::spawn(RedisServerOptions { persistent: true, password: None });
    let mut samples = Samples::default();
    for _ in 0..recovery::rounds(mode) {
        let mut options = options(server.url());
        options.redis.response_timeout = Duration::from_secs(1);
        options.redis.connect_timeout = Duration::from_secs(1);
        let scheduler = runtime.block_on(async {
            Retrying::with_policy(
                RedisScheduler::connect_with(options).await.unwrap(),
                RetrySettings::default().scheduler,
            )
        });
        let call = async move { scheduler.run_task(&params()).await };
        samples.push(recovery::sample(runtime, &mut server, |s| s.kill(), |s| s.restart(), call));
    }
    recovery::add_row(
        table,
        "Redis restarted → first successful enqueue (Retrying, default scheduler policy 3 × 1–8 s)",
        &samples,
    );
}
