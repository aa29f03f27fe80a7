//! A throwaway Redis server for tests.
//!
//! [`RedisServer::start`] uses `REDIS_URL` when it is set (tests then isolate themselves by key
//! prefix, see [`RedisServer::unique_prefix`]) and otherwise starts `redis-server` on a free
//! loopback port. Tests that kill, pause or restart the server, or need a password, use
//! [`RedisServer::spawn`], which always starts a process of its own. When no server can be had the
//! test panics with instructions: it never skips.
//!
//! The methods block the calling thread while they wait for the server (at most a few seconds);
//! call them from `tokio::task::spawn_blocking` when other tasks must keep running meanwhile.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::redis::{RedisOptions, RedisSchedulerOptions};

use super::ports::free_port;
use super::process::temp_dir;

/// How long a starting server may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How a spawned server is configured.
#[derive(Clone, Default)]
pub struct RedisServerOptions {
    /// Append-only file with `appendfsync always`, so that every acknowledged write survives a
    /// `kill` and [`RedisServer::restart`]. Off by default (`--save ''`, nothing on disk).
    pub persistent: bool,
    /// `requirepass`; the URL then carries it.
    pub password: Option<String>,
}

impl fmt::Debug for RedisServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServerOptions")
            .field("persistent", &self.persistent)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A Redis server for one test: `REDIS_URL`, or a local process removed (with its files) on drop.
pub struct RedisServer {
    url: String,
    local: Option<Local>,
}

struct Local {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    options: RedisServerOptions,
    child: Mutex<Option<Child>>,
}

