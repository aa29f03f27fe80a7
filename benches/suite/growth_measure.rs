//! The measurements of section 8 (issue 21, long conversations), shared word for word by the
//! suite (the current code, in process) and `benches/growth-baseline` (the previous release built
//! from git, in a child process): only the `Storage` trait and the backends' constructors, which
//! are the same in both releases, so both sides run exactly this code.
//!
//! One round on one storage, for each size: fresh tasks grown to that many 200-byte text
//! messages (untimed, in bulk updates) and kept `working`; then, timed, batches of
//! `load_task(id, Some(1))` (at the smallest and largest size) and `load_task(id, None)` (at the
//! largest) going round the tasks, then a few `update_task` calls per task each appending one
//! message (spread over several tasks so that the batch barely changes their size).
//!
//! The child's protocol, one line each way: `round BACKEND URL SIZES TASKS APPENDS LOADS` (URL
//! `-` for memory, SIZES comma-separated) is answered by `ok KEY=NANOSECONDS …` or `error TEXT`.

#![allow(dead_code)] // each of the two binaries uses its half of the protocol

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use bindu::{ContextId, InMemoryStorage, Message, Storage, TaskId, TaskState, TaskUpdate};

/// The size of each message's text.
pub const TEXT_BYTES: usize = 200;
/// Messages per untimed growing update.
const GROW_CHUNK: usize = 100;

/// What one round asks of one side.
#[derive(Clone, Debug)]
pub struct Request {
    pub backend: String,
    pub url: Option<String>,
    pub sizes: Vec<usize>,
    /// Tasks grown to each size.
    pub tasks: usize,
    /// Appends timed per task.
    pub appends: usize,
    /// Loads timed per measurement.
    pub loads: usize,
}

impl Request {
    pub fn line(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(usize::to_string).collect();
        format!(
            "round {} {} {} {} {} {}\n",
            self.backend,
            self.url.as_deref().unwrap_or("-"),
            sizes.join(","),
            self.tasks,
            self.appends,
            self.loads
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace();
        if words.next()? != "round" {
            return None;
        }
        let backend = words.next()?.to_string();
        let url = Some(words.next()?.to_string()).filter(|u| u != "-");
        let sizes = words.next()?.split(',').map(str::parse).collect::<Result<Vec<usize>, _>>().ok()?;
        let tasks = words.next()?.parse().ok()?;
        let appends = words.next()?.parse().ok()?;
        let loads = words.next()?.parse().ok()?;
        Some(Self { backend, url, sizes, tasks, appends, loads })
    }
}

/// Nanoseconds per call, by measurement: `append@N`, `load1@N`, `loadall@N`.
pub type Results = HashMap<String, f64>;

pub fn results_line(results: &Results) -> String {
    let mut pairs: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    format!("ok {}\n", pairs.join(" "))
}

pub fn parse_results(line: &str) -> Result<Results, String> {
    let rest = line.trim().strip_prefix("ok").ok_or_else(|| line.trim().to_string())?;
    rest.split_whitespace()
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("bad pair {pair}"))?;
            Ok((k.to_string(), v.parse().map_err(|_| format!("bad value {pair}"))?))
        })
        .collect()
}

/// The runtime both sides measure on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A storage of the named backend, in a schema or under a prefix of its own.
pub async fn open(backend: &str, url: Option<&str>) -> Result<Box<dyn Storage>, String> {
    let unique = format!("growth_{}", TaskId::new().0.simple());
    match (backend, url) {
        ("memory", _) => Ok(Box::new(InMemoryStorage::new())),
        ("postgres", Some(url)) => {
            let options =
                bindu::postgres::PostgresOptions::from_url(url).map_err(|e| e.to_string())?.in_schema(unique);
            let storage =
                bindu::postgres::PostgresStorage::connect_with(options).await.map_err(|e| e.to_string())?;
            Ok(Box::new(storage))
        }
        ("redis", Some(url)) => {
            let options =
                bindu::redis::RedisOptions::from_url(url).map_err(|e| e.to_string())?.with_prefix(unique);
            let storage =
                bindu::redis::RedisStorage::connect_with(options).await.map_err(|e| e.to_string())?;
            Ok(Box::new(storage))
        }
        _ => Err(format!("unknown backend {backend} (or no URL)")),
    }
}

