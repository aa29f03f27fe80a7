//! What stream entries hold: the versioned JSON payload of an operation, how replies are read
//! into entries, and dead letters.
//!
//! An operation entry has two fields: `id` (the operation id, readable without decoding) and
//! `op`, the JSON of the [`TaskOperation`] with a version field `v`. Readers reject versions they
//! do not know (dead-lettering the entry), so a newer writer never gets misread.

use chrono::{DateTime, Utc};
use deadpool_redis::redis::Value;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{DeadLetter, DeadLetterId, TaskOperation};

/// The payload version this code writes and reads.
pub(super) const VERSION: u64 = 1;
/// The field with the versioned JSON.
pub(super) const OP_FIELD: &str = "op";

#[derive(Serialize)]
struct Versioned<'a> {
    v: u64,
    #[serde(flatten)]
    operation: &'a TaskOperation,
}

/// The JSON of `operation` with `"v": 1`.
pub(super) fn encode(operation: &TaskOperation) -> Result<String> {
    serde_json::to_string(&Versioned { v: VERSION, operation })
        .map_err(|err| Error::Invalid { what: "task operation", reason: format!("cannot be encoded: {err}") })
}

/// The operation in `json`, or why it cannot be read (which becomes the dead-letter reason).
pub(super) fn decode(json: &[u8]) -> std::result::Result<TaskOperation, String> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|err| format!("not JSON: {err}"))?;
    match value.get("v").map(serde_json::Value::as_u64) {
        Some(Some(VERSION)) => {}
        Some(Some(other)) => {
            return Err(format!("unsupported payload version {other} (this reader knows {VERSION})"));
        }
        _ => return Err("no payload version \"v\"".to_owned()),
    }
    serde_json::from_value(value).map_err(|err| format!("not a task operation: {err}"))
}

/// One stream entry: its id and its fields in order.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    /// `[id, [field, value, …]]`. A missing field list (an entry deleted while pending, as Redis
    /// 6.2 reports it) reads as no fields.
    pub(super) fn from_value(value: Value) -> std::result::Result<Self, String> {
        let mut parts = array(value).ok_or("an entry is not an array")?.into_iter();
        let id = parts.next().and_then(text).ok_or("an entry has no id")?;
        let raw = match parts.next() {
            None | Some(Value::Nil) => Vec::new(),
            Some(list) => array(list).ok_or("an entry's fields are not an array")?,
        };
        let mut fields = Vec::with_capacity(raw.len() / 2);
        let mut raw = raw.into_iter();
        while let (Some(name), Some(value)) = (raw.next(), raw.next()) {
            fields
                .push((text(name).ok_or("a field name is not a string")?, bytes(value).unwrap_or_default()));
        }
        Ok(Self { id, fields })
    }

    /// The first value of field `name`.
    pub(super) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value.as_slice())
    }

    /// The operation this entry carries, or why it cannot be read.
    pub(super) fn operation(&self) -> std::result::Result<TaskOperation, String> {
        let json = self.field(OP_FIELD).ok_or_else(|| format!("no {OP_FIELD:?} field"))?;
        decode(json)
    }
}

/// The entries of an `XREADGROUP … COUNT 1` reply with the stream each came from: none on
/// timeout, else (at most) one per stream, as an array (RESP2) or a map (RESP3).
pub(super) fn read_reply(value: Value) -> std::result::Result<Vec<(String, Entry)>, String> {
    let streams: Vec<(Value, Value)> = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(pairs) => pairs,
        other => array(other)
            .ok_or("the reply is not an array")?
            .into_iter()
            .filter_map(|stream| {
                let mut pair = array(stream)?.into_iter();
                Some((pair.next()?, pair.next()?))
            })
            .collect(),
    };
    let mut entries = Vec::with_capacity(streams.len());
    for (name, list) in streams {
        let name = text(name).ok_or("a stream name is not a string")?;
        for entry in array(list).unwrap_or_default() {
            entries.push((name.clone(), Entry::from_value(entry)?));
        }
    }
    Ok(entries)
}

