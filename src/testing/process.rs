//! Small process helpers of the throwaway test servers: users, signals, directories.
#![cfg_attr(not(all(feature = "postgres", feature = "redis")), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `(uid, gid)` of a system user, from `id`.
pub(crate) fn user_ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Whether this process runs as root.
pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Sends `signal` (`KILL`, `STOP` or `CONT`) to a process and its children. PostgreSQL's
/// backends start sessions of their own, so signalling the process group would miss them. The
/// parent is stopped first, so that it forks nothing while its children are signalled; after a
/// `KILL` this waits until every one of them is gone (a new server could not start while they
/// still hold the old one's shared memory).
pub(crate) fn signal_tree(pid: u32, signal: &str) {
    let send = |target: u32, signal: &str| {
        let _ = Command::new("kill").args([format!("-{signal}"), target.to_string()]).status();
    };
    if signal != "CONT" {
        send(pid, "STOP");
    }
    let children = children(pid);
    for child in &children {
        send(*child, signal);
    }
    send(pid, signal);
    if signal == "KILL" {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while children.iter().chain([&pid]).any(|p| alive(*p)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn children(pid: u32) -> Vec<u32> {
    Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` still exists and is not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Gives `path` (recursively) to `uid:gid`.
pub(crate) fn chown_all(path: &Path, uid: u32, gid: u32) {
    let status =
        Command::new("chown").args(["-R", &format!("{uid}:{gid}"), &path.display().to_string()]).status();
    assert!(matches!(status, Ok(s) if s.success()), "chown {}", path.display());
}
