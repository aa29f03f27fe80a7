//! Which webhook URLs are accepted, and the one part of them that may be logged.

use std::fmt;

use reqwest::Url;

use crate::error::{Error, Result};

/// A webhook URL that may be POSTed to: `http` or `https`, with a host and no credentials.
///
/// Only [`host`](WebhookUrl::host) is ever logged or shown: webhook paths often carry secrets
/// (many services put the key in the path), so neither `Debug` nor any error shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: Url,
    host: String,
}

impl WebhookUrl {
    /// Checks `url`. [`Error::Invalid`] for anything but an absolute `http`/`https` URL with a
    /// host, and for a URL with a user or password in it (send a token instead: it travels as a
    /// bearer header and is never logged). The error names the scheme and host only.
    pub fn parse(url: &str) -> Result<Self> {
        let parsed = Url::parse(url).map_err(|err| invalid(format!("not an absolute URL ({err})")))?;
        let shown = || format!("{}://{}/…", parsed.scheme(), parsed.host_str().unwrap_or(""));
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!("{}: only http and https webhooks are accepted", shown())));
        }
        let Some(host) = parsed.host_str().filter(|host| !host.is_empty()) else {
            return Err(invalid(format!("{}: no host", shown())));
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(format!(
                "{}: credentials in webhook URLs are not accepted; set the config's token instead",
                shown()
            )));
        }
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Self { url: parsed, host })
    }

    /// `host` or `host:port`: the only part of the URL that is logged.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The full URL, for sending only.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({}://{}/…)", self.url.scheme(), self.host)
    }
}

fn invalid(reason: String) -> Error {
    Error::Invalid { what: "webhook url", reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https_and_logs_only_the_host() {
        let url = WebhookUrl::parse("https://hooks.example.org/services/T000/B000/s3cr3t?x=1").unwrap();
        assert_eq!(url.host(), "hooks.example.org");
        assert_eq!(format!("{url:?}"), "WebhookUrl(https://hooks.example.org/…)");
        assert_eq!(WebhookUrl::parse("http://127.0.0.1:8080/hook").unwrap().host(), "127.0.0.1:8080");
        assert_eq!(WebhookUrl::parse("http://[::1]:9/").unwrap().host(), "[::1]:9");
    }

    #[test]
    fn rejects_other_schemes_without_showing_the_path() {
        for url in ["ftp://files.example.org/secret-path", "file:///etc/passwd", "javascript:alert(1)"] {
            let err = WebhookUrl::parse(url).unwrap_err();
            assert!(matches!(err, Error::Invalid { what: "webhook url", .. }), "{err}");
            let message = err.to_string();
            assert!(message.contains("only http and https"), "{message}");
            assert!(!message.contains("secret-path") && !message.contains("passwd"), "{message}");
        }
    }

    #[test]
    fn rejects_relative_urls_and_credentials() {
        let err = WebhookUrl::parse("/hook").unwrap_err().to_string();
        assert!(err.contains("not an absolute URL"), "{err}");
        let err = WebhookUrl::parse("https://user:hunter2@example.org/hook").unwrap_err().to_string();
        assert!(err.contains("credentials") && !err.contains("hunter2") && !err.contains("user"), "{err}");
        assert!(WebhookUrl::parse("https://user@example.org/hook").is_err());
    }
}
