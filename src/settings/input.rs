//! `INPUT_*`: the [`InputLimits`] every storage backend applies, within bounds.

use super::Env;
use crate::error::Result;
use crate::model::InputLimits;

/// The variables read here (their bounds are in [`AppSettings`](super::AppSettings)'s table).
pub(super) const VARIABLES: [&str; 4] =
    ["INPUT_MAX_MESSAGE_BYTES", "INPUT_MAX_PARTS", "INPUT_MAX_METADATA_BYTES", "INPUT_MAX_DEPTH"];

/// Reads the limits; errors name the variable and its bounds.
pub(super) fn limits(env: &Env<'_>) -> Result<InputLimits> {
    let defaults = InputLimits::default();
    let count = |name, default: usize, min, max| -> Result<usize> {
        // The defaults and bounds are all far below u32::MAX.
        Ok(env.count(name, default as u32, min, max)? as usize)
    };
    Ok(InputLimits {
        message_bytes: count("INPUT_MAX_MESSAGE_BYTES", defaults.message_bytes, 1 << 10, 64 << 20)?,
        parts: count("INPUT_MAX_PARTS", defaults.parts, 1, 10_000)?,
        metadata_bytes: count("INPUT_MAX_METADATA_BYTES", defaults.metadata_bytes, 256, 16 << 20)?,
        // Below 8 not even a plain message with metadata fits; above the model's own ceiling JSON
        // decoders could not read it back.
        depth: count("INPUT_MAX_DEPTH", defaults.depth, 8, InputLimits::MAX_DEPTH as u32)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<InputLimits> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        limits(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    #[test]
    fn defaults_are_the_model_s_and_values_are_bounded() {
        assert_eq!(read(&[]).unwrap(), InputLimits::default());
        let set = read(&[("INPUT_MAX_PARTS", "16"), ("INPUT_MAX_DEPTH", "100")]).unwrap();
        assert_eq!((set.parts, set.depth), (16, 100));
        set.validate().unwrap();
        let cases = [
            ("INPUT_MAX_MESSAGE_BYTES", "100", "from 1024 to 67108864"),
            ("INPUT_MAX_MESSAGE_BYTES", "1e9", "from 1024 to 67108864"),
            ("INPUT_MAX_PARTS", "0", "from 1 to 10000"),
            ("INPUT_MAX_METADATA_BYTES", "99999999999", "from 256 to 16777216"),
            ("INPUT_MAX_DEPTH", "128", "from 8 to 100"),
        ];
        for (name, value, expected) in cases {
            let err = read(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name}: expected a whole number {expected}")), "{err}");
        }
    }
}
