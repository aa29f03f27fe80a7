//! A webhook receiver on 127.0.0.1 that answers each POST with the next scripted status (then
//! 200) and keeps each request's idempotency key and body.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Received {
    pub key: String,
    pub body: String,
}

pub struct Webhook {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    pub async fn start(script: Vec<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        tokio::spawn(async move {
            let mut script = script.into_iter();
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let request = read_request(&mut socket).await;
                let status = script.next().unwrap_or(200);
                kept.lock().unwrap().push(request);
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        Self { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Headers up to the blank line, then `content-length` bytes of body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Received {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = data.windows(4).position(|window| window == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let header = |name: &str| {
                head.lines()
                    .filter_map(|line| line.split_once(':'))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.trim().to_owned())
            };
            let length: usize = header("content-length").and_then(|value| value.parse().ok()).unwrap_or(0);
            if data.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string();
                return Received { key: header("idempotency-key").unwrap_or_default(), body };
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return Received { key: String::new(), body: String::new() },
            Ok(read) => data.extend_from_slice(&chunk[..read]),
        }
    }
}
