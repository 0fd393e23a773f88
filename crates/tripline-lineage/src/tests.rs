//! Scenario tests: small trails with each situation and its legitimate look-alikes.
//!
//! Records are written as raw CloudTrail and mapped to the ECS fields the analytic reads by
//! [`ecs`], a test-only subset of the Elastic pipeline's mapping (so these tests do not
//! depend on the normalizer crate).
#![allow(clippy::too_many_arguments)]

use std::sync::Arc;

use serde_json::{json, Value};
use tripline_doc::{time::parse_millis, Document, SharedEvent};
use tripline_engine::{AlertDraft, Detector};
use tripline_rules::Rule;

use crate::config::{LineageConfig, Settings};
use crate::detector::LineageDetector;
use crate::engine::{event, AlertKind};

const ACCT: &str = "111122223333";

/// Raw CloudTrail record → the ECS fields the analytic uses (per the pipeline mapping).
pub(crate) fn ecs(raw: &Value) -> (Document, i64) {
    let mut d = Document::new();
    let g = |p: &str| -> Option<&Value> {
        let mut v = raw;
        for k in p.split('.') {
            v = v.get(k)?;
        }
        Some(v).filter(|v| !v.is_null())
    };
    let mut set = |k: &str, v: Option<&Value>| {
        if let Some(v) = v {
            d.set(k, v.clone());
        }
    };
    let t = parse_millis(g("eventTime").and_then(|v| v.as_str()).unwrap()).unwrap();
    set("@timestamp", g("eventTime"));
    set("event.provider", g("eventSource"));
    set("event.action", g("eventName"));
    set("event.id", g("eventID"));
    set("cloud.region", g("awsRegion"));
    set(
        "cloud.account.id",
        g("userIdentity.accountId").or(g("recipientAccountId")),
    );
    set(
        "aws.cloudtrail.recipient_account_id",
        g("recipientAccountId"),
    );
    set("source.address", g("sourceIPAddress"));
    if let Some(ip) = g("sourceIPAddress")
        .and_then(|v| v.as_str())
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
    {
        set("source.ip", Some(&json!(ip)));
    }
    set("user_agent.original", g("userAgent"));
    set("aws.cloudtrail.user_identity.type", g("userIdentity.type"));
    set("aws.cloudtrail.user_identity.arn", g("userIdentity.arn"));
    set(
        "aws.cloudtrail.user_identity.access_key_id",
        g("userIdentity.accessKeyId"),
    );
    set(
        "aws.cloudtrail.user_identity.invoked_by",
        g("userIdentity.invokedBy"),
    );
    set(
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
        g("userIdentity.sessionContext.attributes.mfaAuthenticated"),
    );
    if let Some(c) =
        g("userIdentity.sessionContext.attributes.creationDate").and_then(|v| v.as_str())
    {
        set(
            "aws.cloudtrail.user_identity.session_context.creation_date",
            Some(&json!(tripline_doc::time::format_millis(
                parse_millis(c).unwrap()
            ))),
        );
    }
    set(
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
        g("userIdentity.sessionContext.sessionIssuer.arn"),
    );
    set(
        "aws.cloudtrail.user_identity.session_context.ec2_role_delivery",
        g("userIdentity.sessionContext.ec2RoleDelivery"),
    );
    set(
        "aws.cloudtrail.session_credential_from_console",
        g("sessionCredentialFromConsole"),
    );
    set(
        "user.name",
        g("userIdentity.sessionContext.sessionIssuer.userName").or(g("userIdentity.userName")),
    );
    set(
        "aws.cloudtrail.flattened.request_parameters",
        g("requestParameters"),
    );
    set(
        "aws.cloudtrail.flattened.response_elements",
        g("responseElements"),
    );
    set(
        "aws.cloudtrail.flattened.additional_eventdata",
        g("additionalEventData"),
    );
    set("aws.cloudtrail.error_code", g("errorCode"));
    if let Some(m) = g("additionalEventData.MFAUsed").and_then(|v| v.as_str()) {
        set(
            "aws.cloudtrail.console_login.additional_eventdata.mfa_used",
            Some(&json!(m != "No")),
        );
    }
    let outcome = match g("responseElements.ConsoleLogin").and_then(|v| v.as_str()) {
        Some(o) => o.to_lowercase(),
        None if g("errorCode").is_some() => "failure".into(),
        None => "success".into(),
    };
    set("event.outcome", Some(&json!(outcome)));
    set("source.as.number", g("_asn"));
    set("source.geo.country_iso_code", g("_country"));
    (d, t)
}

/// Builds records concisely.
struct Trail {
    recs: Vec<Value>,
    n: u64,
}

fn ts(base: &str, plus_min: i64) -> String {
    tripline_doc::time::format_millis(parse_millis(base).unwrap() + plus_min * 60_000)
        .replace(".000Z", "Z")
}

const T0: &str = "2024-05-01T08:00:00Z";

impl Trail {
    fn new() -> Trail {
        Trail { recs: vec![], n: 0 }
    }
    fn push(&mut self, mut r: Value) -> &mut Trail {
        self.n += 1;
        let m = r.as_object_mut().unwrap();
        m.entry("eventID")
            .or_insert(json!(format!("evt-{:04}", self.n)));
        m.entry("awsRegion").or_insert(json!("us-east-1"));
        m.entry("recipientAccountId").or_insert(json!(ACCT));
        m.entry("eventVersion").or_insert(json!("1.09"));
        self.recs.push(r);
        self
    }
    /// Background activity of an IAM user with a long-term key every 10 minutes from `from`
    /// to `to` (minutes after T0), in `region`: coverage of the trail.
    fn background(&mut self, from: i64, to: i64, region: &str) -> &mut Trail {
        let mut m = from;
        while m <= to {
            self.push(json!({
                "eventTime": ts(T0, m), "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": region,
                "sourceIPAddress": "198.51.100.20", "userAgent": "aws-cli/2.15.0",
                "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/monitor"), "accountId": ACCT, "accessKeyId": "AKIAMONITOR000000001", "userName": "monitor"}
            }));
            m += 10;
        }
        self
    }
    fn assume_role(
        &mut self,
        at: i64,
        caller: Value,
        role: &str,
        sess: &str,
        key: &str,
        ip: &str,
    ) -> &mut Trail {
        self.push(json!({
            "eventTime": ts(T0, at), "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0",
            "userIdentity": caller,
            "requestParameters": {"roleArn": format!("arn:aws:iam::{ACCT}:role/{role}"), "roleSessionName": sess},
            "responseElements": {"credentials": {"accessKeyId": key, "expiration": ts(T0, at + 60)}, "assumedRoleUser": {"arn": format!("arn:aws:sts::{ACCT}:assumed-role/{role}/{sess}"), "assumedRoleId": format!("AROAEXAMPLE:{sess}")}}
        }))
    }
    fn role_use(
        &mut self,
        at: i64,
        role: &str,
        sess: &str,
        key: &str,
        created: i64,
        ip: &str,
        src: &str,
        action: &str,
    ) -> &mut Trail {
        self.push(json!({
            "eventTime": ts(T0, at), "eventSource": src, "eventName": action, "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0",
            "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCT}:assumed-role/{role}/{sess}"), "accountId": ACCT, "accessKeyId": key,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCT}:role/{role}"), "accountId": ACCT, "userName": role},
                    "attributes": {"creationDate": ts(T0, created), "mfaAuthenticated": "false"}}}
        }))
    }
    /// Legitimate sessions of role Admin for user ops from the office network, one per
    /// minute in `at` (keys `ASIALEGIT00000000<i>`), each used once for ListUsers a minute later:
    /// the role's baseline.
    fn office_sessions(&mut self, at: &[i64]) -> &mut Trail {
        for (i, &m) in at.iter().enumerate() {
            let key = format!("ASIALEGIT00000000{i:03}");
            let (ops, office) = (user("ops", "AKIAOPS0000000000001"), "198.51.100.40");
            self.assume_role(m, ops, "Admin", "ops", &key, office);
            self.role_use(
                m + 1,
                "Admin",
                "ops",
                &key,
                m,
                office,
                "iam.amazonaws.com",
                "ListUsers",
            );
        }
        self
    }
    fn events(&self) -> Vec<SharedEvent> {
        let mut v: Vec<(Document, i64)> = self.recs.iter().map(ecs).collect();
        v.sort_by_key(|x| x.1);
        v.into_iter()
            .enumerate()
            .map(|(i, (d, t))| event(d, t, i as u64))
            .collect()
    }
}

