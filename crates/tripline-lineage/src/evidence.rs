//! Findings with their evidence chain and response steps.

use serde_json::{json, Map, Value};
use tripline_doc::{time::format_millis, SharedEvent};

use crate::config::Settings;
use crate::engine::{
    AlertKind, Cred, EngineState, Finding, Issuance, IssuanceKind, Lineage, UseRec,
};
use crate::model::assumed_role_parts;

/// Quotes a value for a POSIX shell when it is not a plain IAM name (log values are
/// attacker-controlled; response steps are meant to be pasted).
pub fn shq(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-:/".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn use_json(u: &UseRec) -> Value {
    let mut m = Map::new();
    m.insert("time".into(), json!(format_millis(u.time)));
    m.insert("action".into(), json!(u.api));
    if let Some(v) = &u.event_id {
        m.insert("event_id".into(), json!(v));
    }
    if let Some(v) = &u.region {
        m.insert("region".into(), json!(v));
    }
    if let Some(v) = &u.address {
        m.insert("source_address".into(), json!(v));
    }
    if let Some(v) = &u.network {
        m.insert("network".into(), json!(v));
    }
    if let Some(v) = u.asn {
        m.insert("asn".into(), json!(v));
    }
    if let Some(v) = &u.country {
        m.insert("country".into(), json!(v));
    }
    if let Some(v) = u.familiar {
        m.insert("familiar".into(), json!(v));
    }
    Value::Object(m)
}

fn where_(u: &UseRec) -> String {
    let mut s = u
        .address
        .clone()
        .unwrap_or_else(|| "an unknown address".into());
    let mut extra = Vec::new();
    if let Some(n) = &u.network {
        extra.push(n.clone());
    }
    if let Some(a) = u.asn {
        extra.push(format!("AS{a}"));
    }
    if let Some(c) = &u.country {
        extra.push(c.clone());
    }
    if !extra.is_empty() {
        s.push_str(&format!(" ({})", extra.join(", ")));
    }
    s
}

pub fn issuance_json(i: &Issuance, via: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), json!("known"));
    if let Some(v) = via {
        m.insert("linked_by".into(), json!(v));
    }
    m.insert("action".into(), json!(i.kind.as_str()));
    m.insert("time".into(), json!(format_millis(i.time)));
    m.insert("expires".into(), json!(format_millis(i.expires)));
    m.insert("principal".into(), json!(i.principal));
    let opt = |m: &mut Map<String, Value>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    opt(&mut m, "event_id", &i.event_id);
    opt(&mut m, "source_address", &i.source_address);
    opt(&mut m, "network", &i.network);
    opt(&mut m, "country", &i.country);
    opt(&mut m, "issued_to_service", &i.service);
    opt(&mut m, "issuer", &i.issuer_arn);
    opt(&mut m, "issuer_access_key_id", &i.issuer_key);
    opt(&mut m, "region", &i.region);
    if let Some(a) = i.asn {
        m.insert("asn".into(), json!(a));
    }
    m.insert(
        "mfa".into(),
        match i.mfa {
            Some(true) => json!("used"),
            Some(false) => json!("not used"),
            None => json!("no evidence"),
        },
    );
    Value::Object(m)
}

fn uses_json(c: &Cred) -> Value {
    let addrs: Vec<Value> = c
        .addresses
        .iter()
        .map(|(a, r)| {
            let mut m = Map::new();
            m.insert("address".into(), json!(a));
            if let Some(v) = &r.network {
                m.insert("network".into(), json!(v));
            }
            if let Some(v) = r.asn {
                m.insert("asn".into(), json!(v));
            }
            if let Some(v) = &r.as_org {
                m.insert("as_org".into(), json!(v));
            }
            if let Some(v) = &r.country {
                m.insert("country".into(), json!(v));
            }
            if let Some(v) = r.familiar {
                m.insert("familiar".into(), json!(v));
            }
            m.insert("aws_internal".into(), json!(r.internal));
            m.insert("count".into(), json!(r.count));
            m.insert("first".into(), json!(format_millis(r.first)));
            m.insert("last".into(), json!(format_millis(r.last)));
            Value::Object(m)
        })
        .collect();
    json!({
        "count": c.uses,
        "first": use_json(&c.first),
        "last": use_json(&c.last),
        "actions": c.actions,
        "resources": c.resources,
        "sensitive_actions": c.sensitive,
        "addresses": addrs,
    })
}

