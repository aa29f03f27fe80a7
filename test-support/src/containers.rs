//! Containers (feature `containers`): PostgreSQL and Redis from testcontainers-modules, on the
//! images named by `BINDU_TEST_POSTGRES_IMAGE` / `BINDU_TEST_REDIS_IMAGE` (`name:tag`), else the
//! official images.
//!
//! On a machine without an image registry, `scripts/build-test-images` builds compatible local
//! images and `scripts/test` sets those variables. A missing Docker engine or image fails the
//! test with a message saying what to do; nothing is skipped.

use std::time::Duration;

use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::redis::Redis;
use testcontainers_modules::testcontainers::core::{ContainerPort, IntoContainerPort};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

pub use testcontainers_modules::testcontainers;

/// The password of the containers' PostgreSQL user.
pub const POSTGRES_PASSWORD: &str = "bindu-container-secret";

const DEFAULT_POSTGRES_IMAGE: &str = "postgres:16-alpine";
const DEFAULT_REDIS_IMAGE: &str = "redis:7.2";

fn image(variable: &str, default: &str) -> (String, String) {
    let chosen =
        std::env::var(variable).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned());
    match chosen.rsplit_once(':') {
        Some((name, tag)) if !name.is_empty() && !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => panic!("{variable}={chosen:?}: expected name:tag"),
    }
}

fn advice(what: &str, err: impl std::fmt::Display) -> String {
    format!(
        "could not start the {what} container: {err}\n\
         Is the Docker engine running? Without an image registry, build the local images with \
         `scripts/build-test-images` and set BINDU_TEST_POSTGRES_IMAGE / BINDU_TEST_REDIS_IMAGE \
         (`scripts/test` does both)."
    )
}

/// A running PostgreSQL container and its URL.
pub struct PostgresContainer {
    pub container: ContainerAsync<Postgres>,
    pub url: String,
}

/// Starts PostgreSQL; on `fixed_port` when given (so the URL survives a stop and start).
pub async fn postgres(fixed_port: Option<u16>) -> PostgresContainer {
    let (name, tag) = image("BINDU_TEST_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE);
    let request = Postgres::default()
        .with_password(POSTGRES_PASSWORD)
        .with_name(name)
        .with_tag(tag)
        .with_startup_timeout(Duration::from_secs(120));
    let request = match fixed_port {
        Some(port) => request.with_mapped_port(port, 5432.tcp()),
        None => request,
    };
    let container = request.start().await.unwrap_or_else(|err| panic!("{}", advice("PostgreSQL", err)));
    let port = host_port(&container, 5432.tcp()).await;
    let url = format!("postgres://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{port}/postgres");
    PostgresContainer { container, url }
}

/// A running Redis container and its URL.
pub struct RedisContainer {
    pub container: ContainerAsync<Redis>,
    pub url: String,
}

/// Starts Redis with an append-only file (every acknowledged write survives a restart); on
/// `fixed_port` when given.
pub async fn redis(fixed_port: Option<u16>) -> RedisContainer {
    let (name, tag) = image("BINDU_TEST_REDIS_IMAGE", DEFAULT_REDIS_IMAGE);
    let request = Redis::default()
        .with_name(name)
        .with_tag(tag)
        .with_cmd([
            "redis-server",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
        ])
        .with_startup_timeout(Duration::from_secs(60));
    let request = match fixed_port {
        Some(port) => request.with_mapped_port(port, 6379.tcp()),
        None => request,
    };
    let container = request.start().await.unwrap_or_else(|err| panic!("{}", advice("Redis", err)));
    let port = host_port(&container, 6379.tcp()).await;
    RedisContainer { container, url: format!("redis://127.0.0.1:{port}/0") }
}

async fn host_port<I: testcontainers_modules::testcontainers::Image>(
    container: &ContainerAsync<I>,
    port: ContainerPort,
) -> u16 {
    container.get_host_port_ipv4(port).await.expect("the container exposes its port")
}