fn user(name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/{name}"), "accountId": ACCT, "accessKeyId": key, "userName": name})
}

fn rule(kind: &str, extra: &str) -> Arc<Rule> {
    let text = format!("[rule]\nrule_id = \"t-{kind}\"\nname = \"{kind}\"\ntype = \"analytic\"\nquery = \"{kind}\"\nseverity = \"high\"\nrisk_score = 73\ndescription = \"d\"\n{extra}");
    Arc::new(Rule::parse("test", &text).unwrap())
}

fn run_kind(kind: AlertKind, cfg: LineageConfig, evs: &[SharedEvent]) -> Vec<AlertDraft> {
    let mut d = LineageDetector::new(rule(kind.name(), ""), kind, Settings::new(cfg).unwrap());
    let mut out = vec![];
    for e in evs {
        d.on_event(e, &mut out);
    }
    d.finish(&mut out);
    out
}

fn run_all(evs: &[SharedEvent]) -> Vec<(AlertKind, AlertDraft)> {
    let mut v = vec![];
    for k in AlertKind::all() {
        for a in run_kind(k, LineageConfig::default(), evs) {
            v.push((k, a));
        }
    }
    v
}

fn field<'a>(a: &'a AlertDraft, k: &str) -> &'a Value {
    a.fields.as_ref().unwrap().get(k).unwrap_or(&Value::Null)
}

#[test]
fn legitimate_role_session_raises_nothing() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    t.assume_role(
        30,
        user("deployer", "AKIADEPLOYER00000001"),
        "Deploy",
        "ci-run-1",
        "ASIADEPLOY0000000001",
        "198.51.100.30",
    );
    for m in [31, 35, 50] {
        t.role_use(
            m,
            "Deploy",
            "ci-run-1",
            "ASIADEPLOY0000000001",
            30,
            "198.51.100.30",
            "s3.amazonaws.com",
            "PutObject",
        );
    }
    let alerts = run_all(&t.events());
    assert!(
        alerts.is_empty(),
        "{:?}",
        alerts
            .iter()
            .map(|a| a.1.reason.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn forged_session_without_issuance_alerts_once_with_evidence() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    // Baseline for the role: several legitimate sessions from the office network.
    t.office_sessions(&[10, 20, 30, 40, 50, 60]);
    // A session nobody issued, used from elsewhere for sensitive calls.
    t.role_use(
        120,
        "Admin",
        "ops",
        "ASIAFORGED0000000001",
        118,
        "203.0.113.66",
        "iam.amazonaws.com",
        "CreateUser",
    );
    t.role_use(
        125,
        "Admin",
        "ops",
        "ASIAFORGED0000000001",
        118,
        "203.0.113.66",
        "iam.amazonaws.com",
        "CreateAccessKey",
    );
    let alerts = run_all(&t.events());
    assert_eq!(
        alerts.len(),
        1,
        "{:?}",
        alerts
            .iter()
            .map(|a| a.1.reason.clone())
            .collect::<Vec<_>>()
    );
    let (kind, a) = &alerts[0];
    assert_eq!(*kind, AlertKind::NoIssuance);
    assert_eq!(
        field(a, "tripline.lineage.credential")["access_key_id"],
        "ASIAFORGED0000000001"
    );
    assert_eq!(field(a, "tripline.lineage.issuance")["status"], "missing");
    assert_eq!(
        field(a, "tripline.lineage.issuance")["coverage"][0]["region"],
        "us-east-1"
    );
    assert_eq!(field(a, "tripline.lineage.uses")["count"], 2);
    assert_eq!(
        field(a, "tripline.lineage.uses")["actions"]["iam:CreateAccessKey"],
        1
    );
    // unfamiliar address and sensitive calls raise high → critical
    assert_eq!(field(a, "tripline.lineage.severity"), "critical");
    assert_eq!(a.extra["severity"], "critical");
    assert!(field(a, "tripline.lineage.unfamiliar_use")["source_address"] == "203.0.113.66");
    let resp = field(a, "tripline.lineage.response").as_array().unwrap();
    assert!(resp
        .iter()
        .any(|s| s.as_str().unwrap().contains("--role-name Admin")));
    assert!(a
        .reason
        .as_deref()
        .unwrap()
        .contains("ASIAFORGED0000000001"));
    assert_eq!(a.events[0].doc.str("event.action"), Some("CreateUser"));
    assert_eq!(a.events.len(), 2);
}

#[test]
fn before_coverage_or_in_gap_or_foreign_account_is_unknown_lineage() {
    let mut t = Trail::new();
    t.background(60, 120, "us-east-1");
    t.background(300, 400, "us-east-1");
    // created before the trail starts
    t.role_use(
        70,
        "Admin",
        "ops",
        "ASIAOLD0000000000001",
        10,
        "198.51.100.40",
        "iam.amazonaws.com",
        "ListUsers",
    );
    // created inside the silence between 120 and 300
    t.role_use(
        310,
        "Admin",
        "ops",
        "ASIAGAP0000000000001",
        200,
        "198.51.100.40",
        "iam.amazonaws.com",
        "ListUsers",
    );
    // a session of another account (cross-account access to a bucket here)
    t.push(json!({
        "eventTime": ts(T0, 330), "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "sourceIPAddress": "198.51.100.99",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::999988887777:assumed-role/Partner/x", "accountId": "999988887777", "accessKeyId": "ASIAPARTNER000000001",
            "sessionContext": {"attributes": {"creationDate": ts(T0, 325)}}}
    }));
    let evs = t.events();
    assert!(run_all(&evs).is_empty());
    let v = crate::view::build_view(evs);
    let creds: Vec<_> = v
        .identities
        .iter()
        .flat_map(|i| i.credentials.iter())
        .collect();
    assert_eq!(creds.len(), 3);
    assert!(creds.iter().all(|c| c.lineage == "unknown"), "{creds:?}");
    assert!(creds
        .iter()
        .any(|c| c.lineage_detail.contains("before the trail covers")));
    assert!(creds
        .iter()
        .any(|c| c.lineage_detail.contains("delivery gap")));
    assert!(creds
        .iter()
        .any(|c| c.lineage_detail.contains("does not cover")));
}

