//! Where results go: a table for people, JSON for scripts; failures to stderr.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::exit::Failure;

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `value` as JSON, or else what `human` renders.
    pub fn print(&self, value: Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value:#}");
        } else {
            let text = human();
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
    }

    /// Reports `failure` (on stderr, or as JSON on stdout) and returns its exit code.
    pub fn fail(&self, failure: &Failure) -> ExitCode {
        if self.json {
            println!("{:#}", json!({"error": failure.message, "exit": failure.exit as u8}));
        } else {
            eprintln!("bindu-admin: {}", failure.message);
        }
        failure.exit.code()
    }
}