fn cred_json(c: &Cred) -> Value {
    let mut m = Map::new();
    m.insert("access_key_id".into(), json!(c.key));
    m.insert("principal".into(), json!(c.principal));
    m.insert("identity".into(), json!(c.identity));
    m.insert("type".into(), json!(c.id_type));
    if let Some(a) = &c.account {
        m.insert("account".into(), json!(a));
    }
    if let Some(t) = c.creation {
        m.insert("creation_date".into(), json!(format_millis(t)));
    }
    m.insert("console".into(), json!(c.console));
    if let Some(v) = c.mfa_authenticated {
        m.insert("mfa_authenticated".into(), json!(v));
    }
    Value::Object(m)
}

/// Response steps for a principal and credential.
pub fn response_steps(
    kind: AlertKind,
    principal: &str,
    id_type: &str,
    key: &str,
    issuance: Option<&Issuance>,
    at: i64,
) -> Vec<String> {
    let t = format_millis(at);
    let mut out = Vec::new();
    let deny_older = |t: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{t}"}}}}}}]}}"#
        )
    };
    if let Some((role, sess)) = assumed_role_parts(principal) {
        let name = role.rsplit('/').next().unwrap_or("");
        out.push(format!(
            "Revoke every session of role {role} issued before {t} (the console's \"Revoke active sessions\" does the same): aws iam put-role-policy --role-name {} --policy-name AWSRevokeOlderSessions --policy-document {}",
            shq(name),
            shq(&deny_older(&t))
        ));
        if sess.starts_with("i-")
            || issuance.is_some_and(|i| i.service.as_deref() == Some("ec2.amazonaws.com"))
        {
            out.push(format!(
                "Investigate instance {sess}: how were its role credentials read (SSRF, compromised workload)? Require IMDSv2: aws ec2 modify-instance-metadata-options --instance-id {} --http-tokens required",
                shq(&sess)
            ));
        }
        if let Some(i) = issuance {
            if let (Some(issuer), IssuanceKind::AssumeRole) = (&i.issuer_arn, i.kind) {
                out.push(format!(
                    "Trace the issuer {issuer}{}: it assumed {role}; check how it obtained its own credential.",
                    i.issuer_key.as_deref().map(|k| format!(" (key {k})")).unwrap_or_default()
                ));
            }
        }
    } else if id_type == "Root" || principal.ends_with(":root") {
        out.push("Secure the root user: sign in as root, change its password, replace its MFA device, delete any root access keys and check the account's alternate contacts and recovery settings.".into());
    } else if let Some(user) = principal.split(":user/").nth(1) {
        let user = user.rsplit('/').next().unwrap_or(user);
        out.push(format!(
            "Revoke {user}'s temporary and console sessions issued before {t}: aws iam put-user-policy --user-name {} --policy-name RevokeOlderSessions --policy-document {}",
            shq(user),
            shq(&deny_older(&t))
        ));
        if let Some(ik) = issuance
            .and_then(|i| i.issuer_key.as_deref())
            .filter(|k| k.starts_with("AKIA"))
        {
            out.push(format!(
                "Deactivate the access key that issued the session: aws iam update-access-key --user-name {} --access-key-id {} --status Inactive",
                shq(user),
                shq(ik)
            ));
        } else {
            out.push(format!(
                "List and deactivate {user}'s access keys: aws iam list-access-keys --user-name {}",
                shq(user)
            ));
        }
        out.push(format!(
            "Reset {user}'s console password and re-register its MFA: aws iam update-login-profile --user-name {} --password-reset-required; aws iam list-mfa-devices --user-name {}",
            shq(user),
            shq(user)
        ));
    } else if principal.contains(":federated-user/") {
        out.push(format!(
            "Federation-token sessions cannot be revoked one by one: deny the calling user's sessions issued before {t} and deactivate the access key that called GetFederationToken{}.",
            issuance.and_then(|i| i.issuer_key.as_deref()).map(|k| format!(" ({k})")).unwrap_or_default()
        ));
    }
    if kind == AlertKind::MissingMfa {
        out.push(format!("Require MFA for {principal}: attach an MFA device and a policy denying actions without aws:MultiFactorAuthPresent; confirm with the owner that this sign-in was theirs."));
    }
    if key.starts_with("ASIA") {
        out.push(format!(
            "Review everything credential {key} did: aws cloudtrail lookup-events --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={}",
            shq(key)
        ));
    }
    out
}