#[test]
fn regional_issuance_needs_the_use_region_covered() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    // Used in eu-west-1, which the trail does not cover: a regional STS issuance would be invisible.
    t.role_use(
        100,
        "Admin",
        "ops",
        "ASIAEU00000000000001",
        95,
        "198.51.100.40",
        "ec2.amazonaws.com",
        "DescribeVolumes",
    );
    t.recs.last_mut().unwrap()["awsRegion"] = json!("eu-west-1");
    assert!(run_all(&t.events()).is_empty());
    // Same with eu-west-1 covered: now the missing issuance counts.
    t.background(0, 240, "eu-west-1");
    let a = run_all(&t.events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, AlertKind::NoIssuance);
}

#[test]
fn issuance_logged_just_after_the_first_use_is_found() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    t.role_use(
        100,
        "Admin",
        "ops",
        "ASIALATE000000000001",
        100,
        "198.51.100.40",
        "iam.amazonaws.com",
        "ListUsers",
    );
    t.assume_role(
        101,
        user("ops", "AKIAOPS0000000000001"),
        "Admin",
        "ops",
        "ASIALATE000000000001",
        "198.51.100.40",
    );
    assert!(run_all(&t.events()).is_empty());
}

fn instance_trail(attacker: bool) -> Trail {
    let mut t = Trail::new();
    t.background(0, 300, "us-east-1");
    let ec2 = json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"});
    t.assume_role(
        10,
        ec2.clone(),
        "WebServer",
        "i-0123456789abcdef0",
        "ASIAINSTANCE00000001",
        "ec2.amazonaws.com",
    );
    for m in [12, 30, 60] {
        t.role_use(
            m,
            "WebServer",
            "i-0123456789abcdef0",
            "ASIAINSTANCE00000001",
            10,
            "54.210.1.10",
            "s3.amazonaws.com",
            "GetObject",
        );
    }
    // via a VPC endpoint (private address): never judged
    t.role_use(
        70,
        "WebServer",
        "i-0123456789abcdef0",
        "ASIAINSTANCE00000001",
        10,
        "10.0.3.7",
        "s3.amazonaws.com",
        "GetObject",
    );
    if attacker {
        t.role_use(
            90,
            "WebServer",
            "i-0123456789abcdef0",
            "ASIAINSTANCE00000001",
            10,
            "203.0.113.7",
            "sts.amazonaws.com",
            "GetCallerIdentity",
        );
        t.role_use(
            92,
            "WebServer",
            "i-0123456789abcdef0",
            "ASIAINSTANCE00000001",
            10,
            "203.0.113.7",
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
        );
    }
    t
}

#[test]
fn instance_credentials_used_outside_alert_once() {
    assert!(run_all(&instance_trail(false).events()).is_empty());
    let a = run_all(&instance_trail(true).events());
    assert_eq!(
        a.len(),
        1,
        "{:?}",
        a.iter().map(|a| a.1.reason.clone()).collect::<Vec<_>>()
    );
    assert_eq!(a[0].0, AlertKind::UsedAway);
    let d = &a[0].1;
    assert_eq!(
        field(d, "tripline.lineage.away_use")["source_address"],
        "203.0.113.7"
    );
    assert_eq!(
        field(d, "tripline.lineage.issuance")["issued_to_service"],
        "ec2.amazonaws.com"
    );
    assert_eq!(
        field(d, "tripline.lineage.uses")["actions"]["secretsmanager:GetSecretValue"],
        1
    );
    // sensitive call raises high → critical
    assert_eq!(field(d, "tripline.lineage.severity"), "critical");
    assert!(field(d, "tripline.lineage.response")
        .to_string()
        .contains("--instance-id i-0123456789abcdef0"));
    assert_eq!(d.events[0].doc.str("source.address"), Some("203.0.113.7"));
    // the issuance event is part of the chain
    assert!(d
        .events
        .iter()
        .any(|e| e.doc.str("event.action") == Some("AssumeRole")));
}

#[test]
fn instance_credentials_with_asn_data_outside_aws() {
    let mut t = instance_trail(false);
    for r in t.recs.iter_mut() {
        if r["sourceIPAddress"] == "54.210.1.10" {
            r["_asn"] = json!(16509);
        }
    }
    assert!(run_all(&t.events()).is_empty());
    t.role_use(
        90,
        "WebServer",
        "i-0123456789abcdef0",
        "ASIAINSTANCE00000001",
        10,
        "203.0.113.7",
        "s3.amazonaws.com",
        "ListBuckets",
    );
    t.recs.last_mut().unwrap()["_asn"] = json!(64500);
    let a = run_all(&t.events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, AlertKind::UsedAway);
}

fn console_login(t: &mut Trail, at: i64, who: Value, ip: &str, mfa: &str) {
    t.push(json!({
        "eventTime": ts(T0, at), "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "sourceIPAddress": ip,
        "userAgent": "Mozilla/5.0", "userIdentity": who,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": mfa}
    }));
}

fn console_use(
    t: &mut Trail,
    at: i64,
    name: &str,
    key: &str,
    created: i64,
    ip: &str,
    action: &str,
    mfa: &str,
) {
    t.push(json!({
        "eventTime": ts(T0, at), "eventSource": "iam.amazonaws.com", "eventName": action, "sourceIPAddress": ip, "userAgent": "AWS Internal",
        "sessionCredentialFromConsole": "true",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/{name}"), "accountId": ACCT, "accessKeyId": key, "userName": name,
            "sessionContext": {"attributes": {"creationDate": ts(T0, created), "mfaAuthenticated": if mfa == "Yes" {"true"} else {"false"}}}}
    }));
}

