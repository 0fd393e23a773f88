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
    for (i, m) in [10, 20, 30, 40, 50, 60].iter().enumerate() {
        let key = format!("ASIALEGIT00000000{i:03}");
        t.assume_role(
            *m,
            user("ops", "AKIAOPS0000000000001"),
            "Admin",
            "ops",
            &key,
            "198.51.100.40",
        );
        t.role_use(
            m + 1,
            "Admin",
            "ops",
            &key,
            *m,
            "198.51.100.40",
            "iam.amazonaws.com",
            "ListUsers",
        );
    }
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
    for (i, m) in [10, 20, 30, 40, 50, 60].iter().enumerate() {
        let key = format!("ASIALEGIT00000000{i:03}");
        t.assume_role(
            *m,
            user("ops", "AKIAOPS0000000000001"),
            "Admin",
            "ops",
            &key,
            "198.51.100.40",
        );
        t.role_use(
            m + 1,
            "Admin",
            "ops",
            &key,
            *m,
            "198.51.100.40",
            "iam.amazonaws.com",
            "ListUsers",
        );
    }
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
