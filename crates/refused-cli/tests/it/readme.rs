//! The project's own documents stand alone and say what the build does: every file they cite
//! is in the repository, the JSON examples of the README are valid outputs, and the contract
//! (docs/contract.md) names every field the schemas hold.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::schema::{Schema, assert_valid};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The documents a reader of the repository is sent to.
const DOCUMENTS: [&str; 4] = [
    "README.md",
    "ARCHITECTURE.md",
    "CHANGELOG.md",
    "docs/contract.md",
];

#[test]
fn the_docs_cite_only_files_in_the_repository() {
    for document in DOCUMENTS {
        let text = read(document);
        let dir = root().join(document).parent().unwrap().to_path_buf();
        // Markdown links to files: `](path)` or `](path#anchor)`, not to the web.
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap();
            let path = target.split('#').next().unwrap();
            if path.is_empty() || path.contains("://") {
                continue;
            }
            assert!(
                dir.join(path).exists(),
                "{document} links to `{target}`, which is not in the repository"
            );
        }
        // Any `NAME.md` it names in the text: the project's other documents.
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "._/-".contains(c))) {
            let Some(stem) = word.strip_suffix(".md") else {
                continue;
            };
            if stem.is_empty() {
                continue;
            }
            let found = [
                root().join(word),
                dir.join(word),
                root().join("docs").join(word),
            ]
            .iter()
            .any(|p| p.exists());
            assert!(
                found,
                "{document} cites `{word}`, which is not in the repository"
            );
        }
    }
}

#[test]
fn the_readmes_json_examples_are_valid_outputs() {
    let readme = read("README.md");
    let mut checked = 0;
    for line in readme.lines() {
        let line = line.trim();
        if !line.starts_with("{\"schema_version\"") {
            continue;
        }
        let value: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        // A wait event has `at_ms` or is a timeout; a check line neither.
        let schema = if value.get("at_ms").is_some() || value["kind"] == "timeout" {
            Schema::Wait
        } else if value["kind"] == "probe" {
            Schema::Check
        } else if value.get("cause").is_some() {
            Schema::Why
        } else {
            Schema::Scan
        };
        assert_valid(schema, &value);
        checked += 1;
    }
    assert!(checked >= 4, "the README shows check's and wait's JSON");
}

/// Every property name in a schema.
fn property_names(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                names.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| property_names(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| property_names(v, names)),
        _ => {}
    }
}

#[test]
fn the_contract_names_every_field_of_the_schemas() {
    let contract = read("docs/contract.md");
    let mut names = BTreeSet::new();
    for schema in ["why", "check", "wait", "scan"] {
        let text = read(&format!("schemas/{schema}.json"));
        property_names(&serde_json::from_str(&text).unwrap(), &mut names);
    }
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| !contract.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/contract.md does not name {missing:?}"
    );
}
