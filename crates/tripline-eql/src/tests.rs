use super::*;
use serde_json::{json, Value};
use tripline_doc::{Document, Event, FieldType, Origin, SharedEvent};

fn types() -> FieldTypes {
    let mut t = FieldTypes::default();
    for (k, ty) in [
        ("event.category", FieldType::Keyword),
        ("event.action", FieldType::Keyword),
        ("user.name", FieldType::Keyword),
        ("host.name", FieldType::Keyword),
        ("flag", FieldType::Keyword),
        ("n", FieldType::Long),
        ("source.ip", FieldType::Ip),
        ("msg", FieldType::Keyword),
    ] {
        t.insert(k, ty);
    }
    t
}

fn ev(i: u64, t_secs: i64, doc: Value) -> SharedEvent {
    Arc::new(Event {
        doc: Document(doc.as_object().cloned().unwrap_or_default()),
        timestamp: t_secs * 1000,
        origin: Origin {
            file: "t".into(),
            record: i,
            line: None,
        },
        seq: i,
    })
}

fn q(text: &str) -> Query {
    Query::compile(text, &types(), &Options::default()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Runs a query over events; returns each match's event ids (`id` field).
fn run(text: &str, events: &[SharedEvent]) -> Vec<Vec<i64>> {
    let query = q(text);
    let mut m = query.matcher();
    let mut out = Vec::new();
    for e in events {
        out.extend(m.push(e));
    }
    out.extend(m.finish());
    out.iter()
        .map(|m| {
            m.events()
                .iter()
                .map(|e| e.doc.first("id").and_then(|v| v.as_i64()).unwrap_or(-1))
                .collect()
        })
        .collect()
}

fn matches(text: &str, doc: Value) -> bool {
    let query = q(text);
    let Body::Event(p) = &query.body else {
        panic!("not an event query")
    };
    p.matches(&Document(doc.as_object().cloned().unwrap_or_default()))
}

#[test]
fn case_rules_of_operators() {
    let d = json!({"event": {"category": "process", "action": "CreateUser"}});
    assert!(matches(
        r#"any where event.action == "CreateUser""#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where event.action == "createuser""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action : "createuser""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action : ("x", "create*")"#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where event.action like "create*""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action like~ "create*""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action regex "Create[A-Z]se.""#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where event.action regex "create.*""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action regex~ "create.*""#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where event.action in ("createuser", "x")"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action in~ ("createuser", "x")"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action not in ("createuser", "x")"#,
        d.clone()
    ));
    assert!(matches(r#"process where event.action != "x""#, d.clone()));
    assert!(!matches(r#"file where true"#, d.clone()));
    assert!(matches(
        r#"any where startsWith~(event.action, "CREATE")"#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where startsWith(event.action, "CREATE")"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where event.action == "CreateUser" and not event.action == "x" or false"#,
        d
    ));
}

#[test]
fn missing_fields_follow_query_translation() {
    let d = json!({"event": {"action": "EnableMFADevice"}});
    // must_not term: matches when the field is absent (the seed rule depends on it).
    assert!(matches(r#"any where not flag == "true""#, d.clone()));
    assert!(matches(r#"any where flag != "true""#, d.clone()));
    assert!(!matches(r#"any where flag == "true""#, d.clone()));
    assert!(!matches(
        r#"any where not flag == "true""#,
        json!({"flag": "true"})
    ));
    assert!(matches(
        r#"any where not flag == "true""#,
        json!({"flag": "false"})
    ));
    assert!(matches(r#"any where flag == null"#, d.clone()));
    assert!(!matches(r#"any where flag != null"#, d.clone()));
    assert!(matches(r#"any where ?flag == null"#, d.clone()));
    assert!(matches(r#"any where not flag in ("a", "b")"#, d.clone()));
    // String functions on a field with a literal are wildcard/prefix queries, so their
    // negation matches a missing field...
    assert!(matches(
        r#"any where not stringContains(msg, "x")"#,
        d.clone()
    ));
    // ... while a script over a missing value is null, and `not null` is no match.
    assert!(!matches(
        r#"any where not endsWith(msg, user.name)"#,
        d.clone()
    ));
    assert!(!matches(r#"any where not length(msg) > 3"#, d.clone()));
    assert!(matches(r#"any where length(msg) == null"#, d.clone()));
    assert!(!matches(r#"any where n < 5"#, d.clone()));
    assert!(!matches(r#"any where not n + 1 > 5"#, d));
}

#[test]
fn categories_are_multi_valued() {
    let d = json!({"event": {"category": ["iam", "configuration"]}});
    assert!(matches("iam where true", d.clone()));
    assert!(matches("configuration where true", d.clone()));
    assert!(matches("any where true", d.clone()));
    assert!(!matches("process where true", d.clone()));
    assert!(matches(r#""iam" where true"#, d.clone()));
    assert!(matches("`configuration` where true", d));
}

#[test]
fn arithmetic_functions_and_types() {
    let d = json!({"n": 7, "msg": "Hello World", "source": {"ip": "10.1.2.3"}, "user": {"name": "bob"}});
    assert!(matches("any where n * 2 + 1 == 15", d.clone()));
    assert!(matches(
        "any where n / 2 == 3 and n % 4 == 3 and -n == -7",
        d.clone()
    ));
    assert!(matches(
        "any where modulo(n, 4) == 3 and add(n, 1) == 8 and subtract(n, 1) == 6",
        d.clone()
    ));
    assert!(matches(
        "any where multiply(n, 2) == 14 and divide(n, 2.0) == 3.5",
        d.clone()
    ));
    assert!(matches(
        r#"any where cidrMatch(source.ip, "10.0.0.0/8", "192.168.0.0/16")"#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where cidrMatch(source.ip, "192.168.0.0/16")"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where concat(user.name, "-", n) == "bob-7""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where between(msg, "H", "o") == "ell""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where between~(msg, "h", "O", true) == "ello W""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where endsWith(msg, "World") and endsWith~(msg, "WORLD")"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where indexOf(msg, "o") == 4 and indexOf(msg, "o", 5) == 7 and indexOf~(msg, "WOR") == 6"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where length(msg) == 11 and number("0x10", 16) == 16 and number("12") == 12"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where string(n) == "7" and stringContains(msg, "lo W") and stringContains~(msg, "LO w")"#,
        d.clone()
    ));
    assert!(matches(
        r#"any where substring(msg, -5) == "World" and substring(msg, 0, 5) == "Hello""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where startsWith(msg, "Hell") and user.name : "BOB" and user.name != "BOB""#,
        d.clone()
    ));
    assert!(matches(
        r#"any where msg < "Zebra" and msg > "Apple" and n >= 7 and n <= 7"#,
        d
    ));
}

#[test]
fn lexical_forms() {
    let d = json!({"my field": {"x": "a\"b"}, "p": "C:\\Windows\\x.exe", "t": "tab\there"});
    assert!(matches(r#"any where `my field`.x == "a\"b""#, d.clone()));
    assert!(matches(
        r#"any where p == """C:\Windows\x.exe""""#,
        d.clone()
    ));
    assert!(matches(r#"any where p == ?"C:\Windows\x.exe""#, d.clone()));
    assert!(matches(r#"any where p == "C:\\Windows\\x.exe""#, d.clone()));
    assert!(matches(r#"any where p : "c:\\windows\\*.EXE""#, d.clone()));
    assert!(matches(
        r#"any where t == "tab\there" and t == "tab\u{09}here""#,
        d.clone()
    ));
    assert!(matches("any where /* comment */ true // trailing", d));
}

#[test]
fn errors_have_positions() {
    let e = Query::compile("any where x == 'a'", &types(), &Options::default()).unwrap_err();
    assert_eq!(e.pos, 15);
    assert!(e.message.contains("double quotes"));
    let e = Query::compile("any where nosuch(x)", &types(), &Options::default()).unwrap_err();
    assert_eq!(e.pos, 10);
    let e = Query::compile("any where\n  x ==", &types(), &Options::default()).unwrap_err();
    assert_eq!(e.line_col("any where\n  x =="), (2, 7));
    assert!(Query::compile("sequence [any where true]", &types(), &Options::default()).is_err());
    assert!(Query::compile("any where length(x, 1)", &types(), &Options::default()).is_err());
    assert!(Query::compile("any where length~(x)", &types(), &Options::default()).is_err());
    assert!(Query::compile(
        "sequence [any where true] by a [any where true]",
        &types(),
        &Options::default()
    )
    .is_err());
    assert!(Query::compile(
        "join [any where true] [any where true]",
        &types(),
        &Options::default()
    )
    .is_err());
    assert!(Query::compile("any where \"unterminated", &types(), &Options::default()).is_err());
}

fn a(i: u64, t: i64, action: &str, user: &str) -> SharedEvent {
    ev(
        i,
        t,
        json!({"id": i, "event": {"action": action, "category": "iam"}, "user": {"name": user}}),
    )
}

#[test]
fn sequences_by_key_with_maxspan() {
    let evs = vec![
        a(1, 0, "A", "u1"),
        a(2, 1, "A", "u2"),
        a(3, 2, "B", "u2"),
        a(4, 100, "B", "u1"), // too late for u1's A (maxspan 10s)
        a(5, 101, "A", "u1"),
        a(6, 105, "B", "u1"),
    ];
    let text = r#"sequence by user.name with maxspan=10s [iam where event.action == "A"] [iam where event.action == "B"]"#;
    assert_eq!(run(text, &evs), vec![vec![2, 3], vec![5, 6]]);
    // Per-query keys are equivalent to the sequence's.
    let text2 = r#"sequence with maxspan=10s [iam where event.action == "A"] by user.name [iam where event.action == "B"] by user.name"#;
    assert_eq!(run(text2, &evs), vec![vec![2, 3], vec![5, 6]]);
    // No key: any A then B.
    assert_eq!(
        run(
            r#"sequence [any where event.action == "A"] [any where event.action == "B"]"#,
            &evs
        ),
        vec![vec![2, 3], vec![5, 6]]
    );
}

#[test]
fn newer_partial_replaces_older_and_until_expires() {
    let evs = vec![
        a(1, 0, "A", "u"),
        a(2, 1, "A", "u"),
        a(3, 2, "B", "u"),
        a(4, 3, "B", "u"),
    ];
    let text =
        r#"sequence by user.name [any where event.action == "A"] [any where event.action == "B"]"#;
    assert_eq!(run(text, &evs), vec![vec![2, 3]]);
    let evs = vec![
        a(1, 0, "A", "u"),
        a(2, 1, "STOP", "u"),
        a(3, 2, "B", "u"),
        a(4, 3, "A", "v"),
        a(5, 4, "STOP", "u"),
        a(6, 5, "B", "v"),
    ];
    let text = r#"sequence by user.name [any where event.action == "A"] [any where event.action == "B"] until [any where event.action == "STOP"]"#;
    assert_eq!(run(text, &evs), vec![vec![4, 6]]);
}

#[test]
fn runs_and_missing_events() {
    let evs = vec![
        a(1, 0, "F", "u"),
        a(2, 1, "F", "u"),
        a(3, 2, "F", "u"),
        a(4, 3, "OK", "u"),
    ];
    let text = r#"sequence by user.name [any where event.action == "F"] with runs=3 [any where event.action == "OK"]"#;
    assert_eq!(run(text, &evs), vec![vec![1, 2, 3, 4]]);
    let text = r#"sequence by user.name [any where event.action == "F"] with runs=4 [any where event.action == "OK"]"#;
    assert!(run(text, &evs).is_empty());

    // Middle: A then C with no B between.
    let mid = r#"sequence by user.name with maxspan=1m [any where event.action == "A"] ![any where event.action == "B"] [any where event.action == "C"]"#;
    let evs = vec![
        a(1, 0, "A", "u"),
        a(2, 1, "B", "u"),
        a(3, 2, "C", "u"),
        a(4, 3, "A", "v"),
        a(5, 4, "B", "u"),
        a(6, 5, "C", "v"),
    ];
    assert_eq!(run(mid, &evs), vec![vec![4, 6]]);
    // Trailing: A then C, and no B within maxspan of A.
    let trail = r#"sequence by user.name with maxspan=10s [any where event.action == "A"] [any where event.action == "C"] ![any where event.action == "B"]"#;
    let evs = vec![
        a(1, 0, "A", "u"),
        a(2, 1, "C", "u"),
        a(3, 5, "B", "u"), // kills u's sequence
        a(4, 20, "A", "v"),
        a(5, 21, "C", "v"),
        a(6, 40, "B", "v"), // after v's window: too late to matter
        a(7, 50, "A", "w"),
        a(8, 51, "C", "w"), // held until the end of input
    ];
    assert_eq!(run(trail, &evs), vec![vec![4, 5], vec![7, 8]]);
    // Leading: no B within maxspan before the sequence.
    let lead = r#"sequence by user.name with maxspan=10s ![any where event.action == "B"] [any where event.action == "A"] [any where event.action == "C"]"#;
    let evs = vec![
        a(1, 0, "B", "u"),
        a(2, 2, "A", "u"),
        a(3, 3, "C", "u"),
        a(4, 30, "A", "u"),
        a(5, 31, "C", "u"),
    ];
    assert_eq!(run(lead, &evs), vec![vec![4, 5]]);
}

#[test]
fn samples_and_pipes() {
    let evs = vec![
        a(1, 0, "B", "u"),
        a(2, 1, "A", "v"),
        a(3, 2, "A", "u"),
        a(4, 3, "B", "v"),
        a(5, 4, "A", "u"),
    ];
    let text =
        r#"sample by user.name [any where event.action == "A"] [any where event.action == "B"]"#;
    assert_eq!(run(text, &evs), vec![vec![3, 1], vec![2, 4]]);
    assert_eq!(
        run(r#"any where event.action == "A" | head 2"#, &evs),
        vec![vec![2], vec![3]]
    );
    assert_eq!(
        run(r#"any where event.action == "A" | tail 2"#, &evs),
        vec![vec![3], vec![5]]
    );
    assert_eq!(
        run(r#"any where true | head 4 | tail 2"#, &evs),
        vec![vec![3], vec![4]]
    );
    let seq =
        r#"sequence [any where event.action == "A"] [any where event.action == "B"] | tail 1"#;
    assert_eq!(run(seq, &evs), vec![vec![3, 4]]);
}

#[test]
fn partial_sequence_cap_drops_and_counts() {
    let opts = Options {
        max_partial_sequences: 10,
        ..Options::default()
    };
    let query = Query::compile(
        r#"sequence by user.name [any where event.action == "A"] [any where event.action == "B"]"#,
        &types(),
        &opts,
    )
    .unwrap();
    let mut m = query.matcher();
    for i in 0..50 {
        m.push(&a(i, i as i64, "A", &format!("u{i}")));
    }
    let s = m.stats();
    assert!(s.live_states <= 10, "{s:?}");
    assert!(s.dropped_states >= 40, "{s:?}");
    // The newest partials survive.
    assert_eq!(m.push(&a(100, 100, "B", "u49")).len(), 1);
    assert!(m.push(&a(101, 101, "B", "u0")).is_empty());
}

#[test]
fn maxspan_sweep_expires_state_and_timestamp_override() {
    let opts = Options {
        timestamp_field: Some("event.ingested".into()),
        ..Options::default()
    };
    let query = Query::compile(r#"sequence by user.name with maxspan=5s [any where event.action == "A"] [any where event.action == "B"]"#, &types(), &opts).unwrap();
    let mut m = query.matcher();
    // @timestamp says 0s and 1s apart, event.ingested says 100s apart: the override decides.
    let e1 = ev(
        1,
        0,
        json!({"id": 1, "event": {"action": "A", "ingested": "2024-01-01T00:00:00Z"}, "user": {"name": "u"}}),
    );
    let e2 = ev(
        2,
        1,
        json!({"id": 2, "event": {"action": "B", "ingested": "2024-01-01T00:01:40Z"}, "user": {"name": "u"}}),
    );
    assert!(m.push(&e1).is_empty());
    assert!(m.push(&e2).is_empty());
    assert_eq!(m.stats().expired_states, 1);
    let e3 = ev(
        3,
        2,
        json!({"id": 3, "event": {"action": "A"}, "user": {"name": "u"}}),
    );
    m.push(&e3);
    assert_eq!(m.stats().timestamp_fallbacks, 1);
}

#[test]
fn required_values_index_every_stage() {
    let t = r#"sequence [any where event.provider == "iam.amazonaws.com"] [any where event.provider in ("sts.amazonaws.com", "iam.amazonaws.com")]"#;
    assert_eq!(
        q(t).required_values("event.provider"),
        Some(vec![
            "iam.amazonaws.com".to_string(),
            "sts.amazonaws.com".to_string()
        ])
    );
    let t = r#"sequence [any where event.provider == "iam.amazonaws.com"] [any where true]"#;
    assert_eq!(q(t).required_values("event.provider"), None);
}

#[test]
fn case_insensitive_mode_of_es_7x() {
    let opts = Options {
        case_insensitive_default: true,
        ..Options::default()
    };
    let query = Query::compile(
        r#"any where event.action == "createuser" and startsWith(event.action, "CREATE")"#,
        &types(),
        &opts,
    )
    .unwrap();
    let Body::Event(p) = &query.body else {
        panic!()
    };
    assert!(p.matches(&Document(
        json!({"event": {"action": "CreateUser"}})
            .as_object()
            .cloned()
            .unwrap()
    )));
}

#[test]
fn string_functions_translate_like_elasticsearch() {
    let d = json!({"msg": "Effect=Allow Principal=* x", "tags": ["alpha", "beta"]});
    // endsWith/stringContains become wildcard queries on the raw string: `\\*` is a literal
    // star, a bare `*` a wildcard.
    assert!(matches(
        r#"any where stringContains(msg, "Principal=\\*")"#,
        d.clone()
    ));
    assert!(!matches(
        r#"any where stringContains(msg, "Principal=\\*")"#,
        json!({"msg": "Principal=arn"})
    ));
    assert!(matches(
        r#"any where stringContains(msg, "Effect=*Principal")"#,
        d.clone()
    ));
    assert!(matches(r#"any where endsWith(msg, "=* x")"#, d.clone()));
    // startsWith is a prefix query: no wildcards.
    assert!(!matches(r#"any where startsWith(msg, "E*t")"#, d.clone()));
    assert!(matches(
        r#"any where startsWith(msg, "Effect=")"#,
        d.clone()
    ));
    // Leaf queries and scripts both see every value of a multi-valued field.
    assert!(matches(r#"any where tags == "beta""#, d.clone()));
    assert!(matches(r#"any where length(tags) == 4"#, d.clone()));
    assert!(!matches(r#"any where length(tags) == 3"#, d));
}

#[test]
fn maxspan_needs_a_unit_and_by_comes_first() {
    assert!(Query::compile(
        "sequence with maxspan=30 [any where true] [any where true]",
        &types(),
        &Options::default()
    )
    .is_err());
    assert!(Query::compile(
        "sequence with maxspan=30s by user.name [any where true] [any where true]",
        &types(),
        &Options::default()
    )
    .is_err());
    let q = q("sequence by user.name with maxspan=2h [any where true] [any where true]");
    assert!(matches!(
        q.body,
        Body::Sequence {
            maxspan_ms: Some(7_200_000),
            ..
        }
    ));
}