#[test]
fn console_sign_in_without_mfa_alerts_and_with_mfa_does_not() {
    let mut t = Trail::new();
    t.background(0, 300, "us-east-1");
    console_login(
        &mut t,
        30,
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/alice"), "accountId": ACCT, "userName": "alice"}),
        "198.51.100.50",
        "Yes",
    );
    console_use(
        &mut t,
        31,
        "alice",
        "ASIAALICECONSOLE0001",
        30,
        "198.51.100.50",
        "ListUsers",
        "Yes",
    );
    console_login(
        &mut t,
        40,
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/bob"), "accountId": ACCT, "userName": "bob"}),
        "198.51.100.51",
        "No",
    );
    console_use(
        &mut t,
        41,
        "bob",
        "ASIABOBCONSOLE000001",
        40,
        "198.51.100.51",
        "ListRoles",
        "No",
    );
    // refreshed console keys two hours into bob's session: same session, not an alert
    console_use(
        &mut t,
        160,
        "bob",
        "ASIABOBCONSOLE000002",
        158,
        "198.51.100.51",
        "GetUser",
        "No",
    );
    // federated (identity-center) console sign-in: MFA happens at the IdP
    console_login(
        &mut t,
        50,
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/carol@example.com"), "accountId": ACCT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef")}}}),
        "198.51.100.52",
        "No",
    );
    // root without MFA
    console_login(
        &mut t,
        60,
        json!({"type": "Root", "arn": format!("arn:aws:iam::{ACCT}:root"), "accountId": ACCT}),
        "198.51.100.53",
        "No",
    );
    let a = run_all(&t.events());
    let mfa: Vec<_> = a.iter().filter(|x| x.0 == AlertKind::MissingMfa).collect();
    assert_eq!(
        a.len(),
        2,
        "{:?}",
        a.iter().map(|a| a.1.reason.clone()).collect::<Vec<_>>()
    );
    assert_eq!(mfa.len(), 2);
    let bob = mfa
        .iter()
        .find(|x| {
            field(&x.1, "tripline.lineage.credential")["principal"]
                .as_str()
                .unwrap()
                .ends_with("user/bob")
        })
        .unwrap();
    // the alert summarizes the uses made before it was raised (alert_delay after sign-in)
    assert_eq!(field(&bob.1, "tripline.lineage.uses")["count"], 1);
    assert_eq!(
        field(&bob.1, "tripline.lineage.issuance")["mfa"],
        "not used"
    );
    assert!(field(&bob.1, "tripline.lineage.techniques")
        .to_string()
        .contains("T1556.006"));
    assert!(field(&bob.1, "tripline.lineage.response")
        .to_string()
        .contains("update-login-profile --user-name bob"));
    assert_eq!(
        bob.1.events[0].doc.str("event.action"),
        Some("ConsoleLogin")
    );
    assert!(mfa
        .iter()
        .any(|x| field(&x.1, "tripline.lineage.credential")["principal"]
            .as_str()
            .unwrap()
            .ends_with(":root")));
    // MFA policy is configurable: root only
    let mut cfg = LineageConfig::default();
    cfg.mfa.iam_user_console = false;
    assert_eq!(run_kind(AlertKind::MissingMfa, cfg, &t.events()).len(), 1);
}

#[test]
fn stolen_console_session_used_from_elsewhere() {
    let mut t = Trail::new();
    t.background(0, 300, "us-east-1");
    console_login(
        &mut t,
        30,
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/alice"), "accountId": ACCT, "userName": "alice"}),
        "198.51.100.50",
        "Yes",
    );
    console_use(
        &mut t,
        31,
        "alice",
        "ASIAALICECONSOLE0001",
        30,
        "198.51.100.50",
        "ListUsers",
        "Yes",
    );
    console_use(
        &mut t,
        33,
        "alice",
        "ASIAALICECONSOLE0001",
        30,
        "AWS Internal",
        "GetAccountSummary",
        "Yes",
    );
    assert!(run_all(&t.events()).is_empty());
    console_use(
        &mut t,
        80,
        "alice",
        "ASIAALICECONSOLE0001",
        30,
        "203.0.113.200",
        "CreateAccessKey",
        "Yes",
    );
    let a = run_all(&t.events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, AlertKind::UsedAway);
    assert!(field(&a[0].1, "tripline.lineage.techniques")
        .to_string()
        .contains("T1550.004"));
    assert_eq!(
        field(&a[0].1, "tripline.lineage.issuance")["action"],
        "ConsoleLogin"
    );
}

#[test]
fn exclusions_known_automation_and_trusted_accounts() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    t.role_use(
        100,
        "ci-runner",
        "build-42",
        "ASIACI00000000000001",
        98,
        "198.51.100.77",
        "s3.amazonaws.com",
        "PutObject",
    );
    assert_eq!(
        run_kind(AlertKind::NoIssuance, LineageConfig::default(), &t.events()).len(),
        1
    );
    let mut cfg = LineageConfig::default();
    cfg.exclude.principals = vec![format!("arn:aws:iam::{ACCT}:role/ci-*")];
    assert!(run_kind(AlertKind::NoIssuance, cfg, &t.events()).is_empty());
    let mut cfg = LineageConfig::default();
    cfg.exclude.user_agents = vec!["aws-cli/2.15*".into()];
    assert!(run_kind(AlertKind::NoIssuance, cfg, &t.events()).is_empty());
    let mut cfg = LineageConfig::default();
    cfg.exclude.trusted_accounts = vec![ACCT.into()];
    assert!(run_kind(AlertKind::NoIssuance, cfg, &t.events()).is_empty());
}

#[test]
fn role_chain_is_shown_in_the_view() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    t.assume_role(
        20,
        user("ops", "AKIAOPS0000000000001"),
        "Hub",
        "ops",
        "ASIAHUB0000000000001",
        "198.51.100.40",
    );
    let hub_session = json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCT}:assumed-role/Hub/ops"), "accountId": ACCT, "accessKeyId": "ASIAHUB0000000000001",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCT}:role/Hub")}, "attributes": {"creationDate": ts(T0, 20), "mfaAuthenticated": "false"}}});
    t.assume_role(
        25,
        hub_session,
        "Spoke",
        "ops",
        "ASIASPOKE00000000001",
        "198.51.100.40",
    );
    t.role_use(
        26,
        "Spoke",
        "ops",
        "ASIASPOKE00000000001",
        25,
        "198.51.100.40",
        "ec2.amazonaws.com",
        "RunInstances",
    );
    let evs = t.events();
    assert!(run_all(&evs).is_empty());
    let mut b = crate::view::LineageBuilder::new(
        Settings::default(),
        crate::view::ViewFilter {
            key: Some("ASIAHUB0000000000001".into()),
            principal: None,
        },
    );
    for e in &evs {
        b.push(e);
    }
    let v = b.finish();
    let table = v.render_table();
    assert!(table.contains("ASIASPOKE00000000001"), "{table}");
    assert!(table.contains("ASIAHUB0000000000001"), "{table}");
    assert!(
        !table.contains("monitor"),
        "filter keeps only the chain: {table}"
    );
    let spoke = v
        .identities
        .iter()
        .flat_map(|i| &i.credentials)
        .find(|c| c.access_key_id == "ASIASPOKE00000000001")
        .unwrap();
    assert_eq!(spoke.lineage, "known");
    assert!(spoke
        .issued_by
        .as_deref()
        .unwrap()
        .contains("assumed-role/Hub/ops"));
    let html = v.render_html();
    assert!(html.contains("ASIASPOKE00000000001") && html.starts_with("<!DOCTYPE html>"));
    assert_eq!(v.to_ndjson().lines().count(), v.identities.len());
}

