//! End-to-end tests of `esql` rules of other integrations (Okta, Entra ID): their `FROM`
//! selects documents by dataset, so ECS documents of those integrations given as JSON input
//! (hand-written here, field names as Elastic's integrations produce them) reach the rule and
//! CloudTrail's or other datasets' documents do not. Rules are read from the corpus at run
//! time; the tests skip when it is absent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tripline_doc::{time, Document, Event, Origin};
use tripline_rules::Rule;

use crate::compile::{compile_rule, CompileContext};
use crate::detector::AlertDraft;
use crate::runner::{Runner, RunnerConfig};

fn load(rel: &str) -> Option<Arc<Rule>> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/detection-rules/rules/integrations")
        .join(rel);
    if !p.is_file() {
        eprintln!("corpus absent: skipped");
        return None;
    }
    Some(Arc::new(
        Rule::load(&p).unwrap_or_else(|e| panic!("{rel}: {e}")),
    ))
}

const BASE: &str = "2024-06-03T10:00:00Z";

fn at(secs: i64) -> String {
    time::format_millis(time::parse_millis(BASE).unwrap_or(0) + secs * 1000)
}

fn alerts(rule: &Arc<Rule>, docs: Vec<Value>) -> Vec<AlertDraft> {
    let det = compile_rule(rule, &CompileContext::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut runner = Runner::new(vec![det], RunnerConfig::default());
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let mut doc = Document(d.as_object().cloned().unwrap_or_default());
        if !doc.exists("event.id") {
            doc.set("event.id", json!(format!("evt-{i:05}")));
        }
        let timestamp = doc
            .first("@timestamp")
            .and_then(time::value_to_millis)
            .unwrap_or(0);
        runner.push(
            Arc::new(Event {
                doc,
                timestamp,
                origin: Origin {
                    file: "other.ndjson".into(),
                    record: i as u64 + 1,
                    line: None,
                },
                seq: i as u64,
            }),
            &mut out,
        );
    }
    runner.finish(&mut out);
    out
}

fn field<'a>(a: &'a AlertDraft, name: &str) -> &'a Value {
    a.fields
        .as_ref()
        .and_then(|f| f.get(name))
        .unwrap_or(&Value::Null)
}

/// An Okta System Log session start, as the Okta integration maps it.
fn okta_session(secs: i64, actor: &str, country: &str, proxy: bool) -> Value {
    json!({
        "@timestamp": at(secs),
        "data_stream": {"dataset": "okta.system", "namespace": "default", "type": "logs"},
        "event": {"action": "user.session.start", "outcome": "success", "ingested": at(secs + 5), "category": ["authentication", "session"]},
        "okta": {
            "actor": {"id": format!("00u{actor}"), "alternate_id": format!("{actor}@example.com"), "type": "User"},
            "security_context": {"is_proxy": proxy},
            "outcome": {"result": "SUCCESS"},
        },
        "client": {"geo": {"country_name": country}},
        "user": {"name": format!("{actor}@example.com")},
    })
}

#[test]
fn okta_sessions_from_different_countries() {
    let Some(rule) =
        load("okta/initial_access_okta_user_sessions_started_from_different_geolocations.toml")
    else {
        return;
    };
    let pos = alerts(
        &rule,
        vec![
            okta_session(60, "alice", "United States", false),
            okta_session(120, "alice", "Romania", false),
            okta_session(130, "bob", "United States", false),
        ],
    );
    assert_eq!(
        pos.len(),
        1,
        "{:?}",
        pos.iter().map(|a| &a.fields).collect::<Vec<_>>()
    );
    assert_eq!(
        field(&pos[0], "okta.actor.alternate_id"),
        &json!("alice@example.com")
    );
    assert_eq!(
        field(&pos[0], "Esql.client_geo_country_name_count_distinct"),
        &json!(2)
    );
    // Near misses: the second country through a proxy; the same second session given as a
    // document of another dataset (the rule's FROM logs-okta* does not read it).
    let proxied = alerts(
        &rule,
        vec![
            okta_session(60, "alice", "United States", false),
            okta_session(120, "alice", "Romania", true),
        ],
    );
    assert!(proxied.is_empty());
    let mut other = okta_session(120, "alice", "Romania", false);
    other["data_stream"]["dataset"] = json!("aws.cloudtrail");
    let mut no_dataset = okta_session(125, "alice", "Germany", false);
    no_dataset.as_object_mut().map(|m| m.remove("data_stream"));
    let mixed = alerts(
        &rule,
        vec![
            okta_session(60, "alice", "United States", false),
            other,
            no_dataset,
        ],
    );
    assert!(mixed.is_empty(), "{:?}", mixed[0].fields);
}

/// An Entra ID audit log "Update application" changing federated identity credentials, as
/// the Azure integration maps it (array items flattened into `0`-keyed objects; the values
/// are JSON text with escaped quotes).
fn entra_fic_update(secs: i64, dataset: &str, old_issuer: &str, new_issuer: &str) -> Value {
    let val = |issuer: &str| {
        format!(
            r#"[{{\"Name\":\"deploy\",\"Issuer\":\"{issuer}\",\"Subject\":\"repo:acme/app:ref:refs/heads/main\"}}]"#
        )
    };
    json!({
        "@timestamp": at(secs),
        "data_stream": {"dataset": dataset, "namespace": "default", "type": "logs"},
        "event": {"action": "Update application", "outcome": "success", "ingested": at(secs + 5)},
        "azure": {"auditlogs": {"properties": {"target_resources": {"0": {
            "display_name": "payments-app",
            "modified_properties": {"0": {
                "display_name": "FederatedIdentityCredentials",
                "old_value": val(old_issuer),
                "new_value": val(new_issuer),
            }},
        }}}}},
        "cloud": {"provider": "azure"},
    })
}

#[test]
fn entra_federated_issuer_modified() {
    let Some(rule) =
        load("azure/persistence_entra_id_service_principal_federated_issuer_modified.toml")
    else {
        return;
    };
    let gh = "https://token.actions.githubusercontent.com";
    let evil = "https://idp.attacker.example";
    let pos = alerts(
        &rule,
        vec![entra_fic_update(60, "azure.auditlogs", gh, evil)],
    );
    assert_eq!(pos.len(), 1);
    assert_eq!(field(&pos[0], "Esql.external_idp_old_issuer"), &json!(gh));
    assert_eq!(field(&pos[0], "Esql.external_idp_new_issuer"), &json!(evil));
    assert_eq!(
        field(&pos[0], "_index"),
        &json!("logs-azure.auditlogs-default")
    );
    assert_eq!(pos[0].events.len(), 1);
    // Near misses: the issuer unchanged; the same change in another Azure dataset.
    assert!(alerts(&rule, vec![entra_fic_update(60, "azure.auditlogs", gh, gh)]).is_empty());
    assert!(alerts(
        &rule,
        vec![entra_fic_update(60, "azure.signinlogs", gh, evil)]
    )
    .is_empty());
}
