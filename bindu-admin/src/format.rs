//! How durations and instants read in a table.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// `0.4ms`, `850ms`, `42s`, `3m05s`, `2h07m`, `4d03h`.
pub fn age(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 if duration.is_zero() => "0s".to_owned(),
        // A round trip on a LAN is well under a millisecond.
        0 if duration < Duration::from_millis(10) => format!("{:.1}ms", duration.as_secs_f64() * 1000.0),
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// How long ago `at` was.
pub fn since(at: DateTime<Utc>) -> String {
    format!("{} ago", age((Utc::now() - at).to_std().unwrap_or_default()))
}

/// Seconds with millisecond precision, for JSON.
pub fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        let cases =
            [(0.25, "250ms"), (42.0, "42s"), (185.0, "3m05s"), (7620.0, "2h07m"), (356_400.0, "4d03h")];
        for (secs, text) in cases {
            assert_eq!(age(Duration::from_secs_f64(secs)), text);
        }
    }
}