#[test]
fn view_html_escapes_log_strings() {
    let mut t = Trail::new();
    t.background(0, 30, "us-east-1");
    t.role_use(
        20,
        "Admin",
        "<script>alert(1)</script>",
        "ASIAXSS0000000000001",
        5,
        "198.51.100.40",
        "iam.amazonaws.com",
        "ListUsers",
    );
    let v = crate::view::build_view(t.events());
    let html = v.render_html();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn state_round_trip_continues_a_run() {
    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    t.office_sessions(&[10, 20, 30, 40, 50, 60]);
    t.role_use(
        200,
        "Admin",
        "ops",
        "ASIALEGIT00000000005",
        60,
        "198.51.100.40",
        "iam.amazonaws.com",
        "ListRoles",
    );
    t.role_use(
        205,
        "Admin",
        "ops",
        "ASIAFORGED0000000001",
        203,
        "203.0.113.66",
        "iam.amazonaws.com",
        "CreateUser",
    );
    let evs = t.events();
    let whole = run_kind(AlertKind::NoIssuance, LineageConfig::default(), &evs);
    assert_eq!(whole.len(), 1);
    // split the input at minute 100: save after the first day, load into a fresh detector
    let cut = evs
        .iter()
        .position(|e| e.timestamp >= parse_millis(&ts(T0, 100)).unwrap())
        .unwrap();
    let mut d1 = LineageDetector::new(rule("k", ""), AlertKind::NoIssuance, Settings::default());
    let mut out = vec![];
    for e in &evs[..cut] {
        d1.on_event(e, &mut out);
    }
    d1.finish(&mut out);
    assert!(out.is_empty());
    let saved = serde_json::to_string(&d1.save_state().unwrap()).unwrap();
    let mut d2 = LineageDetector::new(rule("k", ""), AlertKind::NoIssuance, Settings::default());
    d2.load_state(serde_json::from_str(&saved).unwrap())
        .unwrap();
    for e in &evs[cut..] {
        d2.on_event(e, &mut out);
    }
    d2.finish(&mut out);
    assert_eq!(
        out.len(),
        1,
        "{:?}",
        out.iter().map(|a| a.reason.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        field(&out[0], "tripline.lineage.credential")["access_key_id"],
        "ASIAFORGED0000000001"
    );
    // the reused legit key from before the cut is still linked after the reload
    assert_eq!(
        field(&out[0], "tripline.lineage.severity"),
        field(&whole[0], "tripline.lineage.severity")
    );
    assert!(d2.load_state(json!({"version": 99})).is_err());
}

#[test]
fn state_is_bounded_by_lifetimes() {
    let mut t = Trail::new();
    // two days of background; a credential at the start must be forgotten by the end
    t.background(0, 48 * 60, "us-east-1");
    t.assume_role(
        10,
        user("ops", "AKIAOPS0000000000001"),
        "Admin",
        "ops",
        "ASIAEARLY00000000001",
        "198.51.100.40",
    );
    t.role_use(
        11,
        "Admin",
        "ops",
        "ASIAEARLY00000000001",
        10,
        "198.51.100.40",
        "iam.amazonaws.com",
        "ListUsers",
    );
    let mut e = crate::engine::Engine::new(Settings::default());
    let mut out = vec![];
    for ev in t.events() {
        e.push(&ev, &mut out);
    }
    assert!(e.st.creds.is_empty());
    assert!(e.st.issuances.is_empty());
}

#[test]
fn coverage_report_for_a_single_region_trail_without_sts() {
    let mut t = Trail::new();
    t.background(0, 120, "eu-west-1");
    t.background(300, 360, "eu-west-1");
    t.role_use(
        100,
        "Admin",
        "ops",
        "ASIAEU00000000000001",
        95,
        "198.51.100.40",
        "ec2.amazonaws.com",
        "DescribeVolumes",
    );
    t.recs.last_mut().unwrap()["awsRegion"] = json!("eu-west-1");
    let r = crate::coverage::coverage(t.events());
    assert_eq!(r.verdict, "unsupported");
    let a = &r.accounts[0];
    assert!(!a.supports_analytic);
    assert!(a.problems.iter().any(|p| p.contains("us-east-1")));
    assert!(a.problems.iter().any(|p| p.contains("no STS events")));
    assert_eq!(a.regions[0].hours_without_events.len(), 1);
    assert_eq!(a.sessions["role"].unknown, 1);
    assert!(r.render_table().contains("UNSUPPORTED"));
    assert!(r.render_html().contains("eu-west-1"));
    assert!(r.to_ndjson().lines().count() == 2);

    let mut t = Trail::new();
    t.background(0, 240, "us-east-1");
    t.assume_role(
        30,
        user("deployer", "AKIADEPLOYER00000001"),
        "Deploy",
        "ci-run-1",
        "ASIADEPLOY0000000001",
        "198.51.100.30",
    );
    t.role_use(
        31,
        "Deploy",
        "ci-run-1",
        "ASIADEPLOY0000000001",
        30,
        "198.51.100.30",
        "s3.amazonaws.com",
        "PutObject",
    );
    let r = crate::coverage::coverage(t.events());
    assert_eq!(r.verdict, "supported");
    assert_eq!(r.accounts[0].sessions["role"].known, 1);
    assert_eq!(r.accounts[0].issuances, 1);
}

#[test]
fn delivery_slots_from_object_names() {
    let (r, t) =
        crate::coverage::delivery_slot("AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T0807Z_abc.json.gz")
            .unwrap();
    assert_eq!(r, "us-east-1");
    assert_eq!(
        tripline_doc::time::format_millis(t),
        "2024-05-01T08:05:00.000Z"
    );
    assert!(crate::coverage::delivery_slot("random.json").is_none());
    assert!(crate::coverage::delivery_slot("x_CloudTrail_us-east-1_2024X_y.json").is_none());
}

#[test]
fn hostile_input_does_not_panic() {
    let docs = [
        json!({"event": {"provider": "sts.amazonaws.com", "action": "AssumeRole", "outcome": "success"}, "aws": {"cloudtrail": {"flattened": {"response_elements": {"credentials": {"accessKeyId": 5}}, "request_parameters": {"roleArn": "not-an-arn", "roleSessionName": "x"}}}}}),
        json!({"aws": {"cloudtrail": {"user_identity": {"type": "AssumedRole", "arn": "arn:aws:sts::", "access_key_id": "ASIA", "session_context": {"creation_date": "garbage"}}}}}),
        json!({"aws": {"cloudtrail": {"user_identity": {"type": "AssumedRole", "arn": "::::::", "access_key_id": "ASIAX"}}}, "source": {"ip": "not-ip", "address": "\u{1b}[31m"}}),
        json!({"event": {"provider": "signin.amazonaws.com", "action": "SwitchRole", "outcome": "success"}, "aws": {"cloudtrail": {"flattened": {"additional_eventdata": {"SwitchTo": ":role/"}}}}}),
    ];
    let evs: Vec<SharedEvent> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| event(Document(d.as_object().unwrap().clone()), i as i64, i as u64))
        .collect();
    let _ = run_all(&evs);
    let _ = crate::view::build_view(evs.clone()).render_table();
    let _ = crate::coverage::coverage(evs).render_table();
}

#[test]
fn register_adds_the_three_analytics() {
    let mut ctx = tripline_engine::CompileContext::default();
    crate::register(&mut ctx);
    for name in [
        crate::ANALYTIC_NO_ISSUANCE,
        crate::ANALYTIC_USED_AWAY,
        crate::ANALYTIC_MISSING_MFA,
    ] {
        let r = rule(name, "");
        let det = tripline_engine::compile_rule(&r, &ctx).unwrap();
        assert!(det.is_stateful());
    }
    let bad = rule(
        crate::ANALYTIC_MISSING_MFA,
        "[rule.lineage]\nalert_delay = \"never\"\n",
    );
    assert!(tripline_engine::compile_rule(&bad, &ctx).is_err());
}

// ---- shared engines, field reads, projection ----

/// A trail raising all three kinds: instance credentials used outside AWS, a console sign-in
/// without MFA, a forged session, plus legitimate activity with ASN and resource data.
fn mixed_trail() -> Vec<SharedEvent> {
    let mut t = instance_trail(true);
    console_login(
        &mut t,
        40,
        json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCT}:user/bob"), "accountId": ACCT, "userName": "bob"}),
        "198.51.100.51",
        "No",
    );
    console_use(
        &mut t,
        41,
        "bob",
        "ASIABOBCONSOLE000001",
        40,
        "198.51.100.51",
        "ListRoles",
        "No",
    );
    t.office_sessions(&[100, 110, 120, 130, 140, 150]);
    t.role_use(
        205,
        "Admin",
        "ops",
        "ASIAFORGED0000000001",
        203,
        "203.0.113.66",
        "iam.amazonaws.com",
        "CreateUser",
    );
    t.events()
}

