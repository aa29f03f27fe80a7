//! The quick start's agent (`examples/quickstart.rs`): it counts the words of the last user
//! message and asks for text when there is none. For trying cancel and streaming, a message
//! `sleep` runs until it is canceled, and `sleep <seconds>` answers after that long.

use std::sync::Arc;
use std::time::Duration;

use bindu::worker::{Agent, AgentError, AgentInput, AgentOutput, FnAgent};
use bindu::{Message, Role};

/// Longest `sleep <seconds>`.
const LONGEST_SLEEP: f64 = 3600.0;

/// The agent.
pub fn word_counter() -> Arc<dyn Agent> {
    Arc::new(FnAgent::new(|input: AgentInput| async move {
        let question =
            input.history.iter().rev().find(|m| m.role == Role::User).map(Message::text).unwrap_or_default();
        let mut words = question.split_whitespace();
        if words.next() == Some("sleep") {
            match words.next().map(str::parse::<f64>) {
                // Runs until the worker drops it: a cancel (or a shutdown).
                None => std::future::pending::<()>().await,
                Some(Ok(seconds)) if (0.0..=LONGEST_SLEEP).contains(&seconds) => {
                    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                    return Ok(AgentOutput::text(format!("slept {seconds} s")));
                }
                Some(_) => {
                    return Ok(AgentOutput::InputRequired(Message::agent_text(format!(
                        "sleep how long? a number of seconds up to {LONGEST_SLEEP}"
                    ))));
                }
            }
        }
        if question.trim().is_empty() {
            return Ok(AgentOutput::InputRequired(Message::agent_text("what should I count?")));
        }
        Ok::<_, AgentError>(AgentOutput::text(format!("{} words", question.split_whitespace().count())))
    }))
}
