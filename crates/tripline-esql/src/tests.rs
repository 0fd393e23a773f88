//! End-to-end query tests over small hand-written documents.

use std::sync::Arc;

use serde_json::json;
use tripline_doc::{time, Document, Event, Origin, SharedEvent};

use crate::*;

fn ev(seq: u64, doc: serde_json::Value) -> SharedEvent {
    let doc = Document(doc.as_object().cloned().unwrap_or_default());
    let timestamp = doc
        .first("@timestamp")
        .and_then(time::value_to_millis)
        .unwrap_or(0);
    Arc::new(Event {
        doc,
        timestamp,
        origin: Origin {
            file: "t.ndjson".into(),
            record: seq + 1,
            line: Some(seq + 1),
        },
        seq,
    })
}

fn run(q: &str, events: &[SharedEvent]) -> Table {
    let now = time::parse_millis("2024-05-01T12:00:00Z").unwrap();
    Query::parse(q)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .execute(events, &ExecContext::at(now))
        .unwrap()
}

fn col(t: &Table, name: &str) -> Vec<serde_json::Value> {
    let i = t
        .column(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns));
    t.rows.iter().map(|r| r[i].to_json()).collect()
}

fn sample() -> Vec<SharedEvent> {
    vec![
        ev(
            0,
            json!({"@timestamp": "2024-05-01T10:00:01Z", "event": {"action": "GetObject", "id": "e0", "provider": "s3.amazonaws.com"}, "user": {"name": "alice"}, "source": {"ip": "10.0.0.1"}, "cloud": {"region": "us-east-1"}}),
        ),
        ev(
            1,
            json!({"@timestamp": "2024-05-01T10:00:05Z", "event": {"action": "ListBuckets", "id": "e1", "provider": "s3.amazonaws.com"}, "user": {"name": "alice"}, "source": {"ip": "10.0.0.2"}, "cloud": {"region": "us-west-2"}}),
        ),
        ev(
            2,
            json!({"@timestamp": "2024-05-01T10:00:40Z", "event": {"action": "GetObject", "id": "e2", "provider": "s3.amazonaws.com", "category": ["file", "iam"]}, "user": {"name": "bob"}, "cloud": {"region": "us-east-1"}}),
        ),
        ev(
            3,
            json!({"@timestamp": "2024-05-01T10:01:00Z", "event": {"action": "CreateUser", "id": "e3", "provider": "iam.amazonaws.com"}, "user": {"name": "bob", "target": {"name": "mallory"}}}),
        ),
    ]
}