/// Drafts in a comparable form: rule, kind-independent content.
fn shape(a: &AlertDraft) -> String {
    format!(
        "{}|{}|{:?}|{}|{:?}|{}",
        a.rule.rule_id,
        a.timestamp,
        a.key,
        a.reason.clone().unwrap_or_default(),
        a.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        serde_json::to_string(&a.fields).unwrap()
    )
}

/// Runs detectors the way the runner does: every event to each in order, then finish.
fn run_dets(dets: &mut [Box<dyn Detector>], evs: &[SharedEvent]) -> Vec<String> {
    let mut out = vec![];
    for e in evs {
        for d in dets.iter_mut() {
            let mut o = vec![];
            d.on_event(e, &mut o);
            out.extend(o.iter().map(shape));
        }
    }
    for d in dets.iter_mut() {
        let mut o = vec![];
        d.finish(&mut o);
        out.extend(o.iter().map(shape));
    }
    out
}

fn names() -> [&'static str; 3] {
    [
        crate::ANALYTIC_NO_ISSUANCE,
        crate::ANALYTIC_USED_AWAY,
        crate::ANALYTIC_MISSING_MFA,
    ]
}

fn kind_of(name: &str) -> AlertKind {
    match name {
        crate::ANALYTIC_NO_ISSUANCE => AlertKind::NoIssuance,
        crate::ANALYTIC_USED_AWAY => AlertKind::UsedAway,
        _ => AlertKind::MissingMfa,
    }
}

fn standalone(rules: &[Arc<Rule>]) -> Vec<Box<dyn Detector>> {
    rules
        .iter()
        .map(|r| {
            let cfg = Settings::from_rule_raw(&r.raw).unwrap();
            Box::new(LineageDetector::new(
                r.clone(),
                kind_of(r.query.as_deref().unwrap()),
                cfg,
            )) as Box<dyn Detector>
        })
        .collect()
}

fn compiled(ctx: &tripline_engine::CompileContext, rules: &[Arc<Rule>]) -> Vec<Box<dyn Detector>> {
    rules
        .iter()
        .map(|r| tripline_engine::compile_rule(r, ctx).unwrap())
        .collect()
}

fn ctx() -> tripline_engine::CompileContext {
    let mut ctx = tripline_engine::CompileContext::default();
    crate::register(&mut ctx);
    ctx
}

#[test]
fn shared_engine_gives_exactly_the_alerts_of_separate_engines() {
    let evs = mixed_trail();
    let rules: Vec<Arc<Rule>> = names().iter().map(|n| rule(n, "")).collect();
    let want = run_dets(&mut standalone(&rules), &evs);
    assert_eq!(want.len(), 3, "{want:#?}");
    let ctx = ctx();
    let mut dets = compiled(&ctx, &rules);
    assert_eq!(run_dets(&mut dets, &evs), want);
    // one engine did the work: all three report the same counters, each counted once
    let events = |d: &dyn Detector| {
        d.stats()
            .into_iter()
            .find(|(k, _)| k == "events")
            .map(|x| x.1)
    };
    for d in &dets {
        assert_eq!(events(d.as_ref()), Some(evs.len() as u64));
    }
    // any two, in any order, and one alone
    for pick in [[2usize, 0].as_slice(), &[1], &[1, 2]] {
        let sub: Vec<Arc<Rule>> = pick.iter().map(|&i| rules[i].clone()).collect();
        let want = run_dets(&mut standalone(&sub), &evs);
        assert_eq!(run_dets(&mut compiled(&ctx, &sub), &evs), want, "{pick:?}");
    }
    // two runs compiled from one context before either runs: separate streams stay separate
    let mut a = compiled(&ctx, &rules);
    let mut b = compiled(&ctx, &rules);
    let half: Vec<SharedEvent> = evs[..evs.len() / 2].to_vec();
    assert_eq!(
        run_dets(&mut b, &half),
        run_dets(&mut standalone(&rules), &half)
    );
    assert_eq!(run_dets(&mut a, &evs), want_all(&rules, &evs));
}

fn want_all(rules: &[Arc<Rule>], evs: &[SharedEvent]) -> Vec<String> {
    run_dets(&mut standalone(rules), evs)
}

#[test]
fn different_settings_or_filtered_streams_do_not_share() {
    let evs = mixed_trail();
    let ctx = ctx();
    let rules = vec![
        rule(crate::ANALYTIC_NO_ISSUANCE, ""),
        rule(
            crate::ANALYTIC_USED_AWAY,
            "[rule.lineage]\nalert_delay = \"1m\"\n",
        ),
        rule(crate::ANALYTIC_MISSING_MFA, ""),
    ];
    let want = want_all(&rules, &evs);
    assert_eq!(run_dets(&mut compiled(&ctx, &rules), &evs), want);
    // a detector told that a wrapper filters its events leaves the group; the others share
    let mut dets: Vec<Box<dyn Detector>> = names()
        .iter()
        .map(|n| tripline_engine::compile_rule(&rule(n, ""), &ctx).unwrap())
        .collect();
    dets[1].events_filtered();
    // the filtered detector sees only part of the stream (every other event)
    let mut out = vec![];
    let mut alone = standalone(&[rule(crate::ANALYTIC_USED_AWAY, "")]);
    let mut want_f = vec![];
    for (i, e) in evs.iter().enumerate() {
        for (j, d) in dets.iter_mut().enumerate() {
            if j == 1 && i % 2 == 1 {
                continue;
            }
            let mut o = vec![];
            d.on_event(e, &mut o);
            out.extend(o.iter().map(|a| (j, shape(a))));
        }
        if i % 2 == 0 {
            let mut o = vec![];
            alone[0].on_event(e, &mut o);
            want_f.extend(o.iter().map(shape));
        }
    }
    for (j, d) in dets.iter_mut().enumerate() {
        let mut o = vec![];
        d.finish(&mut o);
        out.extend(o.iter().map(|a| (j, shape(a))));
    }
    let mut o = vec![];
    alone[0].finish(&mut o);
    want_f.extend(o.iter().map(shape));
    let got_f: Vec<String> = out
        .iter()
        .filter(|x| x.0 == 1)
        .map(|x| x.1.clone())
        .collect();
    assert_eq!(got_f, want_f);
    let rest = [
        rule(crate::ANALYTIC_NO_ISSUANCE, ""),
        rule(crate::ANALYTIC_MISSING_MFA, ""),
    ];
    let got_rest: Vec<String> = out
        .iter()
        .filter(|x| x.0 != 1)
        .map(|x| x.1.clone())
        .collect();
    assert_eq!(got_rest, want_all(&rest, &evs));
    for d in &dets {
        assert!(!d.stats().iter().any(|(k, _)| k.contains("missed")));
    }
}