fn techniques(kind: AlertKind, c_console: bool) -> Vec<&'static str> {
    match kind {
        AlertKind::NoIssuance | AlertKind::UsedAway if c_console => vec!["T1550.004", "T1078.004"],
        AlertKind::NoIssuance | AlertKind::UsedAway => vec!["T1550.001", "T1078.004"],
        AlertKind::MissingMfa => vec!["T1078.004", "T1556.006"],
    }
}

fn sort_events(first: Option<SharedEvent>, rest: Vec<Option<SharedEvent>>) -> Vec<SharedEvent> {
    let mut out: Vec<SharedEvent> = first.into_iter().collect();
    let mut tail: Vec<SharedEvent> = rest.into_iter().flatten().collect();
    tail.sort_by_key(|e| (e.timestamp, e.seq));
    for e in tail {
        if !out.iter().any(|x| x.seq == e.seq && x.origin == e.origin) {
            out.push(e);
        }
    }
    out
}

pub fn cred_finding(kind: AlertKind, c: &Cred, st: &EngineState, _cfg: &Settings) -> Finding {
    let mut factors = Vec::new();
    if let Some(u) = &c.unfamiliar {
        factors.push(format!(
            "used from {} which is unfamiliar for {}",
            where_(u),
            c.identity
        ));
    }
    if !c.sensitive.is_empty() {
        factors.push(format!(
            "sensitive calls: {}",
            c.sensitive.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut evidence = Vec::new();
    let mut fields = Map::new();
    let live_iss = match &c.lineage {
        Lineage::Known { issuance, .. } => st.issuances.get(issuance),
        _ => None,
    };
    let (trigger, at, reason) = match kind {
        AlertKind::NoIssuance => {
            let (acct, regions) = match &c.lineage {
                Lineage::Missing { account, regions } => (account.clone(), regions.clone()),
                _ => (String::new(), vec![]),
            };
            let cov: Vec<Value> = regions
                .iter()
                .map(|(r, a, b)| json!({"region": r, "covered_from": format_millis(*a), "covered_until": format_millis(*b)}))
                .collect();
            fields.insert(
                "tripline.lineage.issuance".into(),
                json!({"status": "missing", "account": acct, "coverage": cov, "expected_creation": c.creation.map(format_millis)}),
            );
            evidence.push(format!(
                "No issuance (sign-in, STS or identity-center event) produced credential {} of {}, created {}.",
                c.key,
                c.principal,
                c.creation.map(format_millis).unwrap_or_else(|| "at an unknown time".into())
            ));
            for (r, a, b) in &regions {
                evidence.push(format!(
                    "The trail covers account {acct} in {r} from {} to {}, including that time.",
                    format_millis(*a),
                    format_millis(*b)
                ));
            }
            let reason = format!(
                "Session without prior valid authentication: credential {} of {} was used {} time(s) (first {} from {} at {}) but no issuance exists although the trail covers its creation time.",
                c.key,
                c.principal,
                c.uses,
                c.first.api,
                where_(&c.first),
                format_millis(c.first.time)
            );
            (c.first_ev.clone(), c.first.time, reason)
        }
        AlertKind::UsedAway => {
            let a = c.away.clone().unwrap_or_default();
            let i = c.issuance.as_ref();
            let issued_where = i
                .map(|i| match (&i.service, &i.source_address) {
                    (Some(s), _) => format!("the AWS service {s}"),
                    (None, Some(addr)) => format!(
                        "{addr}{}",
                        i.network
                            .as_deref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    ),
                    _ => "an unknown address".into(),
                })
                .unwrap_or_default();
            if let Some(i) = i {
                if i.country.is_some() && a.country.is_some() && i.country != a.country {
                    factors.push(format!(
                        "country changed from {} to {}",
                        i.country.as_deref().unwrap_or(""),
                        a.country.as_deref().unwrap_or("")
                    ));
                }
                evidence.push(format!(
                    "Issued by {} at {} to {}.",
                    i.kind.as_str(),
                    format_millis(i.time),
                    issued_where
                ));
            }
            evidence.push(format!(
                "Usual networks of this credential: {}.",
                if c.home_networks.is_empty() {
                    "none yet".into()
                } else {
                    c.home_networks.join(", ")
                }
            ));
            evidence.push(format!(
                "Used from {} at {}: {}.",
                where_(&a),
                format_millis(a.time),
                a.api
            ));
            fields.insert("tripline.lineage.away_use".into(), use_json(&a));
            fields.insert(
                "tripline.lineage.home_networks".into(),
                json!(c.home_networks),
            );
            let reason = format!(
                "Session used away from where it was issued: credential {} of {}, issued to {}, was used from {} at {} ({}).",
                c.key,
                c.principal,
                issued_where,
                where_(&a),
                format_millis(a.time),
                a.api
            );
            (c.away_ev.clone(), a.time, reason)
        }
        AlertKind::MissingMfa => unreachable!("MFA findings are built from issuances"),
    };
    if let (Some(i), Lineage::Known { via, .. }) = (&c.issuance, &c.lineage) {
        fields.insert(
            "tripline.lineage.issuance".into(),
            issuance_json(i, Some(via)),
        );
    }
    evidence.push(format!(
        "{} call(s) from {} to {}: {}.",
        c.uses,
        format_millis(c.first.time),
        format_millis(c.last.time),
        c.actions
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    evidence.extend(factors.iter().cloned());
    fields.insert("tripline.lineage.alert".into(), json!(kind.name()));
    fields.insert("tripline.lineage.credential".into(), cred_json(c));
    fields.insert("tripline.lineage.uses".into(), uses_json(c));
    if let Some(u) = &c.unfamiliar {
        fields.insert("tripline.lineage.unfamiliar_use".into(), use_json(u));
    }
    fields.insert("tripline.lineage.severity_factors".into(), json!(factors));
    fields.insert(
        "tripline.lineage.techniques".into(),
        json!(techniques(kind, c.console)),
    );
    fields.insert("tripline.lineage.evidence".into(), json!(evidence));
    fields.insert(
        "tripline.lineage.response".into(),
        json!(response_steps(
            kind,
            &c.principal,
            &c.id_type,
            &c.key,
            c.issuance.as_ref(),
            at
        )),
    );
    let iss_ev = live_iss.and_then(|i| i.event.clone());
    let events = sort_events(trigger, vec![iss_ev, c.first_ev.clone(), c.last_ev.clone()]);
    Finding {
        kind,
        timestamp: at,
        events,
        fields,
        reason,
        raise: u8::from(!factors.is_empty()),
        key: format!("{}|{}", kind.name(), c.key),
    }
}

pub fn mfa_finding(i: &Issuance, creds: &[&Cred], _cfg: &Settings) -> Finding {
    let mut factors = Vec::new();
    let mut uses = 0;
    let mut actions = std::collections::BTreeMap::<String, u64>::new();
    let mut sensitive = std::collections::BTreeSet::new();
    let mut later = Vec::new();
    for c in creds {
        uses += c.uses;
        for (k, v) in &c.actions {
            *actions.entry(k.clone()).or_default() += v;
        }
        sensitive.extend(c.sensitive.iter().cloned());
        if let Some(u) = &c.unfamiliar {
            factors.push(format!(
                "session used from {} which is unfamiliar for {}",
                where_(u),
                c.identity
            ));
        }
        later.push(c.first_ev.clone());
        later.push(c.last_ev.clone());
    }
    if !sensitive.is_empty() {
        factors.push(format!(
            "sensitive calls: {}",
            sensitive.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let from = i
        .source_address
        .clone()
        .unwrap_or_else(|| "an unknown address".into());
    let mut evidence = vec![format!(
        "{} of {} at {} from {}{} shows no MFA ({}).",
        i.kind.as_str(),
        i.principal,
        format_millis(i.time),
        from,
        i.country
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        if i.mfa == Some(false) {
            "MFA not used"
        } else {
            "no MFA evidence in the event"
        }
    )];
    evidence.push(format!(
        "The session made {uses} call(s){}.",
        if actions.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                actions
                    .iter()
                    .map(|(k, v)| format!("{k} ×{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    evidence.extend(factors.iter().cloned());
    let mut fields = Map::new();
    fields.insert(
        "tripline.lineage.alert".into(),
        json!(AlertKind::MissingMfa.name()),
    );
    fields.insert("tripline.lineage.issuance".into(), issuance_json(i, None));
    fields.insert(
        "tripline.lineage.credential".into(),
        json!({"principal": i.principal, "identity": i.identity, "type": i.user_type, "account": i.account, "console": i.kind == IssuanceKind::ConsoleLogin, "linked_credentials": creds.iter().map(|c| c.key.clone()).collect::<Vec<_>>()}),
    );
    fields.insert(
        "tripline.lineage.uses".into(),
        json!({"count": uses, "actions": actions, "sensitive_actions": sensitive}),
    );
    fields.insert("tripline.lineage.severity_factors".into(), json!(factors));
    fields.insert(
        "tripline.lineage.techniques".into(),
        json!(techniques(AlertKind::MissingMfa, true)),
    );
    fields.insert("tripline.lineage.evidence".into(), json!(evidence));
    let key = creds.first().map(|c| c.key.clone()).unwrap_or_default();
    fields.insert(
        "tripline.lineage.response".into(),
        json!(response_steps(
            AlertKind::MissingMfa,
            &i.principal,
            i.user_type.as_deref().unwrap_or(""),
            &key,
            Some(i),
            i.time
        )),
    );
    let reason = format!(
        "Missing MFA evidence: {} of {} from {} at {} without MFA, where MFA is expected; the session made {} call(s).",
        i.kind.as_str(),
        i.principal,
        from,
        format_millis(i.time),
        uses
    );
    Finding {
        kind: AlertKind::MissingMfa,
        timestamp: i.time,
        events: sort_events(i.event.clone(), later),
        fields,
        reason,
        raise: u8::from(!factors.is_empty()),
        key: format!(
            "missing_mfa|{}|{}|{}",
            i.principal,
            i.time,
            i.event_id.as_deref().unwrap_or("")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shq("Admin-Role"), "Admin-Role");
        assert_eq!(shq("a b"), "'a b'");
        assert_eq!(shq("x';rm -rf /;'"), "'x'\\'';rm -rf /;'\\'''");
        assert_eq!(shq(""), "''");
    }

    #[test]
    fn response_for_role_and_user() {
        let r = response_steps(
            AlertKind::NoIssuance,
            "arn:aws:sts::111122223333:assumed-role/Ops/i-0abc1234567890def",
            "AssumedRole",
            "ASIAEXAMPLE",
            None,
            0,
        );
        assert!(r[0].contains("--role-name Ops"));
        assert!(r
            .iter()
            .any(|s| s.contains("--instance-id i-0abc1234567890def")));
        let r = response_steps(
            AlertKind::MissingMfa,
            "arn:aws:iam::111122223333:user/alice",
            "IAMUser",
            "",
            None,
            0,
        );
        assert!(r
            .iter()
            .any(|s| s.contains("update-login-profile --user-name alice")));
        assert!(r.iter().any(|s| s.contains("Require MFA")));
    }
}
