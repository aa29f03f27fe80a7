//! PostgreSQL connection values shown from tokio-postgres' own parse.

use std::fmt::Write;
use std::net::IpAddr;
use std::str::FromStr;

use tokio_postgres::Config;
use tokio_postgres::config::Host;

/// The options a connection string may name (tokio-postgres refuses any other): the only words
/// of a parse error worth quoting back.
const OPTIONS: [&str; 19] = [
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// What tokio-postgres reads from `value`, without the password; `None` when it cannot be read,
/// or its reading may have put a piece of a secret where a host or user goes.
pub(super) fn render(value: &str) -> Option<String> {
    let config = Config::from_str(value).ok()?;
    // The driver's test: anything else is a key=value string.
    let scheme = ["postgres://", "postgresql://"].into_iter().find(|scheme| value.starts_with(scheme));
    let shown = match scheme {
        Some(scheme) => {
            // The driver ends the userinfo at the first `@`: a second one is part of a password
            // (or a query value) that it has taken for the host.
            let rest = &value[scheme.len()..];
            let userinfo = rest.split_once('@').map(|(userinfo, _)| userinfo);
            if rest.matches('@').count() > 1 || userinfo.is_some_and(super::ambiguous_userinfo) {
                return None;
            }
            url(scheme, &config)
        }
        None => key_values(&config),
    };
    (!super::shows(&shown, config.get_password())).then_some(shown)
}

/// `scheme://user:***@host:port,…/dbname`.
fn url(scheme: &str, config: &Config) -> String {
    let mut out = scheme.to_owned();
    let user = config.get_user().map(super::encode).unwrap_or_default();
    match config.get_password() {
        Some(_) => {
            let _ = write!(out, "{user}:***@");
        }
        None if !user.is_empty() => {
            let _ = write!(out, "{user}@");
        }
        None => {}
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = hosts(config)
        .into_iter()
        .enumerate()
        .map(|(i, host)| {
            let host = if host.contains(':') { format!("[{host}]") } else { super::encode(&host) };
            // As the driver connects: the host's own port, else the first, else the default.
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    out.push_str(&hosts.join(","));
    if let Some(dbname) = config.get_dbname() {
        let _ = write!(out, "/{}", super::encode(dbname));
    }
    out
}

/// `host=… hostaddr=… port=… user=… password=*** dbname=…`, with what was set.
fn key_values(config: &Config) -> String {
    let join = |items: Vec<String>| (!items.is_empty()).then(|| items.join(","));
    let hostaddrs = config.get_hostaddrs().iter().map(IpAddr::to_string).collect();
    let ports = config.get_ports().iter().map(u16::to_string).collect();
    let pairs = [
        ("host", join(names(config))),
        ("hostaddr", join(hostaddrs)),
        ("port", join(ports)),
        ("user", config.get_user().map(quote)),
        ("password", config.get_password().map(|_| "***".to_owned())),
        ("dbname", config.get_dbname().map(quote)),
    ];
    let shown: Vec<String> =
        pairs.into_iter().filter_map(|(key, value)| Some(format!("{key}={}", value?))).collect();
    shown.join(" ")
}

/// The hosts by name, else by address.
fn hosts(config: &Config) -> Vec<String> {
    let names = names(config);
    if names.is_empty() { config.get_hostaddrs().iter().map(IpAddr::to_string).collect() } else { names }
}

fn names(config: &Config) -> Vec<String> {
    config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.to_string_lossy().into_owned(),
        })
        .collect()
}

/// A key=value value, quoted when it must be.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The text of a driver error about a connection value, its causes included, with anything it
/// quotes from the value (an unknown option's name, an unexpected character: either may be a
/// piece of a password holding a space) replaced by `…`, unless it is the name of an option.
pub(crate) fn parse_error(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(current) = cause {
        let _ = write!(text, ": {current}");
        cause = current.source();
    }
    let mut out = String::with_capacity(text.len());
    let mut pieces = text.split('`');
    out.push_str(pieces.next().unwrap_or_default());
    for (i, piece) in pieces.enumerate() {
        out.push('`');
        // Odd pieces sit between two backticks.
        let quoted = i % 2 == 0;
        if quoted && !OPTIONS.contains(&piece) && piece != "=" {
            out.push('…');
        } else {
            out.push_str(piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::postgres as shown;
    use super::*;

    /// Every form tokio-postgres reads, with what is shown for it.
    #[test]
    fn every_form_is_shown_from_the_driver_s_parse() {
        let table = [
            ("postgres://u:Pw7q@db:5432/app", "postgres://u:***@db:5432/app"),
            ("postgresql://u:Pw7q@db/app", "postgresql://u:***@db:5432/app"),
            // Percent-encoded, and raw URL delimiters (the driver ends the userinfo at an `@`).
            ("postgres://u:Pw%2F7%3Fq%23%40@db/app", "postgres://u:***@db:5432/app"),
            ("postgres://u:Pw/7?q#x@db/app", "postgres://u:***@db:5432/app"),
            ("postgres://u%40corp:Pw7q@db/app", "postgres://u%40corp:***@db:5432/app"),
            ("postgres://:Pw7q@db/app", "postgres://:***@db:5432/app"),
            ("postgres://u@[::1]:6432/app", "postgres://u@[::1]:6432/app"),
            ("postgres://u:Pw7q@[2001:db8::5]/app", "postgres://u:***@[2001:db8::5]:5432/app"),
            ("postgres://u:Pw7q@h1:5433,h2:5434/app", "postgres://u:***@h1:5433,h2:5434/app"),
            ("postgres://u@db/app?password=Pw7q&sslmode=require", "postgres://u:***@db:5432/app"),
            ("postgres://u@db/app?password=Pw%267q", "postgres://u:***@db:5432/app"),
            ("postgres://u@%2Fvar%2Frun%2Fpg/app", "postgres://u@%2Fvar%2Frun%2Fpg:5432/app"),
            ("postgres:///app?host=/run/pg&password=Pw7q", "postgres://:***@%2Frun%2Fpg/app"),
            ("host=db user=u password=Pw7q dbname=app", "host=db user=u password=*** dbname=app"),
            ("host=db port=5433 password='Pw 7q'", "host=db port=5433 password=***"),
            (r"password='it\'s Pw7q' user='a b' host=h1,h2", r"host=h1,h2 user='a b' password=***"),
            (r"password=Pw\ 7q hostaddr=10.0.0.1", "hostaddr=10.0.0.1 password=***"),
        ];
        for (value, expected) in table {
            assert_eq!(shown(value), expected, "{value}");
        }
    }

    /// Values the driver cannot read, or whose reading may have put a piece of a secret where a
    /// host or user goes: only the scheme is left.
    #[test]
    fn doubtful_values_are_hidden_whole() {
        let table = [
            // A raw `@` in the password: the driver takes `ss@db` for the host.
            ("postgres://u:Pw@ss@db/app", "postgres://***"),
            // An `@` in a query value: the driver takes `db/app?password=Pw` for the user.
            ("postgres://db/app?password=Pw@7q", "postgres://***"),
            ("postgres://db:5432/app?password=Pw@7q", "postgres://***"),
            // Not readable at all.
            ("postgres://u:Pw7q@db:port/app", "postgres://***"),
            ("host=db password=Pw 7q", "***"),
            ("host=db password='Pw7q", "***"),
            ("host=db pasword=Pw7q", "***"),
            // A password that also names the host.
            ("postgres://u:db@db/app", "postgres://***"),
        ];
        for (value, expected) in table {
            assert_eq!(shown(value), expected, "{value}");
        }
    }

    #[test]
    fn parse_errors_quote_only_option_names() {
        let text = |value: &str| parse_error(&Config::from_str(value).unwrap_err());
        assert_eq!(text("host=db pass7q=x"), "invalid connection string: unknown option `…`");
        assert_eq!(
            text("postgres://db:p7q/app"),
            "invalid connection string: invalid value for option `port`"
        );
        let unexpected = text("host=db password=a b7q c");
        assert!(
            !unexpected.contains("b7q") && unexpected.contains("expected `=` but got `…`"),
            "{unexpected}"
        );
    }
}
