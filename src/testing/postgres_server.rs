//! [`PostgresServer`]: a throwaway PostgreSQL for tests, started from the installed binaries on a
//! free loopback port, that tests can kill, restart, stall and resume.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::postgres::PostgresOptions;

use super::names::unique_schema;
use super::ports::free_port;
use super::process::{chown_all, is_root, signal_tree, temp_dir, user_ids};

const HOW_TO_INSTALL: &str = "PostgreSQL is needed for these tests: install it (Debian: `apt-get install postgresql`, \
     which `scripts/test` does for you) or set DATABASE_URL to a server the tests may use";

/// The password of the throwaway server's `postgres` user (it listens on loopback only).
pub const TEST_PASSWORD: &str = "bindu-test-secret";

/// A PostgreSQL server for one test. Dropping it kills the server and removes its data.
///
/// With `DATABASE_URL` set, [`PostgresServer::shared`] uses that server instead; tests that kill
/// or stall the server need [`PostgresServer::start`], which always starts its own. `Debug`
/// hides the password.
pub struct PostgresServer {
    port: u16,
    url: String,
    local: Option<Local>,
}

#[derive(Debug)]
struct Local {
    bin: PathBuf,
    data: PathBuf,
    user: Option<(u32, u32)>,
    child: Option<Child>,
    /// Production durability (`fsync`, full page writes) instead of the test settings.
    durable: bool,
}

impl PostgresServer {
    /// `DATABASE_URL` when it is set, else a new local server.
    pub fn shared() -> Self {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Self { port: 0, url, local: None },
            _ => Self::start(),
        }
    }

    /// A new local server (initdb into a temp dir, as the `postgres` user when running as
    /// root) whose `postgres` user has [`TEST_PASSWORD`]. Panics with installation advice when
    /// PostgreSQL is not installed.
    pub fn start() -> Self {
        Self::start_with_password(TEST_PASSWORD)
    }

    /// [`start`](Self::start) with another password for the `postgres` user; the URL carries it
    /// percent-encoded, so it may hold any character but a line break.
    pub fn start_with_password(password: &str) -> Self {
        let bin = find_bin_dir().unwrap_or_else(|| panic!("{HOW_TO_INSTALL}"));
        let user = if is_root() {
            Some(
                user_ids("postgres")
                    .unwrap_or_else(|| panic!("running as root needs the `postgres` user; {HOW_TO_INSTALL}")),
            )
        } else {
            None
        };
        let root = temp_dir("bindu-pg");
        let data = root.join("data");
        let password_file = root.join("password");
        assert!(!password.contains(['\n', '\r']), "initdb reads the password's first line only");
        std::fs::write(&password_file, password).expect("write the password file");
        if let Some((uid, gid)) = user {
            chown_all(&root, uid, gid);
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args([
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .args(["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_user(&mut initdb, user);
        let out = initdb.output().unwrap_or_else(|err| panic!("cannot run initdb: {err}; {HOW_TO_INSTALL}"));
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let url =
            format!("postgres://postgres:{}@127.0.0.1:{port}/postgres", crate::redact::encode(password));
        let mut server =
            Self { port, url, local: Some(Local { bin, data, user, child: None, durable: false }) };
        server.launch();
        server
    }

    /// A new local server with production durability: `fsync` and full page writes on, as a
    /// database that must not lose a commit runs (the tests' servers turn them off for speed).
    pub fn start_durable() -> Self {
        let mut server = Self::start();
        server.kill();
        server.local_mut().durable = true;
        server.launch();
        server
    }

    /// The server's URL (with the password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loopback port (0 for an external `DATABASE_URL` server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Options for a fresh schema of its own, so tests sharing a server do not meet.
    pub fn options(&self) -> PostgresOptions {
        let schema = unique_schema();
        PostgresOptions::from_url(&self.url).expect("a valid test URL").in_schema(schema)
    }

    /// Kills the server and all its processes at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let local = self.local_mut();
        if let Some(mut child) = local.child.take() {
            signal_tree(child.id(), "KILL");
            let _ = child.wait();
        }
    }

    /// Starts the killed server again, on the same port with the same data, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Freezes the server (SIGSTOP to all its processes): connections stay open, nothing answers.
    pub fn pause(&mut self) {
        let pid = self.local_mut().child.as_ref().expect("a running server").id();
        signal_tree(pid, "STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&mut self) {
        let pid = self.local_mut().child.as_ref().expect("a running server").id();
        signal_tree(pid, "CONT");
    }

    fn local_mut(&mut self) -> &mut Local {
        self.local.as_mut().expect("this test needs a local server, not DATABASE_URL")
    }

    fn launch(&mut self) {
        let port = self.port;
        let local = self.local_mut();
        let log = local.data.parent().expect("the data dir has a parent").join("server.log");
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let mut postgres = Command::new(local.bin.join("postgres"));
        postgres
            .args(["-D", &local.data.display().to_string(), "-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"])
            .args(if local.durable {
                ["-c", "fsync=on", "-c", "full_page_writes=on"]
            } else {
                ["-c", "fsync=off", "-c", "full_page_writes=off"]
            })
            .args(["-c", &format!("unix_socket_directories={}", local.data.display())])
            .stdout(Stdio::null())
            .stderr(log_file);
        if let Some((uid, gid)) = local.user {
            chown_all(&log, uid, gid);
        }
        as_user(&mut postgres, local.user);
        let child =
            postgres.spawn().unwrap_or_else(|err| panic!("cannot start postgres: {err}; {HOW_TO_INSTALL}"));
        local.child = Some(child);
        wait_until_ready(port, &log);
    }
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("port", &self.port)
            .field("url", &crate::redact::postgres(&self.url))
            .field("local", &self.local)
            .finish()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(local) = self.local.as_mut() {
            if let Some(mut child) = local.child.take() {
                signal_tree(child.id(), "CONT");
                signal_tree(child.id(), "KILL");
                let _ = child.wait();
            }
            if let Some(root) = local.data.parent() {
                let _ = std::fs::remove_dir_all(root);
            }
        }
    }
}

fn as_user(command: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
}

/// The newest installed PostgreSQL binaries.
fn find_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin).or_else(|| {
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        let bin = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        bin.join("initdb").exists().then_some(bin)
    })
}

fn wait_until_ready(port: u16, log: &Path) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::fs::read_to_string(log).is_ok_and(|text| text.contains("ready to accept connections"))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("postgres did not start within 60 s: {}", std::fs::read_to_string(log).unwrap_or_default());
}
