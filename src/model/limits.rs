//! [`InputLimits`]: the one input rule every storage backend applies before it writes, so that
//! every backend accepts and refuses the same things — and nothing is stored that cannot be read
//! back.

use std::io;

use serde::Serialize;

use super::{Artifact, Feedback, Message, Metadata, PushNotificationConfig, TaskUpdate};
use crate::error::{Error, Result};

/// Limits on what storage accepts. A refused input is [`Error::Invalid`] naming what was wrong,
/// and nothing is written. Strings never hold a NUL character (PostgreSQL cannot store one).
///
/// | limit | default | why |
/// |---|---|---|
/// | `message_bytes` | 1 MiB | one message (or artifact) as JSON |
/// | `parts` | 256 | parts of one message or artifact |
/// | `metadata_bytes` | 64 KiB | one metadata object (of a task, message, part, artifact, context, feedback) |
/// | `depth` | 32 | nesting of any JSON value; at most 100, below what JSON decoders read back (128) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputLimits {
    /// Bytes of one message or artifact, as JSON.
    pub message_bytes: usize,
    /// Parts of one message or artifact.
    pub parts: usize,
    /// Bytes of one metadata object, as JSON.
    pub metadata_bytes: usize,
    /// Nesting depth of any JSON value.
    pub depth: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self { message_bytes: 1 << 20, parts: 256, metadata_bytes: 64 << 10, depth: 32 }
    }
}

impl InputLimits {
    /// The deepest nesting a limit may allow: JSON decoders refuse 128 levels.
    pub const MAX_DEPTH: usize = 100;

    /// Checks that the limits themselves make sense.
    pub fn validate(&self) -> Result<()> {
        if self.depth == 0 || self.depth > Self::MAX_DEPTH {
            return invalid("input limits", format!("depth must be from 1 to {}", Self::MAX_DEPTH));
        }
        if self.message_bytes == 0 || self.parts == 0 || self.metadata_bytes == 0 {
            return invalid(
                "input limits",
                "message_bytes, parts and metadata_bytes must be above zero".into(),
            );
        }
        Ok(())
    }

    /// A message as submitted, appended or stored by an update.
    pub fn check_message(&self, message: &Message) -> Result<()> {
        self.check_parts("message", message.parts.len())?;
        if let Some(metadata) = &message.metadata {
            self.check_metadata("message metadata", metadata)?;
        }
        self.check_value("message", message, self.message_bytes)
    }

    /// An artifact as stored by an update.
    pub fn check_artifact(&self, artifact: &Artifact) -> Result<()> {
        self.check_parts("artifact", artifact.parts.len())?;
        if let Some(metadata) = &artifact.metadata {
            self.check_metadata("artifact metadata", metadata)?;
        }
        self.check_value("artifact", artifact, self.message_bytes)
    }

    /// Everything an update writes.
    pub fn check_update(&self, update: &TaskUpdate) -> Result<()> {
        update.messages.iter().try_for_each(|message| self.check_message(message))?;
        update.artifacts.iter().try_for_each(|artifact| self.check_artifact(artifact))?;
        self.check_metadata("task metadata", &update.metadata)
    }

    /// A metadata object (`what` names it in the error).
    pub fn check_metadata(&self, what: &'static str, metadata: &Metadata) -> Result<()> {
        self.check_value(what, metadata, self.metadata_bytes)
    }

    /// Feedback.
    pub fn check_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.check_metadata("feedback metadata", &feedback.metadata)?;
        self.check_value("feedback", feedback, self.message_bytes)
    }

    /// A webhook config.
    pub fn check_webhook(&self, config: &PushNotificationConfig) -> Result<()> {
        self.check_value("webhook config", config, self.metadata_bytes)
    }

    fn check_parts(&self, what: &'static str, parts: usize) -> Result<()> {
        if parts > self.parts {
            return invalid(what, format!("{parts} parts; at most {} are allowed", self.parts));
        }
        Ok(())
    }

    /// Serializes `value` into a scanner (nothing is allocated) and checks its size, depth and
    /// strings.
    fn check_value(&self, what: &'static str, value: &impl Serialize, max_bytes: usize) -> Result<()> {
        let mut scan = Scanner::default();
        serde_json::to_writer(&mut scan, value)
            .map_err(|err| Error::Invalid { what, reason: format!("cannot be written as JSON: {err}") })?;
        if scan.nul {
            return invalid(what, "holds a NUL character (\\u0000), which storage cannot keep".into());
        }
        if scan.max_depth > self.depth {
            return invalid(
                what,
                format!("is nested {} levels deep; at most {} are allowed", scan.max_depth, self.depth),
            );
        }
        if scan.bytes > max_bytes {
            return invalid(
                what,
                format!("is {} bytes as JSON; at most {max_bytes} are allowed", scan.bytes),
            );
        }
        Ok(())
    }
}