#[test]
fn shared_state_saves_and_loads_like_separate_states() {
    let evs = mixed_trail();
    let cut = evs.len() / 2;
    let rules: Vec<Arc<Rule>> = names().iter().map(|n| rule(n, "")).collect();
    let want = want_all(&rules, &evs);
    let ctx = ctx();
    // first part with shared engines, save every detector's state
    let mut d1 = compiled(&ctx, &rules);
    let mut got = vec![];
    for e in &evs[..cut] {
        for d in d1.iter_mut() {
            let mut o = vec![];
            d.on_event(e, &mut o);
            got.extend(o.iter().map(shape));
        }
    }
    let saved: Vec<Value> = d1.iter().map(|d| d.save_state().unwrap()).collect();
    // the same snapshot everywhere, marked as such
    assert!(saved.iter().all(|s| s["snapshot"] == saved[0]["snapshot"]));
    let rest = |dets: &mut Vec<Box<dyn Detector>>, got: &mut Vec<String>| {
        for e in &evs[cut..] {
            for d in dets.iter_mut() {
                let mut o = vec![];
                d.on_event(e, &mut o);
                got.extend(o.iter().map(shape));
            }
        }
        for d in dets.iter_mut() {
            let mut o = vec![];
            d.finish(&mut o);
            got.extend(o.iter().map(shape));
        }
    };
    // all three restored
    let mut d2 = compiled(&ctx, &rules);
    for (d, s) in d2.iter_mut().zip(&saved) {
        d.load_state(s.clone()).unwrap();
    }
    let mut g2 = got.clone();
    rest(&mut d2, &mut g2);
    assert_eq!(g2, want);
    // only two of them loaded next time: still exactly their alerts
    let two = [rules[0].clone(), rules[2].clone()];
    let mut d3 = compiled(&ctx, &two);
    d3[0].load_state(saved[0].clone()).unwrap();
    d3[1].load_state(saved[2].clone()).unwrap();
    let mut g3 = vec![];
    rest(&mut d3, &mut g3);
    let mut s3 = standalone(&two);
    let mut w3 = vec![];
    for e in &evs[..cut] {
        for d in s3.iter_mut() {
            d.on_event(e, &mut vec![]);
        }
    }
    rest(&mut s3, &mut w3);
    assert_eq!(g3, w3);
    // one rule without saved state (new, or its rule changed): it starts fresh on its own
    let mut d4 = compiled(&ctx, &rules);
    d4[0].load_state(saved[0].clone()).unwrap();
    d4[2].load_state(saved[2].clone()).unwrap();
    let mut g4 = vec![];
    rest(&mut d4, &mut g4);
    let mut s4 = standalone(&rules);
    s4[0].load_state(saved[0].clone()).unwrap();
    s4[2].load_state(saved[2].clone()).unwrap();
    let mut w4 = vec![];
    rest(&mut s4, &mut w4);
    assert_eq!(g4, w4);
    // states of version 1 (separate engines) still load
    let mut v1 = saved[0].clone();
    v1["version"] = json!(1);
    v1.as_object_mut().unwrap().remove("snapshot");
    let mut d5 = compiled(&ctx, &rules);
    for d in d5.iter_mut() {
        d.load_state(v1.clone()).unwrap();
    }
    let mut g5 = got.clone();
    rest(&mut d5, &mut g5);
    assert_eq!(g5, want);
}

/// `doc` reduced to `fields` (values as `Document::values` gives them, nested again).
fn reduced(doc: &Document, fields: &[String]) -> Document {
    let mut out = Document::new();
    for f in fields {
        let vals = doc.values(f);
        match vals.len() {
            0 => {}
            1 => out.set(f, vals[0].clone()),
            _ => out.set(f, Value::Array(vals.into_iter().cloned().collect())),
        }
    }
    out
}

#[test]
fn a_document_reduced_to_fields_gives_the_same_findings() {
    let mut evs = mixed_trail();
    // ASN, geo and resource data too
    let extra = |d: &mut Document| {
        d.set("source.as.number", json!(64500));
        d.set("source.as.organization.name", json!("Example Net"));
        d.set("source.geo.country_iso_code", json!("NL"));
        d.set(
            "aws.cloudtrail.resources",
            json!([{"arn": "arn:aws:s3:::b1"}, {"arn": "arn:aws:s3:::b2"}]),
        );
        d.set("event.outcome", json!("success"));
        d.set("unrelated.field", json!("x"));
    };
    evs = evs
        .into_iter()
        .map(|e| {
            let mut d = e.doc.clone();
            if e.seq % 3 == 0 {
                extra(&mut d);
            }
            event(d, e.timestamp, e.seq)
        })
        .collect();
    let rules: Vec<Arc<Rule>> = names().iter().map(|n| rule(n, "")).collect();
    let fields = compiled(&ctx(), &rules)[0].fields().unwrap();
    assert!(fields
        .iter()
        .any(|f| f == "aws.cloudtrail.user_identity.access_key_id"));
    let small: Vec<SharedEvent> = evs
        .iter()
        .map(|e| event(reduced(&e.doc, &fields), e.timestamp, e.seq))
        .collect();
    assert!(small.iter().all(|e| !e.doc.exists("unrelated.field")));
    let full = want_all(&rules, &evs);
    assert!(full.len() >= 3);
    assert_eq!(want_all(&rules, &small), full);
    // and leaving out any one field that the trail uses changes something
    let used: Vec<&String> = fields
        .iter()
        .filter(|f| evs.iter().any(|e| e.doc.exists(f)))
        .collect();
    let mut differs = 0;
    for f in &used {
        let fewer: Vec<String> = fields.iter().filter(|x| x != f).cloned().collect();
        let evs2: Vec<SharedEvent> = evs
            .iter()
            .map(|e| event(reduced(&e.doc, &fewer), e.timestamp, e.seq))
            .collect();
        if want_all(&rules, &evs2) != full {
            differs += 1;
        }
    }
    assert!(differs >= used.len() / 2, "{differs} of {}", used.len());
}