/// A 200-byte text message, agent and user in turn.
fn message(n: usize) -> Message {
    let mut text = format!("message {n} of a long conversation ");
    while text.len() < TEXT_BYTES {
        text.push_str("lorem ipsum ");
    }
    text.truncate(TEXT_BYTES);
    if n.is_multiple_of(2) { Message::agent_text(text) } else { Message::user_text(text) }
}

/// One round on `storage` (see the module's documentation).
pub async fn round(storage: &dyn Storage, request: &Request) -> Result<Results, String> {
    let err = |e: bindu::Error| e.to_string();
    let mut results = Results::new();
    let smallest = *request.sizes.iter().min().ok_or("no sizes")?;
    let largest = *request.sizes.iter().max().ok_or("no sizes")?;
    for &size in &request.sizes {
        // Fresh tasks of `size` messages, working.
        let mut tasks = Vec::with_capacity(request.tasks);
        for _ in 0..request.tasks.max(1) {
            let first =
                Message::user_text("the question that starts the conversation").for_task(TaskId::new());
            let task_id = storage.submit_task(ContextId::new(), &first, None).await.map_err(err)?.task.id;
            let mut held = 1;
            storage.update_task(task_id, &TaskUpdate::to(TaskState::Working)).await.map_err(err)?;
            while held < size {
                let mut update = TaskUpdate::to(TaskState::Working);
                for _ in 0..GROW_CHUNK.min(size - held) {
                    update = update.with_message(message(held));
                    held += 1;
                }
                storage.update_task(task_id, &update).await.map_err(err)?;
            }
            tasks.push(task_id);
        }
        if size == smallest || size == largest {
            let started = Instant::now();
            for i in 0..request.loads {
                let task = storage
                    .load_task(tasks[i % tasks.len()], Some(1))
                    .await
                    .map_err(err)?
                    .ok_or("task gone")?;
                std::hint::black_box(task);
            }
            results.insert(format!("load1@{size}"), per_call(started, request.loads));
        }
        if size == largest {
            let started = Instant::now();
            for i in 0..request.loads {
                let task =
                    storage.load_task(tasks[i % tasks.len()], None).await.map_err(err)?.ok_or("task gone")?;
                assert_eq!(task.history.len(), size, "load_task(id, None) returns the whole history");
                std::hint::black_box(task);
            }
            results.insert(format!("loadall@{size}"), per_call(started, request.loads));
        }
        let mut appends = Vec::with_capacity(tasks.len() * request.appends);
        for i in 0..request.appends {
            for &task_id in &tasks {
                appends.push((task_id, TaskUpdate::to(TaskState::Working).with_message(message(size + i))));
            }
        }
        let started = Instant::now();
        for (task_id, update) in &appends {
            std::hint::black_box(storage.update_task(*task_id, update).await.map_err(err)?);
        }
        results.insert(format!("append@{size}"), per_call(started, appends.len()));
    }
    Ok(results)
}

fn per_call(started: Instant, calls: usize) -> f64 {
    started.elapsed().as_nanos() as f64 / calls.max(1) as f64
}

/// The child's loop: answers requests on stdin until it closes. Storages are opened once per
/// backend and URL and kept for the following rounds.
pub fn serve() {
    let runtime = runtime();
    let mut storages: HashMap<(String, Option<String>), Box<dyn Storage>> = HashMap::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.expect("read a request");
        let answer = match Request::parse(&line) {
            None => error_line(&format!("bad request {line:?}")),
            Some(request) => runtime.block_on(async {
                let key = (request.backend.clone(), request.url.clone());
                if !storages.contains_key(&key) {
                    match open(&request.backend, request.url.as_deref()).await {
                        Ok(storage) => drop(storages.insert(key.clone(), storage)),
                        Err(e) => return error_line(&e),
                    }
                }
                match round(storages[&key].as_ref(), &request).await {
                    Ok(results) => results_line(&results),
                    Err(e) => error_line(&e),
                }
            }),
        };
        stdout.write_all(answer.as_bytes()).expect("answer");
        stdout.flush().expect("answer");
    }
}

/// An error as one line of the protocol.
fn error_line(error: &str) -> String {
    format!("error {}\n", error.replace('\n', " "))
}
