//! Running the binary with a deployment's environment, and what it said.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use bindu::settings::Env;
use bindu::{App, AppSettings};
use bindu_test_support::{PostgresServer, RedisServer};

/// A deployment's environment: the variables `App` and `bindu-admin` read.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub vars: HashMap<String, String>,
}

impl Deployment {
    /// PostgreSQL storage (a fresh schema) and a scheduler of `scheduler` kind (`redis` under a
    /// fresh prefix, or `postgres`).
    pub fn new(postgres: &PostgresServer, redis: &RedisServer, scheduler: &str) -> Self {
        let schema = postgres.options().schema.expect("a fresh schema");
        let vars = [
            ("STORAGE_TYPE", "postgres".to_owned()),
            ("DATABASE_URL", postgres.url().to_owned()),
            ("DATABASE_SCHEMA", schema),
            ("SCHEDULER_TYPE", scheduler.to_owned()),
            ("REDIS_URL", redis.url().to_owned()),
            ("REDIS_KEY_PREFIX", RedisServer::unique_prefix()),
            // Only what the tests do runs: no rescue, no pruning in the background.
            ("WORKER_RESCUE_AFTER", "0".to_owned()),
            ("RETENTION_INTERVAL", "0".to_owned()),
            ("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8".to_owned()),
        ];
        Self { vars: vars.into_iter().map(|(name, value)| (name.to_owned(), value)).collect() }
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn settings(&self) -> AppSettings {
        let vars = self.vars.clone();
        AppSettings::from(&Env::from_lookup(move |name| vars.get(name).cloned())).expect("valid settings")
    }

    /// The app these settings give, in this process.
    pub async fn app(&self) -> App {
        App::connect(&self.settings()).await.expect("connect the app")
    }

    /// Runs `bindu-admin args…` and returns what it said.
    pub fn admin(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_bindu-admin"))
            .args(args)
            .envs(&self.vars)
            .output()
            .expect("run bindu-admin");
        let run = Run {
            command: format!("bindu-admin {}", args.join(" ")),
            code: output.status.code().expect("an exit code"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8"),
        };
        run.show();
        for secret in self.secrets() {
            assert!(
                !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
                "a secret was printed: {run:?}"
            );
        }
        run
    }

    /// `--json` of `args`, parsed.
    pub fn admin_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let run = self.admin(&with_json);
        let value = serde_json::from_str(&run.stdout).unwrap_or_else(|err| panic!("JSON: {err}: {run:?}"));
        (run.code, value)
    }

    /// The passwords in the URLs.
    fn secrets(&self) -> Vec<String> {
        ["DATABASE_URL", "REDIS_URL"]
            .iter()
            .filter_map(|name| self.vars.get(*name))
            .filter_map(|url| {
                let userinfo = url.split_once("://")?.1.split_once('@')?.0;
                let password = userinfo.split_once(':')?.1;
                (!password.is_empty()).then(|| password.to_owned())
            })
            .collect()
    }
}

/// One run of the binary.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Prints it as a terminal would have shown it.
    fn show(&self) {
        println!("$ {}", self.command);
        print!("{}", self.stdout);
        eprint!("{}", self.stderr);
        println!("[exit {}]\n", self.code);
    }
}

/// Polls `check` every 200 ms until it holds, for at most `limit`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