fn invalid(what: &'static str, reason: String) -> Result<()> {
    Err(Error::Invalid { what, reason })
}

/// Reads serde_json's output as it is written: its length, the deepest nesting of objects and
/// arrays, and whether a string (or key) holds a NUL character, which serde_json writes `\u0000`.
#[derive(Debug, Default)]
struct Scanner {
    bytes: usize,
    depth: usize,
    max_depth: usize,
    nul: bool,
    in_string: bool,
    /// After a backslash in a string: how many characters of the escape were seen, and whether
    /// they still spell `u0000`.
    escape: Option<(u8, bool)>,
}

impl io::Write for Scanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len();
        for &byte in buf {
            self.feed(byte);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Scanner {
    fn feed(&mut self, byte: u8) {
        if let Some((seen, zero)) = self.escape {
            self.escape = match (seen, byte) {
                // `\uXXXX`: four hex digits follow the `u`.
                (0, b'u') => Some((1, true)),
                (0, _) => None,
                (1..=3, _) => Some((seen + 1, zero && byte == b'0')),
                _ => {
                    self.nul |= zero && byte == b'0';
                    None
                }
            };
            return;
        }
        match (self.in_string, byte) {
            (true, b'\\') => self.escape = Some((0, false)),
            (true, b'"') => self.in_string = false,
            (true, _) => {}
            (false, b'"') => self.in_string = true,
            (false, b'{' | b'[') => {
                self.depth += 1;
                self.max_depth = self.max_depth.max(self.depth);
            }
            (false, b'}' | b']') => self.depth = self.depth.saturating_sub(1),
            (false, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::Part;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!({ "x": inner }))
    }

    fn with_data(data: Value) -> Message {
        Message::new(crate::model::Role::User, vec![Part::data(data.as_object().cloned().unwrap())])
    }

    #[test]
    fn nul_anywhere_is_refused_and_lookalikes_are_not() {
        let limits = InputLimits::default();
        let err = limits.check_message(&Message::user_text("a\0b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid message: holds a NUL character (\\u0000), which storage cannot keep"
        );
        assert!(limits.check_message(&with_data(json!({"k\u{0}": 1}))).is_err(), "in a key");
        for fine in ["\\u0000", "\\\\u0000", "u0000", "\u{1}", "\u{FEFF}", "\"quoted\"", "\\"] {
            limits.check_message(&Message::user_text(fine)).unwrap();
        }
    }

    #[test]
    fn depth_parts_and_sizes_are_bounded() {
        let limits = InputLimits::default();
        // The message wraps the data in a few levels of its own.
        limits.check_message(&with_data(nested(20))).unwrap();
        let err = limits.check_message(&with_data(nested(200))).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid message: is nested 20") && err.ends_with("at most 32 are allowed"),
            "{err}"
        );
        let many = Message::new(crate::model::Role::User, vec![Part::text("x"); 257]);
        assert_eq!(
            limits.check_message(&many).unwrap_err().to_string(),
            "invalid message: 257 parts; at most 256 are allowed"
        );
        let big = Message::user_text("x".repeat(2 << 20));
        assert!(
            limits.check_message(&big).unwrap_err().to_string().contains("bytes as JSON; at most 1048576")
        );
        let update = TaskUpdate::to(crate::model::TaskState::Working)
            .with_metadata("big", json!("y".repeat(70 << 10)));
        let err = limits.check_update(&update).unwrap_err().to_string();
        assert!(err.starts_with("invalid task metadata: is "), "{err}");
    }

    #[test]
    fn limits_validate() {
        InputLimits::default().validate().unwrap();
        assert!(InputLimits { depth: 128, ..InputLimits::default() }.validate().is_err());
        assert!(InputLimits { parts: 0, ..InputLimits::default() }.validate().is_err());
    }
}