/// The reads the analytic did before they were done in one pass, as the reference.
fn reference_facts(doc: &Document, t: i64) -> String {
    let s = |f: &str| doc.str(f).filter(|v| !v.is_empty()).map(String::from);
    let b = |f: &str| match doc.first(f)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
    let resources: Vec<&str> = doc
        .values("aws.cloudtrail.resources.arn")
        .into_iter()
        .filter_map(|v| v.as_str())
        .take(8)
        .collect();
    format!(
        "{t} {:?}",
        (
            (
                s("source.address").or_else(|| s("source.ip")),
                s("cloud.account.id"),
                s("aws.cloudtrail.recipient_account_id"),
                s("event.id"),
                s("event.provider"),
                s("event.action"),
                doc.str("event.outcome")
                    .map(|o| o == "success")
                    .unwrap_or_else(|| !doc.exists("aws.cloudtrail.error_code")),
                s("cloud.region"),
                doc.first("source.as.number").cloned(),
                s("source.as.organization.name"),
                s("source.geo.country_iso_code"),
                s("user_agent.original"),
            ),
            (
                s("aws.cloudtrail.user_identity.type"),
                s("aws.cloudtrail.user_identity.arn"),
                s("aws.cloudtrail.user_identity.access_key_id"),
                doc.first("aws.cloudtrail.user_identity.session_context.creation_date")
                    .and_then(tripline_doc::time::value_to_millis),
                b("aws.cloudtrail.user_identity.session_context.mfa_authenticated"),
                s("aws.cloudtrail.user_identity.session_context.session_issuer.arn"),
                s("aws.cloudtrail.user_identity.invoked_by"),
                b("aws.cloudtrail.session_credential_from_console").unwrap_or(false),
                s("user.name"),
                doc.exists("aws.cloudtrail.vpc_endpoint_id"),
                resources,
            ),
        )
    )
}

fn facts_shape(f: &crate::model::Facts) -> String {
    let trail = f.trail_account.clone();
    format!(
        "{} {:?}",
        f.time,
        (
            (
                f.source_address.clone(),
                f.account.clone(),
                // reference reads the recipient only; equal when it is present
                trail,
                f.event_id.clone(),
                Some(f.provider.clone()).filter(|p| !p.is_empty()),
                Some(f.action.clone()).filter(|p| !p.is_empty()),
                f.success,
                f.region.clone(),
                f.asn,
                f.as_org.clone(),
                f.country.clone(),
                f.user_agent.clone(),
            ),
            (
                f.id_type.clone(),
                f.arn.clone(),
                f.access_key.clone(),
                f.creation,
                f.mfa_authenticated,
                f.issuer_arn.clone(),
                f.invoked_by.clone(),
                f.console,
                f.user_name.clone(),
                f.vpc_endpoint,
                f.resources.clone(),
            ),
        )
    )
}

#[test]
fn one_pass_reads_equal_path_lookups_on_odd_documents() {
    let docs = [
        json!({"event": {"provider": "s3.amazonaws.com", "action": "GetObject", "outcome": "failure"},
               "aws": {"cloudtrail": {"recipient_account_id": "1", "user_identity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/R/s", "access_key_id": "ASIAX",
                   "session_context": {"creation_date": "2024-05-01T08:00:00Z", "mfa_authenticated": "TRUE", "session_issuer": {"arn": "arn:aws:iam::1:role/R"}}},
                   "resources": [{"arn": "a1"}, [{"arn": "a2"}], {"arn": null}, 5, {"arn": ["a3", "a4"]}]}},
               "source": {"address": "203.0.113.9", "ip": "203.0.113.9", "as": {"number": "64500", "organization": {"name": "N"}}, "geo": {"country_iso_code": "DE"}}}),
        // dotted keys at every level, arrays of objects on the way, nulls
        json!({"event.provider": "sts.amazonaws.com", "event": {"action": ["AssumeRole", "x"], "id": ""},
               "aws.cloudtrail": {"user_identity.type": "IAMUser", "user_identity": {"arn": "arn:aws:iam::1:user/u"}},
               "aws": {"cloudtrail": {"user_identity": [{"access_key_id": "AKIA1"}, {"access_key_id": "AKIA2"}], "error_code": null, "vpc_endpoint_id": "vpce-1"}},
               "cloud": [{"region": "eu-west-1"}, {"account": {"id": "2"}}],
               "source": {"ip": "10.0.0.1", "as.number": 7},
               "aws.cloudtrail.session_credential_from_console": true}),
        json!({"aws": {"cloudtrail": {"user_identity": {"session_context": {"creation_date": 1714550400000_i64, "mfa_authenticated": false}}, "error_code": "AccessDenied"}},
               "source": {"address": "ec2.amazonaws.com"}, "user": {"name": "n"}, "user_agent": {"original": "ua"}}),
        json!({"aws": [{"cloudtrail": {"user_identity": {"type": "Root"}}}], "event": "scalar", "source": null}),
        json!({}),
    ];
    for (i, d) in docs.iter().enumerate() {
        let doc = Document(d.as_object().unwrap().clone());
        let f = crate::model::Facts::from_doc(&doc, 7);
        let mut want = reference_facts(&doc, 7);
        if doc
            .str("aws.cloudtrail.recipient_account_id")
            .filter(|v| !v.is_empty())
            .is_none()
        {
            // the trail account falls back to the caller's
            want = want.replacen(
                &format!("{:?}, {:?}, None", f.source_address, f.account),
                &format!("{:?}, {:?}, {:?}", f.source_address, f.account, f.account),
                1,
            );
        }
        let mut got = facts_shape(&f);
        // the asn is compared as read
        got = got.replace(
            &format!(
                "{:?}, {:?}, {:?}, {:?}",
                f.success, f.region, f.asn, f.as_org
            ),
            &format!(
                "{:?}, {:?}, {:?}, {:?}",
                f.success,
                f.region,
                doc.first("source.as.number").cloned(),
                f.as_org
            ),
        );
        assert_eq!(got, want, "document {i}");
    }
}

#[test]
fn exception_items_of_one_rule_keep_the_others_exact() {
    let evs = mixed_trail();
    let rules: Vec<Arc<Rule>> = names().iter().map(|n| rule(n, "")).collect();
    // Drops one attacker call (not the first event: that alone would already keep the rule
    // from binding to the shared engine) for the used-away rule only.
    let set = tripline_engine::exceptions::parse_exceptions_value(
        &json!({"exceptions": [
            {"rule_id": format!("t-{}", crate::ANALYTIC_USED_AWAY), "name": "x",
             "query": "event.action: GetCallerIdentity"}
        ]}),
        "test",
        std::path::Path::new("."),
        tripline_doc::FieldTypes::builtin(),
    )
    .unwrap();
    let want = run_dets(&mut set.apply(standalone(&rules)), &evs);
    let got = run_dets(&mut set.apply(compiled(&ctx(), &rules)), &evs);
    assert_eq!(got, want);
    // the exception changed what the used-away rule saw
    assert_ne!(want, want_all(&rules, &evs));
}
