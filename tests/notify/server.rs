//! A scripted HTTP/1.1 webhook receiver on 127.0.0.1 for the notifier tests: it records every
//! request with the time it arrived and answers each with the next scripted reply.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How the server answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A response with this status, extra headers and body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// No answer at all: the connection stays open until the client gives up.
    Hang,
    /// Close the connection after reading the request, without answering.
    Close,
}

impl Reply {
    pub fn ok() -> Self {
        Self::Status(200, Vec::new(), String::new())
    }

    pub fn status(code: u16) -> Self {
        Self::Status(code, Vec::new(), String::new())
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// When it was fully read (monotonic).
    pub at: Instant,
    /// When it was fully read (wall clock, comparable with stored timestamps).
    pub wall: DateTime<Utc>,
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

struct State {
    script: Mutex<VecDeque<Reply>>,
    otherwise: Reply,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// The server; stops (dropping every connection) when dropped.
pub struct WebhookServer {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    tasks: JoinSet<()>,
}

impl WebhookServer {
    /// Answers the first requests with `script`, then every later one with 200.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Self {
        Self::start_with(script, Reply::ok()).await
    }

    /// Answers the first requests with `script`, then every later one with `otherwise`.
    pub async fn start_with(script: impl IntoIterator<Item = Reply>, otherwise: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            script: Mutex::new(script.into_iter().collect()),
            otherwise,
            received: Mutex::default(),
            arrived: Notify::new(),
        });
        let mut tasks = JoinSet::new();
        let accepting = Arc::clone(&state);
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, Arc::clone(&accepting)));
            }
        });
        Self { addr, state, tasks }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `127.0.0.1:<port>`, as the notifier reports it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived, or panics after `limit`.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let waiting = async {
            loop {
                let arrived = self.state.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                let received = self.received();
                if received.len() >= n {
                    return received;
                }
                arrived.await;
            }
        };
        match tokio::time::timeout(limit, waiting).await {
            Ok(received) => received,
            Err(_) => panic!("{} requests after {limit:?}, expected {n}", self.received().len()),
        }
    }
}

/// Serves one connection, request after request (keep-alive), until the client closes it.
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        state.received.lock().unwrap().push(request);
        state.arrived.notify_waiters();
        let reply = state.script.lock().unwrap().pop_front().unwrap_or_else(|| state.otherwise.clone());
        match reply {
            Reply::Status(code, headers, body) => {
                let mut response = format!("HTTP/1.1 {code} Scripted\r\ncontent-length: {}\r\n", body.len());
                for (name, value) in headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&body);
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            Reply::Hang => {
                // Until the client gives up and closes (a read of 0 bytes or an error).
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Reply::Close => return,
        }
    }
}

/// Reads one request (head and `content-length` body); `None` when the connection ends.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Received> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buffer.len() < head_end + length {
        read_more(stream, buffer).await?;
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(Received { at: Instant::now(), wall: Utc::now(), method, path, headers, body })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(n) if n > 0 => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
        _ => None,
    }
}
