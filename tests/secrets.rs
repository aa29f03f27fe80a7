//! Passwords never show: for every form of PostgreSQL and Redis URL (and PostgreSQL key=value
//! string) the drivers read, through every surface — `Debug`, `Display`, the whole `source()`
//! chain, and what is logged — neither the password, nor its percent-encoding, nor a piece of it.
//! Through the options, the settings, `App::connect` against a refusing port, and the real test
//! servers with a password holding `/`, `?`, `#` and `@`.

mod common;

use std::error::Error as _;
use std::time::Duration;

use bindu::settings::{SchedulerBackend, StorageBackend};
use bindu::{App, AppSettings, RetryPolicy};
use common::logs::Captured;

/// A generated-looking password with every URL delimiter; its pieces are distinctive.
const SECRET: &str = "Qz7k/Vk3m?Wp9x#Lm4q@Tr6v";

/// The pieces of `password` between its delimiters: a partial leak shows one of them.
fn pieces(password: &str) -> Vec<&str> {
    password.split(|c: char| !c.is_ascii_alphanumeric()).filter(|piece| piece.len() >= 3).collect()
}

/// `password` with every byte but letters and digits percent-encoded.
fn percent_encoded(password: &str) -> String {
    password
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Asserts that `text` (from `surface`) shows no trace of `password`.
fn assert_hidden(surface: &str, text: &str, password: &str) {
    let encoded = percent_encoded(password);
    assert!(!text.contains(password), "{surface} shows the password:\n{text}");
    assert!(!text.contains(&encoded), "{surface} shows the password percent-encoded:\n{text}");
    for piece in pieces(password) {
        assert!(!text.contains(piece), "{surface} shows {piece:?}, a piece of the password:\n{text}");
    }
}

/// `Display`, `Debug` and every `source()` of `err`, each as a surface.
fn surfaces(err: &bindu::Error) -> Vec<(String, String)> {
    let mut shown = vec![("Display".to_owned(), err.to_string()), ("Debug".to_owned(), format!("{err:?}"))];
    let mut source = err.source();
    let mut depth = 1;
    while let Some(current) = source {
        shown.push((format!("source {depth}"), format!("{current} | {current:?}")));
        source = current.source();
        depth += 1;
    }
    shown
}

/// Settings whose storage and scheduler connect once, at once.
fn quick(storage: StorageBackend, scheduler: SchedulerBackend) -> AppSettings {
    let mut settings = AppSettings { storage, scheduler, ..AppSettings::default() };
    settings.retry.storage = RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
    settings.retry.scheduler = RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
    settings
}

#[cfg(feature = "postgres")]
mod postgres {
    use bindu::postgres::{PostgresOptions, PostgresSchedulerOptions};
    use bindu::{ContextId, Message, SchedulerExt, TaskId, TaskSendParams};
    use bindu_test_support::PostgresServer;
    use futures_util::StreamExt;

    use super::*;

    /// Every form tokio-postgres reads, each carrying [`SECRET`] (or a password with a space).
    fn forms(host: &str, port: u16) -> Vec<(String, String)> {
        let tricky = "Qz7k/Vk3m?Wp9x#Lm4q"; // no `@`: the driver ends the userinfo there
        let spaced = "Qz7k Vk3m'Wp9x\\Lm4q";
        let quoted = spaced.replace('\\', "\\\\").replace('\'', "\\'");
        let enc = percent_encoded(SECRET);
        [
            (format!("postgres://bindu:{enc}@{host}:{port}/app"), SECRET),
            (format!("postgresql://bindu:{enc}@{host}:{port}/app"), SECRET),
            (format!("postgres://bindu:{tricky}@{host}:{port}/app"), tricky),
            (format!("postgres://bindu@{host}:{port}/app?password={enc}&sslmode=disable"), SECRET),
            (format!("postgres://bindu:{enc}@[::1]:{port},{host}:{port}/app"), SECRET),
            (format!("host={host} port={port} user=bindu password='{quoted}' dbname=app"), spaced),
            (format!("host={host},{host} port={port} password={}", tricky.replace('#', "\\#")), tricky),
            // What the driver cannot read, or misreads.
            (format!("postgres://bindu:{SECRET}@{host}:{port}/app"), SECRET),
            (format!("postgres://{host}:{port}/app?password={SECRET}"), SECRET),
            (format!("postgres://bindu:{enc}@{host}:port/app"), SECRET),
            (format!("host={host} password={spaced}"), spaced),
            (format!("host={host} password='{SECRET}"), SECRET),
        ]
        .into_iter()
        .map(|(value, password)| (value, password.to_owned()))
        .collect()
    }

    #[test]
    fn options_settings_and_their_errors_never_show_a_password() {
        for (value, password) in forms("db.internal", 5432) {
            let mut shown = Vec::new();
            match PostgresOptions::from_url(&value) {
                Ok(options) => {
                    shown.push(("PostgresOptions Debug".to_owned(), format!("{options:?}")));
                    shown.push(("redacted_url".to_owned(), options.redacted_url()));
                    let scheduler = PostgresSchedulerOptions::new(options);
                    shown.push(("PostgresSchedulerOptions Debug".to_owned(), format!("{scheduler:?}")));
                }
                Err(err) => shown.extend(surfaces(&err)),
            }
            let settings = quick(
                StorageBackend::Postgres { url: value.clone(), schema: None },
                SchedulerBackend::Postgres { url: value.clone(), schema: Some("agent".into()) },
            );
            shown.push(("AppSettings Debug".to_owned(), format!("{settings:?}")));
            shown.push(("redact::postgres".to_owned(), bindu::redact::postgres(&value)));
            for (surface, text) in shown {
                assert_hidden(&format!("{surface} of {value:?}"), &text, &password);
            }
        }
    }

    /// Start-up against a port that refuses: the INFO lines of each attempt and the final error.
    #[tokio::test]
    async fn app_connect_to_a_refusing_port_never_shows_a_password() {
        for (value, password) in forms("127.0.0.1", 1) {
            let (captured, _guard) = Captured::install();
            let settings = quick(
                StorageBackend::Postgres { url: value.clone(), schema: None },
                SchedulerBackend::Memory,
            );
            let err = App::connect(&settings).await.unwrap_err();
            assert!(err.to_string().starts_with("DATABASE_URL: "), "{err}");
            let mut shown = surfaces(&err);
            let logs = captured.text();
            if !err.to_string().contains("invalid PostgreSQL URL") {
                assert!(logs.contains("connecting"), "each attempt is logged:\n{logs}");
            }
            shown.push(("the logs".to_owned(), logs));
            for (surface, text) in shown {
                assert_hidden(&format!("{surface} of {value:?}"), &text, &password);
            }
        }
    }

    /// A real server whose password holds `/`, `?`, `#` and `@`: the app connects with it (the
    /// URL percent-encoded, and as a key=value string), runs, rides out a restart (LISTEN
    /// reconnect warnings), and reports a wrong password — never showing it.
    #[tokio::test]
    async fn a_real_server_with_a_tricky_password() {
        let (captured, _guard) = Captured::install();
        let mut server = PostgresServer::start_with_password(SECRET);
        let port = server.port();
        let dsn = format!("host=127.0.0.1 port={port} user=postgres password='{SECRET}' dbname=postgres");
        let mut shown = vec![("PostgresServer Debug".to_owned(), format!("{server:?}"))];
        for (url, schema) in [(server.url().to_owned(), "by_url"), (dsn, "by_dsn")] {
            let settings = quick(
                StorageBackend::Postgres { url: url.clone(), schema: Some(schema.into()) },
                SchedulerBackend::Postgres { url, schema: Some(schema.into()) },
            );
            let app = App::connect(&settings).await.expect("connects with the tricky password");
            let message = Message::user_text("hi").for_task(TaskId::new());
            let task = app.storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
            let mut stream = app.scheduler.receive_task_operations().await.unwrap();
            app.scheduler.run_task(&TaskSendParams::new(task.id, task.context_id, None)).await.unwrap();
            let delivery = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap();
            delivery.unwrap().unwrap().ack().await.unwrap();
            shown.push(("App Debug".to_owned(), format!("{app:?}")));
            app.close().await;
        }

        // A restart: the LISTEN connection of an open stream is lost and reopened.
        let settings = quick(
            StorageBackend::Memory,
            SchedulerBackend::Postgres { url: server.url().to_owned(), schema: Some("by_url".into()) },
        );
        let app = App::connect(&settings).await.unwrap();
        let _stream = app.scheduler.receive_task_operations().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !captured.text().contains("LISTEN connection lost") {
            assert!(tokio::time::Instant::now() < deadline, "no LISTEN warning:\n{}", captured.text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // One character wrong.
        let wrong = server.url().replace("Tr6v", "Tr6w");
        let settings = quick(StorageBackend::Postgres { url: wrong, schema: None }, SchedulerBackend::Memory);
        let err = App::connect(&settings).await.unwrap_err();
        assert!(err.to_string().contains("authentication failed"), "{err}");
        shown.extend(surfaces(&err));

        let logs = captured.text();
        let redacted = format!("postgres://postgres:***@127.0.0.1:{port}/postgres");
        assert!(logs.contains(&redacted), "the logs name the server, password hidden:\n{logs}");
        shown.push(("the logs".to_owned(), logs));
        for (surface, text) in shown {
            assert_hidden(&surface, &text, SECRET);
            assert_hidden(&surface, &text, "Qz7k/Vk3m?Wp9x#Lm4q@Tr6w");
        }
    }
}

#[cfg(feature = "redis")]
mod redis {
    use bindu::redis::{RedisOptions, RedisSchedulerOptions};
    use bindu::{ContextId, Message, TaskId};
    use bindu_test_support::{RedisServer, RedisServerOptions};

    use super::*;

    /// Every form the redis backends read, each carrying [`SECRET`].
    fn forms(host: &str, port: u16) -> Vec<String> {
        let enc = percent_encoded(SECRET);
        vec![
            format!("redis://:{SECRET}@{host}:{port}/0"),
            format!("redis://default:{SECRET}@{host}:{port}/1?protocol=resp3"),
            format!("redis://default:{enc}@{host}:{port}/0"),
            format!("rediss://:{SECRET}@{host}:{port}/0"),
            format!("redis://{enc}@{host}:{port}"),
            format!("redis://{host}:{port}/0?password={enc}"),
            format!("unix:///run/redis.sock?db=1&pass={enc}"),
            format!("redis+unix:///run/redis.sock?user=u&pass={enc}"),
            // What cannot be read, or would be misread.
            format!("redis://:{SECRET}@{host}:port/0"),
            format!("redis://{host}:{port}/0?password={SECRET}"),
            format!("redis://:{SECRET}@{host}:{port}/zero"),
        ]
    }

    #[test]
    fn options_settings_and_their_errors_never_show_a_password() {
        for value in forms("cache.internal", 6379) {
            let mut shown = Vec::new();
            match RedisOptions::from_url(&value) {
                Ok(options) => {
                    shown.push(("RedisOptions Debug".to_owned(), format!("{options:?}")));
                    shown.push(("redacted_url".to_owned(), options.redacted_url()));
                    let scheduler = RedisSchedulerOptions::new(options);
                    shown.push(("RedisSchedulerOptions Debug".to_owned(), format!("{scheduler:?}")));
                }
                Err(err) => shown.extend(surfaces(&err)),
            }
            let settings = quick(
                StorageBackend::Redis { url: value.clone(), prefix: "a".into() },
                SchedulerBackend::Redis { url: value.clone(), prefix: "a".into() },
            );
            shown.push(("AppSettings Debug".to_owned(), format!("{settings:?}")));
            shown.push(("redact::redis".to_owned(), bindu::redact::redis(&value)));
            for (surface, text) in shown {
                assert_hidden(&format!("{surface} of {value:?}"), &text, SECRET);
            }
        }
    }

    #[tokio::test]
    async fn app_connect_to_a_refusing_port_never_shows_a_password() {
        for value in forms("127.0.0.1", 1) {
            for settings in [
                quick(
                    StorageBackend::Redis { url: value.clone(), prefix: "a".into() },
                    SchedulerBackend::Memory,
                ),
                quick(
                    StorageBackend::Memory,
                    SchedulerBackend::Redis { url: value.clone(), prefix: "a".into() },
                ),
            ] {
                let (captured, _guard) = Captured::install();
                let err = App::connect(&settings).await.unwrap_err();
                assert!(err.to_string().starts_with("REDIS_URL: "), "{err}");
                let mut shown = surfaces(&err);
                shown.push(("the logs".to_owned(), captured.text()));
                for (surface, text) in shown {
                    assert_hidden(&format!("{surface} of {value:?}"), &text, SECRET);
                }
            }
        }
    }

    /// A real server whose password holds `/`, `?`, `#` and `@`, pasted raw: the app connects and
    /// runs on it, and a wrong one is reported — never showing it.
    #[tokio::test]
    async fn a_real_server_with_a_tricky_password() {
        let (captured, _guard) = Captured::install();
        let server =
            RedisServer::spawn(RedisServerOptions { password: Some(SECRET.into()), ..Default::default() });
        let prefix = RedisServer::unique_prefix();
        let settings = quick(
            StorageBackend::Redis { url: server.url().to_owned(), prefix: prefix.clone() },
            SchedulerBackend::Redis { url: server.url().to_owned(), prefix },
        );
        let app = App::connect(&settings).await.expect("connects with the tricky password");
        let message = Message::user_text("hi").for_task(TaskId::new());
        app.storage.submit_task(ContextId::new(), &message, None).await.unwrap();
        let mut shown = vec![("App Debug".to_owned(), format!("{app:?}"))];
        app.close().await;
        let wrong = server.url().replace("Tr6v", "Tr6w");
        let settings =
            quick(StorageBackend::Redis { url: wrong, prefix: "a".into() }, SchedulerBackend::Memory);
        let err = App::connect(&settings).await.unwrap_err();
        shown.extend(surfaces(&err));
        let logs = captured.text();
        let redacted = format!("redis://:***@127.0.0.1:{}/0", server.port().unwrap());
        assert!(logs.contains(&redacted), "the logs name the server, password hidden:\n{logs}");
        shown.push(("the logs".to_owned(), logs));
        for (surface, text) in shown {
            assert_hidden(&surface, &text, SECRET);
        }
    }
}
