//! `.env.example` documents every setting with its real default.

use std::collections::HashMap;

use bindu::settings::Env;
use bindu::settings::{RetentionSettings, WorkerSettings};
use bindu::{AppSettings, RetrySettings};

fn example() -> HashMap<String, String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn lists_every_retry_variable_with_its_default() {
    let vars = example();
    for name in RetrySettings::VARIABLES {
        assert!(vars.contains_key(name), ".env.example lacks {name}");
    }
    let parsed = RetrySettings::from(&Env::from_lookup(|name| vars.get(name).cloned())).unwrap();
    assert_eq!(parsed, RetrySettings::default());
}

#[test]
fn every_line_explains_itself() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if !line.starts_with('#') && line.contains('=') {
            assert!(index > 0 && lines[index - 1].starts_with('#'), "no comment above {line}");
        }
    }
}

#[test]
fn documents_every_app_variable_and_parses() {
    let vars = example();
    for name in
        AppSettings::VARIABLES.iter().chain(&WorkerSettings::VARIABLES).chain(&RetentionSettings::VARIABLES)
    {
        assert!(vars.contains_key(*name), ".env.example lacks {name}");
    }
    let parsed = AppSettings::from(&Env::from_lookup(|name| vars.get(name).cloned())).unwrap();
    assert_eq!(parsed.worker, WorkerSettings::default());
    assert_eq!(parsed.input, bindu::InputLimits::default());
    assert_eq!(parsed.retention, RetentionSettings::default());
    assert_eq!(parsed.storage, bindu::settings::StorageBackend::Memory);
    assert_eq!(parsed.scheduler, bindu::settings::SchedulerBackend::Memory);
}

#[test]
fn the_readme_table_lists_every_app_variable() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for name in AppSettings::VARIABLES.iter().chain(&WorkerSettings::VARIABLES) {
        assert!(readme.contains(&format!("| `{name}` |")), "the README's table lacks {name}");
    }
}
