//! Exit codes, and failures that carry theirs.

use std::process::ExitCode;

/// What the process tells its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done; nothing needs attention.
    Ok = 0,
    /// Something needs attention.
    Attention = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// A backend is unreachable.
    Unreachable = 3,
}

impl Exit {
    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }

    /// `Attention` when `found`, else `Ok`.
    pub fn attention_if(found: bool) -> Self {
        if found { Self::Attention } else { Self::Ok }
    }
}

/// A command that could not do its work, and why (free of secrets).
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self { exit, message: message.into() }
    }
}

/// bindu's errors are free of secrets; a configuration error is the operator's to fix, a refused
/// request the data's, anything else the backend's.
impl From<bindu::Error> for Failure {
    fn from(err: bindu::Error) -> Self {
        let exit = match &err {
            bindu::Error::Config { .. } => Exit::Usage,
            bindu::Error::Invalid { .. } | bindu::Error::NotFound { .. } => Exit::Attention,
            _ => Exit::Unreachable,
        };
        Self::new(exit, err.to_string())
    }
}