/// A dead letter as the dead-letter stream keeps it: the reason, the delivery count, where it
/// came from, then the operation entry's own fields.
pub(super) fn dead_letter(entry: &Entry) -> DeadLetter {
    let text = |name: &str| entry.field(name).map(|value| String::from_utf8_lossy(value).into_owned());
    let operation = entry.operation().ok();
    DeadLetter {
        id: DeadLetterId(entry.id.clone()),
        task_id: operation.as_ref().map(|operation| operation.action.task_id()),
        operation,
        deliveries: text("deliveries").and_then(|n| n.parse().ok()).unwrap_or(0),
        last_error: text("reason").unwrap_or_default(),
        dead_at: entry_time(&entry.id).unwrap_or_default(),
    }
}

/// The time in a stream entry id (`<ms>-<seq>`): when the entry was added.
pub(super) fn entry_time(id: &str) -> Option<DateTime<Utc>> {
    let millis = id.split_once('-')?.0.parse().ok()?;
    DateTime::from_timestamp_millis(millis)
}

/// Whether `id` is a stream entry id, which Redis would otherwise refuse as an error.
pub(super) fn is_entry_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok())
}

pub(super) fn array(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

pub(super) fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

pub(super) fn text(value: Value) -> Option<String> {
    bytes(value).and_then(|bytes| String::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, OperationId, TaskId, TaskIdParams};

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn payloads_round_trip_and_carry_their_version() {
        let operation =
            TaskOperation::new(OperationId::new(), Action::Cancel(TaskIdParams::new(TaskId::new())));
        let json = encode(&operation).unwrap();
        assert!(json.contains("\"v\":1") && json.contains("\"operation\":\"cancel\""), "{json}");
        assert_eq!(decode(json.as_bytes()).unwrap(), operation);
    }

    #[test]
    fn unreadable_payloads_say_why() {
        let id = OperationId::new();
        let task = TaskId::new();
        let cases = [
            ("{not json".to_owned(), "not JSON"),
            (
                format!(r#"{{"id":"{id}","operation":"cancel","params":{{"taskId":"{task}"}}}}"#),
                "no payload version",
            ),
            (
                format!(r#"{{"v":2,"id":"{id}","operation":"cancel","params":{{"taskId":"{task}"}}}}"#),
                "unsupported payload version 2",
            ),
            (format!(r#"{{"v":1,"id":"{id}","operation":"explode","params":{{}}}}"#), "not a task operation"),
            (r#"{"v":1,"id":"nope","operation":"cancel","params":{}}"#.to_owned(), "not a task operation"),
        ];
        for (json, expected) in cases {
            let err = decode(json.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn reads_both_reply_shapes() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("id"), bulk("x"), bulk("op"), bulk("{}")]),
        ]);
        let resp2 =
            Value::Array(vec![Value::Array(vec![bulk("{p}:ops"), Value::Array(vec![entry.clone()])])]);
        let resp3 = Value::Map(vec![(bulk("{p}:ops"), Value::Array(vec![entry]))]);
        for reply in [resp2, resp3] {
            let read = read_reply(reply).unwrap();
            assert_eq!(read.len(), 1);
            let (stream, entry) = &read[0];
            assert_eq!((stream.as_str(), entry.id.as_str()), ("{p}:ops", "1-0"));
            assert_eq!(entry.field("op"), Some(&b"{}"[..]));
            assert_eq!(entry.field("id"), Some(&b"x"[..]));
        }
        assert!(read_reply(Value::Nil).unwrap().is_empty());
        // A batch: every entry of every stream, in order.
        let entry = |id: &str| Value::Array(vec![bulk(id), Value::Array(vec![bulk("op"), bulk("{}")])]);
        let batch = Value::Array(vec![
            Value::Array(vec![bulk("{p}:control"), Value::Array(vec![entry("1-0")])]),
            Value::Array(vec![bulk("{p}:ops"), Value::Array(vec![entry("2-0"), entry("3-0"), entry("4-0")])]),
        ]);
        let read: Vec<(String, String)> =
            read_reply(batch).unwrap().into_iter().map(|(stream, entry)| (stream, entry.id)).collect();
        let expected = [("{p}:control", "1-0"), ("{p}:ops", "2-0"), ("{p}:ops", "3-0"), ("{p}:ops", "4-0")];
        assert_eq!(read, expected.map(|(s, id)| (s.to_owned(), id.to_owned())));
        let deleted = Entry::from_value(Value::Array(vec![bulk("2-0"), Value::Nil])).unwrap();
        assert!(deleted.fields.is_empty());
        assert!(deleted.operation().unwrap_err().contains("no \"op\" field"));
    }
}
