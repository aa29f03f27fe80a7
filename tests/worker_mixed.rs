//! The worker end to end across backends: PostgreSQL storage with the Redis scheduler, and Redis
//! storage with the PostgreSQL scheduler, each wired by `App` from settings.
#![cfg(all(feature = "postgres", feature = "redis"))]

mod common;

use bindu::settings::Env;
use bindu::{App, AppSettings};
use bindu_test_support::{PostgresServer, RedisServer};

fn settings(vars: Vec<(&'static str, String)>) -> AppSettings {
    AppSettings::from(&Env::from_lookup(move |name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_storage_with_redis_scheduler() {
    let (pg, redis) = (PostgresServer::shared(), RedisServer::start());
    let app = App::connect(&settings(vec![
        ("STORAGE_TYPE", "postgres".into()),
        ("DATABASE_URL", pg.url().to_owned()),
        ("DATABASE_SCHEMA", pg.options().schema.unwrap()),
        ("SCHEDULER_TYPE", "redis".into()),
        ("REDIS_URL", redis.url().to_owned()),
        ("REDIS_KEY_PREFIX", RedisServer::unique_prefix()),
    ]))
    .await
    .unwrap();
    let (calls, stats) =
        common::many_tasks_through_several_workers(app.storage.clone(), app.scheduler.clone(), 150, 3).await;
    println!(
        "postgres + redis: {calls} agent runs for 150 tasks; completed per worker {:?}",
        stats.iter().map(|s| s.completed).collect::<Vec<_>>()
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_storage_with_postgres_scheduler() {
    let (pg, redis) = (PostgresServer::shared(), RedisServer::start());
    let app = App::connect(&settings(vec![
        ("STORAGE_TYPE", "redis".into()),
        ("REDIS_URL", redis.url().to_owned()),
        ("REDIS_KEY_PREFIX", RedisServer::unique_prefix()),
        ("SCHEDULER_TYPE", "postgres".into()),
        ("DATABASE_URL", pg.url().to_owned()),
        ("DATABASE_SCHEMA", pg.options().schema.unwrap()),
    ]))
    .await
    .unwrap();
    let (calls, stats) =
        common::many_tasks_through_several_workers(app.storage.clone(), app.scheduler.clone(), 150, 3).await;
    println!(
        "redis + postgres: {calls} agent runs for 150 tasks; completed per worker {:?}",
        stats.iter().map(|s| s.completed).collect::<Vec<_>>()
    );
    app.close().await;
}