#[test]
fn where_eval_keep_sort() {
    let t = run(
        "FROM logs-aws.cloudtrail-* METADATA _id
         | WHERE event.provider == \"s3.amazonaws.com\" AND source.ip IS NOT NULL
         | EVAL who = CONCAT(user.name, \"@\", TO_STRING(source.ip)), n = LENGTH(event.action)
         | KEEP _id, who, n
         | SORT who DESC",
        &sample(),
    );
    assert_eq!(
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["_id", "who", "n"]
    );
    assert_eq!(
        col(&t, "who"),
        vec![json!("alice@10.0.0.2"), json!("alice@10.0.0.1")]
    );
    assert_eq!(col(&t, "_id"), vec![json!("e1"), json!("e0")]);
    assert_eq!(t.row_events, vec![Some(1), Some(0)]);
    assert_eq!(t.columns[2].ty, DataType::Integer);
}

#[test]
fn stats_by_expression_and_date_trunc() {
    let t = run(
        "FROM logs-aws.cloudtrail-*
         | WHERE event.provider == \"s3.amazonaws.com\"
         | STATS c = COUNT(*), regions = COUNT_DISTINCT(cloud.region), acts = VALUES(event.action), first_seen = MIN(@timestamp)
             BY bucket = DATE_TRUNC(30 seconds, @timestamp), user.name
         | SORT bucket",
        &sample(),
    );
    assert_eq!(
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["c", "regions", "acts", "first_seen", "bucket", "user.name"]
    );
    assert_eq!(col(&t, "c"), vec![json!(2), json!(1)]);
    assert_eq!(col(&t, "regions"), vec![json!(2), json!(1)]);
    assert_eq!(col(&t, "acts")[0], json!(["GetObject", "ListBuckets"]));
    assert_eq!(
        col(&t, "bucket"),
        vec![
            json!("2024-05-01T10:00:00.000Z"),
            json!("2024-05-01T10:00:30.000Z")
        ]
    );
    assert_eq!(col(&t, "first_seen")[0], json!("2024-05-01T10:00:01.000Z"));
    assert!(t.row_events.iter().all(|r| r.is_none()));
    assert_eq!(t.column("c").map(|i| t.columns[i].ty), Some(DataType::Long));
}

#[test]
fn multivalued_fields_and_nulls() {
    // event.category is multi-valued on e2: equality yields null, so the row is dropped.
    let t = run(
        "FROM logs-aws.cloudtrail-* | WHERE event.category == \"file\" | KEEP event.id",
        &sample(),
    );
    assert_eq!(t.rows.len(), 0);
    let t = run(
        "FROM logs-aws.cloudtrail-* | WHERE MV_COUNT(event.category) == 2 | KEEP event.id",
        &sample(),
    );
    assert_eq!(col(&t, "event.id"), vec![json!("e2")]);
    // Null comparisons are not true; IS NULL sees absent fields.
    let t = run(
        "FROM logs-aws.cloudtrail-* | WHERE source.ip IS NULL | STATS c = COUNT(*)",
        &sample(),
    );
    assert_eq!(col(&t, "c"), vec![json!(2)]);
    let t = run(
        "FROM logs-aws.cloudtrail-* | WHERE NOT source.ip == \"10.0.0.1\" | STATS c = COUNT(*)",
        &sample(),
    );
    assert_eq!(col(&t, "c"), vec![json!(1)]);
    // STATS by a multi-valued key counts the row in each group.
    let t = run(
        "FROM logs-aws.cloudtrail-* | STATS c = COUNT(*) BY event.category | SORT event.category",
        &sample(),
    );
    assert_eq!(
        col(&t, "event.category"),
        vec![json!("file"), json!("iam"), json!(null)]
    );
    assert_eq!(col(&t, "c"), vec![json!(1), json!(1), json!(3)]);
}

#[test]
fn grok_dissect_mv_expand_rename_drop() {
    let events = vec![ev(
        0,
        json!({"@timestamp": "2024-05-01T10:00:00Z", "aws": {"cloudtrail": {"request_parameters": "{serviceCode=ec2, quotaCode=L-1216C47A}", "user_identity": {"arn": "arn:aws:iam::123456789012:user/x"}}}, "tags": ["a", "b"]}),
    )];
    let t = run(
        "FROM logs-aws.cloudtrail-*
         | DISSECT aws.cloudtrail.request_parameters \"{%{?k}=%{svc}, %{?q}=%{quota}}\"
         | GROK aws.cloudtrail.user_identity.arn \"\"\":(?<acct>[0-9]{12}):\"\"\"
         | MV_EXPAND tags
         | RENAME svc AS service
         | KEEP service, quota, acct, tags
         | DROP quota",
        &events,
    );
    assert_eq!(
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["service", "acct", "tags"]
    );
    assert_eq!(col(&t, "tags"), vec![json!("a"), json!("b")]);
    assert_eq!(col(&t, "service"), vec![json!("ec2"), json!("ec2")]);
    assert_eq!(col(&t, "acct")[0], json!("123456789012"));
}

#[test]
fn case_in_like_rlike_and_arithmetic() {
    let t = run(
        "ROW a = 7, s = \"GetObject\", d = TO_DATETIME(\"2024-05-01T10:00:00Z\")
         | EVAL k = CASE(a > 5, \"big\", \"small\"), r = a / 2, f = a / 2.0, m = a % 4,
                in1 = s IN (\"PutObject\", \"GetObject\"), lk = s LIKE \"Get*\", rl = s RLIKE \"get.*\",
                later = d + 90 minutes, back = d - 1 month, diff = DATE_DIFF(\"minutes\", d, d + 1 hour),
                nul = null + 1, ci = TO_LOWER(s) LIKE \"get*\"",
        &[],
    );
    let row = t.row_object(0);
    assert_eq!(row["k"], json!("big"));
    assert_eq!(row["r"], json!(3));
    assert_eq!(row["f"], json!(3.5));
    assert_eq!(row["m"], json!(3));
    assert_eq!(row["in1"], json!(true));
    assert_eq!(row["lk"], json!(true));
    assert_eq!(row["rl"], json!(false));
    assert_eq!(row["ci"], json!(true));
    assert_eq!(row["later"], json!("2024-05-01T11:30:00.000Z"));
    assert_eq!(row["back"], json!("2024-04-01T10:00:00.000Z"));
    assert_eq!(row["diff"], json!(60));
    assert!(
        !row.contains_key("nul"),
        "nulls are omitted from row objects"
    );
}

#[test]
fn now_and_default_limit() {
    let events: Vec<SharedEvent> = (0..1500)
        .map(|i| {
            ev(
                i,
                json!({"@timestamp": time::format_millis(1_700_000_000_000 + i as i64 * 1000)}),
            )
        })
        .collect();
    let q = Query::parse(
        "FROM logs-aws.cloudtrail-* | WHERE @timestamp >= NOW() - 10 minutes | KEEP @timestamp",
    )
    .unwrap();
    let now = 1_700_000_000_000 + 1500 * 1000;
    let t = q.execute(&events, &ExecContext::at(now)).unwrap();
    assert_eq!(t.rows.len(), 600);
    let t = Query::parse("FROM logs-aws.cloudtrail-* | KEEP @timestamp")
        .unwrap()
        .execute(&events, &ExecContext::at(now))
        .unwrap();
    assert_eq!(t.rows.len(), 1000);
    let t = Query::parse("FROM logs-aws.cloudtrail-* | LIMIT 5")
        .unwrap()
        .execute(&events, &ExecContext::at(now))
        .unwrap();
    assert_eq!(t.rows.len(), 5);
}

#[test]
fn stats_filters_first_last_and_post_agg_expressions() {
    let t = run(
        "FROM logs-aws.cloudtrail-*
         | STATS gets = COUNT(*) WHERE event.action == \"GetObject\",
                 users = VALUES(user.name) WHERE event.provider == \"iam.amazonaws.com\",
                 last_action = LAST(event.action, @timestamp),
                 ratio = ROUND(COUNT(*) / 3.0, 2)",
        &sample(),
    );
    let r = t.row_object(0);
    assert_eq!(r["gets"], json!(2));
    assert_eq!(r["users"], json!("bob"));
    assert_eq!(r["last_action"], json!("CreateUser"));
    assert_eq!(r["ratio"], json!(1.33));
}

#[test]
fn dataset_constants_and_metadata() {
    let t = run(
        "FROM logs-aws.cloudtrail-* METADATA _id, _index, _version | WHERE data_stream.dataset == \"aws.cloudtrail\" | KEEP _id, _index, _version, event.dataset | LIMIT 1",
        &sample(),
    );
    let r = t.row_object(0);
    assert_eq!(r["_id"], json!("e0"));
    assert_eq!(r["_index"], json!("logs-aws.cloudtrail-default"));
    assert_eq!(r["_version"], json!(1));
    assert_eq!(r["event.dataset"], json!("aws.cloudtrail"));
    let no_id = ev(9, json!({"@timestamp": "2024-05-01T10:00:00Z"}));
    let t = run(
        "FROM logs-aws.cloudtrail-* METADATA _id | KEEP _id",
        &[no_id],
    );
    assert_eq!(col(&t, "_id"), vec![json!("t.ndjson#10")]);
}

#[test]
fn verification_and_index_errors() {
    let e = Query::parse("FROM metrics-* | WHERE x == 1").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownIndex);
    assert_eq!((e.line, e.col), (1, 6));
    assert!(e.message.contains("[metrics-*]"), "{e}");
    assert!(Query::parse("FROM .alerts-security.* | WHERE x == 1").is_ok());
    let e = Query::parse("FROM logs-aws.cloudtrail-*\n| STATS c = COUNT(*) BY user.name\n| WHERE event.action == \"x\"").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Verification);
    assert_eq!((e.line, e.col), (3, 9));
    assert!(e.message.contains("Unknown column [event.action]"));
    let e = Query::parse("FROM logs-* | KEEP a | EVAL b = c").unwrap_err();
    assert!(e.message.contains("[c]"));
    assert!(Query::parse("FROM logs-* | KEEP a.* | EVAL b = a.x").is_ok());
    assert!(Query::parse("FROM logs-* | KEEP a.* | EVAL b = c.x").is_err());
    assert!(Query::parse("FROM logs-*, -logs-aws.cloudtrail-*").is_ok());
    assert!(Query::parse("FROM -logs-*").is_err());
    let opts = ParseOptions {
        allow_any_index: true,
        ..Default::default()
    };
    // Accepted for syntax checks, then reads every event given.
    let q = Query::parse_with("FROM winlogbeat-* | KEEP event.id", &opts).unwrap();
    let t = q.execute(&sample(), &ExecContext::at(0)).unwrap();
    assert_eq!(t.rows.len(), 4);
}

#[test]
fn prefilter_and_required_values() {
    let q = Query::parse(
        "FROM logs-aws.cloudtrail-* | EVAL w = DATE_TRUNC(1 minute, @timestamp)
         | WHERE event.provider IN (\"s3.amazonaws.com\", \"ec2.amazonaws.com\") AND @timestamp > NOW() - 1 hour
         | STATS c = COUNT(*) BY w",
    )
    .unwrap();
    let s = sample();
    // The NOW() condition is not applied at push time; the provider condition is.
    assert!(q.prefilter(&s[0]));
    assert!(!q.prefilter(&s[3]));
    assert_eq!(
        q.required_values("event.provider").map(|v| v.len()),
        Some(2)
    );
    assert_eq!(q.required_values("event.action"), None);
    assert!(q.is_aggregating());
    assert_eq!(q.group_columns(), vec!["w"]);
    assert!(q.uses_now());
    assert!(q.fields().unwrap().contains(&"event.provider".to_string()));
}

#[test]
fn ndjson_and_es_response() {
    let t = run("ROW a = 1, b = null, c = [1, 2]", &[]);
    assert_eq!(t.to_ndjson(), "{\"a\":1,\"c\":[1,2]}\n");
    let _ = t.to_es_response();
}

#[test]
fn kql_function_filters_on_the_source_document() {
    let t = run(
        "FROM logs-aws.cloudtrail-* | WHERE KQL(\"event.action: Get* and not user.name: bob\") | KEEP event.id",
        &sample(),
    );
    assert_eq!(col(&t, "event.id"), vec![json!("e0")]);
    let t = run("FROM logs-aws.cloudtrail-* | WHERE NOT KQL(\"event.provider: s3.amazonaws.com\") | KEEP event.id", &sample());
    assert_eq!(col(&t, "event.id"), vec![json!("e3")]);
    let e = Query::parse("FROM logs-aws.cloudtrail-* | STATS c = COUNT(*) BY user.name | WHERE KQL(\"user.name: x\")").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Verification);
    let e =
        Query::parse("FROM logs-aws.cloudtrail-* | WHERE KQL(\"event.action: (\")").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Kql);
}

/// Documents of several integrations and one alert, as `--input json` would give them.
fn mixed() -> Vec<SharedEvent> {
    vec![
        ev(
            0,
            json!({"@timestamp": "2024-05-01T10:00:00Z", "event": {"id": "ct", "action": "GetObject"}, "user": {"name": "alice"}}),
        ),
        ev(
            1,
            json!({"@timestamp": "2024-05-01T10:00:01Z", "data_stream": {"dataset": "okta.system", "namespace": "prod"}, "event": {"id": "ok", "action": "user.session.start"}, "user": {"name": "alice"}}),
        ),
        ev(
            2,
            json!({"@timestamp": "2024-05-01T10:00:02Z", "event": {"id": "az", "dataset": "azure.signinlogs", "action": "Sign-in activity"}, "user": {"name": "bob"}}),
        ),
        ev(
            3,
            json!({"@timestamp": "2024-05-01T10:00:03Z", "event": {"id": "ct", "kind": "signal", "dataset": "aws.cloudtrail"}, "kibana.alert.uuid": "alert-1", "kibana.alert.rule.name": "R", "user": {"name": "alice"}}),
        ),
    ]
}

#[test]
fn from_selects_events_by_dataset_and_alerts_by_marker() {
    let ids = |q: &str| col(&run(q, &mixed()), "_id");
    assert_eq!(
        ids("FROM logs-aws.cloudtrail-* METADATA _id | KEEP _id"),
        vec![json!("ct")]
    );
    assert_eq!(
        ids("FROM logs-okta* METADATA _id | KEEP _id"),
        vec![json!("ok")]
    );
    assert_eq!(
        ids("FROM logs-azure.signinlogs-* METADATA _id | KEEP _id"),
        vec![json!("az")]
    );
    // Alerts: their _id is the alert uuid, not the copied source event.id.
    assert_eq!(
        ids("FROM .alerts-security.* METADATA _id | KEEP _id"),
        vec![json!("alert-1")]
    );
    assert_eq!(
        ids("FROM .alerts-security.*, logs-okta.system-* METADATA _id | SORT _id | KEEP _id"),
        vec![json!("alert-1"), json!("ok")]
    );
    assert_eq!(
        ids("FROM logs-*, -logs-aws.cloudtrail-* METADATA _id | SORT _id | KEEP _id"),
        vec![json!("az"), json!("ok")]
    );
    // A bare wildcard does not expand to the (hidden) alerts index.
    assert_eq!(ids("FROM * METADATA _id | KEEP _id").len(), 3);
}

#[test]
fn index_metadata_and_constants_follow_each_event() {
    let t = run(
        "FROM logs-*, .alerts-* METADATA _id, _index | EVAL m = event.module | KEEP _id, _index, data_stream.dataset, data_stream.namespace, m | SORT _id",
        &mixed(),
    );
    assert_eq!(
        col(&t, "_index"),
        vec![
            json!(".alerts-security.alerts-default"),
            json!("logs-azure.signinlogs-default"),
            json!("logs-aws.cloudtrail-default"),
            json!("logs-okta.system-prod"),
        ]
    );
    assert_eq!(
        col(&t, "data_stream.dataset"),
        vec![
            json!(null),
            json!("azure.signinlogs"),
            json!("aws.cloudtrail"),
            json!("okta.system"),
        ]
    );
    assert_eq!(col(&t, "data_stream.namespace")[3], json!("prod"));
    assert_eq!(
        col(&t, "m"),
        vec![json!(null), json!("azure"), json!("aws"), json!("okta")]
    );
    // The prefilter rejects events outside the FROM.
    let q = Query::parse("FROM logs-okta.system-* | WHERE user.name == \"alice\"").unwrap();
    let m = mixed();
    assert!(!q.prefilter(&m[0]));
    assert!(q.prefilter(&m[1]));
    assert!(!q.reads_alerts());
    let q = Query::parse("FROM .alerts-security.* | LIMIT 1").unwrap();
    assert!(q.reads_alerts() && !q.prefilter(&m[1]) && q.prefilter(&m[3]));
    assert!(!q.selects_index(CLOUDTRAIL_INDEX));
}
