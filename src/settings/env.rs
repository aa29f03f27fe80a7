//! Reading settings from the environment and a `.env` file, with errors that name the variable.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// A source of setting values: the process environment over a `.env` file, or anything else
/// that maps names to values (tests use a `HashMap`).
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl<'a> Env<'a> {
    /// Values from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { lookup: Box::new(lookup) }
    }

    /// The process environment, falling back to the nearest `.env` file (found in the current
    /// directory or a parent). A variable set in the environment wins over `.env`. A `.env` that
    /// cannot be parsed is an error.
    pub fn process() -> Result<Env<'static>> {
        let mut dotenv = HashMap::new();
        match dotenvy::dotenv_iter() {
            Ok(iter) => {
                for item in iter {
                    let (key, value) =
                        item.map_err(|err| Error::config(".env", format!("cannot be parsed: {err}")))?;
                    dotenv.insert(key, value);
                }
            }
            Err(err) if err.not_found() => {}
            Err(err) => return Err(Error::config(".env", format!("cannot be read: {err}"))),
        }
        Ok(Env::from_lookup(move |name| std::env::var(name).ok().or_else(|| dotenv.get(name).cloned())))
    }

    /// The raw value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// `name` parsed as `T`, `default` when unset. Empty or unparsable values are errors that
    /// name the variable, the value and what was expected.
    pub fn parse<T: FromStr>(&self, name: &str, default: T, expected: &str) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| Error::config(name, format!("expected {expected}, got {raw:?}"))),
        }
    }

    /// A whole number in `min..=max`.
    pub fn count(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32> {
        let expected = format!("a whole number from {min} to {max}");
        let value = self.parse::<u32>(name, default, &expected)?;
        if !(min..=max).contains(&value) {
            let raw = self.get(name).unwrap_or_default();
            return Err(Error::config(name, format!("expected {expected}, got {raw:?}")));
        }
        Ok(value)
    }

    /// A duration given in (possibly fractional) seconds, within `limits`.
    pub fn seconds(&self, name: &str, default: Duration, limits: Seconds) -> Result<Duration> {
        let expected = limits.describe();
        let seconds = self.parse::<f64>(name, default.as_secs_f64(), &expected)?;
        match Duration::try_from_secs_f64(seconds) {
            // 1e-12 is not zero, though it rounds to it.
            Ok(value) if limits.allows(value) && (seconds == 0.0) == value.is_zero() => Ok(value),
            _ => {
                let raw = self.get(name).unwrap_or_default();
                Err(Error::config(name, format!("expected {expected}, got {raw:?}")))
            }
        }
    }
}

/// The durations a setting accepts: `min..=max`, and zero when `zero` (a switch-off or "no wait").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds {
    /// The least non-zero value.
    pub min: Duration,
    /// The greatest value.
    pub max: Duration,
    /// Whether 0 is accepted besides `min..=max`.
    pub zero: bool,
}

impl Seconds {
    fn allows(&self, value: Duration) -> bool {
        (self.zero && value.is_zero()) || (self.min..=self.max).contains(&value)
    }

    fn describe(&self) -> String {
        let (min, max) = (self.min.as_secs_f64(), self.max.as_secs_f64());
        if self.zero {
            format!("0 or a number of seconds from {min} to {max}")
        } else {
            format!("a number of seconds from {min} to {max}")
        }
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}
