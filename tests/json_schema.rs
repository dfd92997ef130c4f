//! The JSON contract: docs/check.schema.json is generated from the types, is current, and real
//! output (live and from every fixture) validates against it.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn committed_schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/check.schema.json"))
        .expect("the committed schema is JSON")
}

fn validate(schema: &serde_json::Value, instance: &serde_json::Value, what: &str) {
    let validator = jsonschema::validator_for(schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema: {errors:#?}"
    );
}

#[test]
fn committed_schema_is_current() {
    let out = Command::new(sandprobe()).arg("schema").output().unwrap();
    assert!(out.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        generated,
        committed_schema(),
        "docs/check.schema.json is stale: run `sandprobe schema > docs/check.schema.json`"
    );
}

#[test]
fn live_output_validates() {
    let out = Command::new(sandprobe())
        .args(["check", "--json"])
        .output()
        .unwrap();
    let report = json_of(&out);
    validate(&committed_schema(), &report, "live check --json");
    assert_eq!(report["schema_version"], 1);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in [
        "kernel_version",
        "config_user_ns",
        "max_user_namespaces",
        "unprivileged_userns_clone",
        "apparmor_userns_restriction",
        "userns_trial",
        "root_backed_trial",
    ] {
        assert!(ids.contains(&id), "check id {id} missing from {ids:?}");
    }
    for check in report["checks"].as_array().unwrap() {
        let status = check["status"].as_str().unwrap();
        assert!(["pass", "fail", "warn", "unknown", "skip"].contains(&status));
        assert!(check.get("value").is_some() && check.get("evidence").is_some());
    }
}

#[test]
fn every_fixture_validates() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let schema = committed_schema();
    let mut seen = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("sandprobe-trials.json").exists() {
            continue;
        }
        let out = Command::new(sandprobe())
            .args(["check", "--json", "--root"])
            .arg(&dir)
            .output()
            .unwrap();
        validate(&schema, &json_of(&out), &dir.display().to_string());
        seen += 1;
    }
    assert!(seen >= 18, "expected at least 18 fixtures, found {seen}");
}
