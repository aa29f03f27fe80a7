//! The agent card, at `/.well-known/agent-card.json` (and 0.3's `/.well-known/agent.json`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Service;

/// `GET /.well-known/agent-card.json`.
pub async fn handle(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let url = format!("http://{}/", host(&headers).unwrap_or_else(|| service.listen().to_string()));
    ([(header::CONTENT_TYPE, "application/json")], card(&url).to_string()).into_response()
}

/// The card for an endpoint at `url`: protocol 1.0 and 0.3 on the same JSON-RPC endpoint. The
/// 0.3 fields (`url`, `protocolVersion`, `preferredTransport`) are there too, for 0.3 clients;
/// 1.0 clients read `supportedInterfaces`.
pub fn card(url: &str) -> Value {
    json!({
        "name": "Word counter",
        "description": "Counts the words of your message, and asks for text when there is none. \
            A message \"sleep\" runs until it is canceled; \"sleep 2\" answers after 2 s.",
        "version": env!("CARGO_PKG_VERSION"),
        "supportedInterfaces": [
            { "url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0" },
            { "url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3" },
        ],
        "capabilities": { "streaming": true, "pushNotifications": cfg!(feature = "webhooks") },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{
            "id": "count-words",
            "name": "Count words",
            "description": "Counts the words of the last user message.",
            "tags": ["text"],
            "examples": ["how many words are in this sentence?"],
        }],
        "url": url,
        "protocolVersion": "0.3.0",
        "preferredTransport": "JSONRPC",
    })
}

/// The `Host` the client used, when it is a plain `host[:port]`: the card then names the address
/// the client can reach.
fn host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    plain.then(|| host.to_owned())
}
