//! [`PostgresOptions`]: where to connect and how long to wait.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::InputLimits;
use crate::redact;
use crate::settings::names::check_schema;

/// Whether connections use TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (the default).
    #[default]
    Disable,
    /// TLS, verifying the server against the webpki roots (feature `postgres-tls`).
    Require,
}

/// How a [`PostgresStorage`](super::PostgresStorage) connects. `Debug` hides the password (see
/// [`redact::postgres`]).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database?…`, or a key=value connection string
    /// (`host=… user=… password=…`): whatever tokio-postgres reads.
    pub url: String,
    /// The schema holding this agent's tables (created if missing), so that several agents can
    /// share one database. `None`: the `public` schema.
    pub schema: Option<String>,
    /// Connections in the pool at most.
    pub pool_size: usize,
    /// How long a call waits for a free pooled connection before failing (transient).
    pub wait_timeout: Duration,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long one operation may take once it has a connection: a stalled server gives an
    /// (uncertain) timeout instead of a hang. The server also cancels statements after it.
    pub request_timeout: Duration,
    /// TLS or not.
    pub tls: TlsMode,
    /// What the storage accepts (the same rule on every backend).
    pub limits: InputLimits,
}

impl PostgresOptions {
    /// Options for `url` with the defaults: 16 connections, 5 s pool wait and connect, 30 s per
    /// operation, no TLS (unless the URL says `sslmode=require`), the `public` schema.
    pub fn from_url(url: &str) -> Result<Self> {
        let config = parse(url)?;
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => TlsMode::Require,
            _ => TlsMode::Disable,
        };
        Ok(Self {
            url: url.to_owned(),
            schema: None,
            pool_size: 16,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            tls,
            limits: InputLimits::default(),
        })
    }

    /// The same options in `schema`.
    pub fn in_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The URL as the driver reads it, with its password replaced by `***` (see
    /// [`redact::postgres`]), for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact::postgres(&self.url)
    }

    /// The schema, checked to be a plain identifier (it is written into SQL).
    pub(crate) fn schema_name(&self) -> Result<&str> {
        let Some(schema) = self.schema.as_deref() else { return Ok("public") };
        check_schema(schema).map_err(|reason| Error::Invalid { what: "PostgreSQL schema", reason })?;
        Ok(schema)
    }

    /// The driver configuration: timeouts, keepalives, and the schema as the search path.
    pub(crate) fn driver_config(&self) -> Result<tokio_postgres::Config> {
        let mut config = parse(&self.url)?;
        let schema = self.schema_name()?;
        // A little above our own timeout, so that a slow statement surfaces as our (uncertain)
        // timeout rather than racing it as a server-side cancel.
        let statement_timeout = (self.request_timeout + Duration::from_secs(1)).as_millis();
        config
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .options(format!("-c search_path=\"{schema}\" -c statement_timeout={statement_timeout}"))
            .application_name("bindu");
        if self.tls == TlsMode::Require {
            // Without this tokio-postgres would accept a server that offers no TLS (`prefer`).
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        Ok(config)
    }
}

/// The driver's reading of `url`; an error shows neither the value nor pieces of it.
fn parse(url: &str) -> Result<tokio_postgres::Config> {
    tokio_postgres::Config::from_str(url).map_err(|err| Error::Invalid {
        what: "PostgreSQL URL",
        reason: format!("{}: {}", redact::postgres(url), redact::postgres_parse_error(&err)),
    })
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("wait_timeout", &self.wait_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_hide_the_password() {
        let options = PostgresOptions::from_url("postgres://bindu:hunter2@db:5432/app").unwrap();
        assert!(!format!("{options:?}").contains("hunter2"));
        let err =
            PostgresOptions::from_url("postgres://bindu:hunter2@db:notaport/app").unwrap_err().to_string();
        assert!(!err.contains("hunter2") && err.contains("PostgreSQL URL"), "{err}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        let options = PostgresOptions::from_url("postgres://u@h/db").unwrap();
        assert_eq!(options.schema_name().unwrap(), "public");
        assert_eq!(options.clone().in_schema("agent_7").schema_name().unwrap(), "agent_7");
        for bad in ["", "Agent", "7agent", "a-b", "a;drop", &"x".repeat(64)] {
            assert!(options.clone().in_schema(bad).schema_name().is_err(), "{bad}");
        }
    }

    #[test]
    fn sslmode_require_turns_tls_on() {
        assert_eq!(
            PostgresOptions::from_url("postgres://u@h/db?sslmode=require").unwrap().tls,
            TlsMode::Require
        );
        assert_eq!(PostgresOptions::from_url("postgres://u@h/db").unwrap().tls, TlsMode::Disable);
    }
}