impl RedisServer {
    /// The server named by `REDIS_URL`, or else a fresh local one without persistence.
    ///
    /// # Panics
    /// If `REDIS_URL` is unset and `redis-server` cannot be found or does not start.
    pub fn start() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => Self { url, local: None },
            _ => Self::spawn(RedisServerOptions::default()),
        }
    }

    /// A fresh local `redis-server` process, whatever `REDIS_URL` says.
    ///
    /// # Panics
    /// If `redis-server` cannot be found or does not start.
    pub fn spawn(options: RedisServerOptions) -> Self {
        let binary = find_binary();
        let dir = temp_dir("bindu-redis");
        // A free port can be taken by someone else between our probe and the server's bind.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let local = Local {
                binary: binary.clone(),
                port,
                dir: dir.clone(),
                options: options.clone(),
                child: Mutex::new(None),
            };
            match local.launch() {
                Ok(()) => {
                    let url = match &options.password {
                        Some(password) => format!("redis://:{password}@127.0.0.1:{port}/0"),
                        None => format!("redis://127.0.0.1:{port}/0"),
                    };
                    return Self { url, local: Some(local) };
                }
                Err(err) => last_error = err,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-server did not start: {last_error}");
    }

    /// A key prefix no other test uses.
    pub fn unique_prefix() -> String {
        super::names::unique_prefix()
    }

    /// Options for this server under a fresh prefix, with test timeouts (see
    /// [`quick_options_for`](Self::quick_options_for)).
    pub fn quick_options(&self) -> RedisOptions {
        Self::quick_options_for(&self.url)
    }

    /// Options for `url` under a fresh prefix, with test timeouts: 1 s to connect, 2 s per command
    /// and per pool wait.
    pub fn quick_options_for(url: &str) -> RedisOptions {
        let mut options =
            RedisOptions::from_url(url).expect("a Redis URL").with_prefix(Self::unique_prefix());
        options.connect_timeout = Duration::from_secs(1);
        options.response_timeout = Duration::from_secs(2);
        options.pool_wait_timeout = Duration::from_secs(2);
        options
    }

    /// Scheduler options for this server under a fresh prefix, with test timing (see
    /// [`quick_scheduler_options_for`](Self::quick_scheduler_options_for)).
    pub fn quick_scheduler_options(&self) -> RedisSchedulerOptions {
        Self::quick_scheduler_options_for(&self.url)
    }

    /// Scheduler options for `url` under a fresh prefix, with test timing: redelivery after
    /// 500 ms idle (swept every 100 ms), 3 deliveries, quick reconnects.
    pub fn quick_scheduler_options_for(url: &str) -> RedisSchedulerOptions {
        let mut options = RedisSchedulerOptions::new(Self::quick_options_for(url));
        options.block_time = Duration::from_millis(250);
        options.min_idle = Duration::from_millis(500);
        options.claim_interval = Duration::from_millis(100);
        options.max_deliveries = 3;
        options.dedup_ttl = Duration::from_secs(600);
        options.reconnect_min_delay = Duration::from_millis(50);
        options.reconnect_max_delay = Duration::from_secs(1);
        options
    }

    /// The server's URL (with its password, if it has one: keep it out of assertions' messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port of a local server; `None` for `REDIS_URL`.
    pub fn port(&self) -> Option<u16> {
        self.local.as_ref().map(|local| local.port)
    }

    /// Kills the server with SIGKILL and waits for it to be gone. Idempotent.
    pub fn kill(&self) {
        let local = self.local("kill");
        if let Some(mut child) = local.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server (if it runs) and starts it again on the same port with the same data
    /// directory; returns once it answers.
    pub fn restart(&self) {
        self.kill();
        let local = self.local("restart");
        if let Err(err) = local.launch() {
            panic!("redis-server did not restart on port {}: {err}", local.port);
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn stop(&self) {
        self.local("stop").signal("STOP");
    }

    /// Thaws a server frozen by [`stop`](Self::stop) (SIGCONT).
    pub fn cont(&self) {
        self.local("cont").signal("CONT");
    }

    fn local(&self, what: &str) -> &Local {
        self.local.as_ref().unwrap_or_else(|| {
            panic!("cannot {what} the server of REDIS_URL: use RedisServer::spawn for fault tests")
        })
    }
}

impl Local {
    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the process and waits until it answers `PING`.
    fn launch(&self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let mut command = Command::new(&self.binary);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--daemonize", "no", "--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log);
        if self.options.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        if let Some(password) = &self.options.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot run {}: {err}", self.binary.display()))?;
        *self.child() = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        let pid = self.child().as_ref().map(Child::id);
        loop {
            // Another test's server may hold the port (our bind then fails): only ours counts.
            if ready_server_pid(self.port, self.options.password.as_deref())
                .is_some_and(|ready| Some(ready) == pid)
            {
                return Ok(());
            }
            if let Some(status) = self.child().as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                self.child().take();
                return Err(format!("it exited with {status}; log:\n{}", log_tail(&log)));
            }
            if Instant::now() > deadline {
                if let Some(mut child) = self.child().take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(format!("no answer within {READY_TIMEOUT:?}; log:\n{}", log_tail(&log)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child().as_ref().map(Child::id).expect("the server is not running");
        let status = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status();
        assert!(matches!(status, Ok(status) if status.success()), "kill -{signal} {pid}: {status:?}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(local) = &self.local {
            if let Some(mut child) = local.child().take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = std::fs::remove_dir_all(&local.dir);
        }
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("url", &crate::redact::redis(&self.url))
            .field("local", &self.local.is_some())
            .finish()
    }
}

fn find_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("redis-server")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/bin/redis-server"), PathBuf::from("/usr/local/bin/redis-server")])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server not found: the Redis tests need a server. Install it \
                 (`sudo apt-get install redis-server`, or `scripts/install-services`), or set \
                 REDIS_URL to a server the tests may write to (tests that kill or restart the server \
                 still need redis-server)"
            )
        })
}

/// The process id of the server on `port` once it is ready: it answers (after `AUTH` when it has
/// a password) and is not loading its data any more.
fn ready_server_pid(port: u16, password: Option<&str>) -> Option<u32> {
    let mut writer = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    writer.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut reader = BufReader::new(writer.try_clone().ok()?);
    let mut line = String::new();
    if let Some(password) = password {
        let auth = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len());
        writer.write_all(auth.as_bytes()).ok()?;
        reader.read_line(&mut line).ok()?;
        if !line.starts_with("+OK") {
            return None;
        }
    }
    writer.write_all(b"*1\r\n$4\r\nINFO\r\n").ok()?;
    line.clear();
    reader.read_line(&mut line).ok()?;
    let mut info = vec![0; line.strip_prefix('$')?.trim().parse().ok()?];
    reader.read_exact(&mut info).ok()?;
    let info = String::from_utf8_lossy(&info);
    let field = |name: &str| info.lines().find_map(|line| line.strip_prefix(name)).map(str::trim);
    if field("loading:") != Some("0") {
        return None;
    }
    field("process_id:")?.parse().ok()
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
