//! What the analytic reads from one normalized (ECS) CloudTrail document.
//!
//! Only ECS fields the Elastic pipeline produces are used (see the mapping notes): the
//! identity under `aws.cloudtrail.user_identity.*`, the response under
//! `aws.cloudtrail.flattened.response_elements.*`, `source.*` for addresses and GeoIP.
//! `event.original` is never needed.

use std::net::IpAddr;

use tripline_doc::{time, Document};

/// One event's facts.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub time: i64,
    pub event_id: Option<String>,
    pub provider: String,
    pub action: String,
    pub success: bool,
    /// `cloud.account.id` (the caller's account).
    pub account: Option<String>,
    /// The account whose trail logged the event (`recipient_account_id`, else `cloud.account.id`).
    pub trail_account: Option<String>,
    pub region: Option<String>,
    pub source_address: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub asn: Option<u64>,
    pub as_org: Option<String>,
    pub country: Option<String>,
    pub user_agent: Option<String>,
    pub id_type: Option<String>,
    pub arn: Option<String>,
    pub access_key: Option<String>,
    pub creation: Option<i64>,
    pub mfa_authenticated: Option<bool>,
    pub issuer_arn: Option<String>,
    pub invoked_by: Option<String>,
    pub console: bool,
    pub ec2_role_delivery: Option<String>,
    pub user_name: Option<String>,
    pub vpc_endpoint: bool,
    pub resources: Vec<String>,
    pub read_only: Option<bool>,
}

fn s(doc: &Document, f: &str) -> Option<String> {
    doc.str(f).filter(|v| !v.is_empty()).map(String::from)
}

/// A `"true"`/`"false"` keyword or a JSON boolean.
fn b(doc: &Document, f: &str) -> Option<bool> {
    match doc.first(f)? {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

impl Facts {
    pub fn from_doc(doc: &Document, timestamp: i64) -> Facts {
        let source_address = s(doc, "source.address").or_else(|| s(doc, "source.ip"));
        let source_ip = s(doc, "source.ip")
            .and_then(|v| v.parse().ok())
            .or_else(|| source_address.as_deref().and_then(|a| a.parse().ok()));
        let account = s(doc, "cloud.account.id");
        let trail_account =
            s(doc, "aws.cloudtrail.recipient_account_id").or_else(|| account.clone());
        let mut resources = Vec::new();
        for v in doc.values("aws.cloudtrail.resources.arn") {
            if let Some(a) = v.as_str() {
                if resources.len() < 8 {
                    resources.push(a.to_string());
                }
            }
        }
        Facts {
            time: timestamp,
            event_id: s(doc, "event.id"),
            provider: s(doc, "event.provider").unwrap_or_default(),
            action: s(doc, "event.action").unwrap_or_default(),
            success: doc
                .str("event.outcome")
                .map(|o| o == "success")
                .unwrap_or_else(|| !doc.exists("aws.cloudtrail.error_code")),
            account,
            trail_account,
            region: s(doc, "cloud.region"),
            source_address,
            source_ip,
            asn: doc.first("source.as.number").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            }),
            as_org: s(doc, "source.as.organization.name"),
            country: s(doc, "source.geo.country_iso_code"),
            user_agent: s(doc, "user_agent.original"),
            id_type: s(doc, "aws.cloudtrail.user_identity.type"),
            arn: s(doc, "aws.cloudtrail.user_identity.arn"),
            access_key: s(doc, "aws.cloudtrail.user_identity.access_key_id"),
            creation: doc
                .first("aws.cloudtrail.user_identity.session_context.creation_date")
                .and_then(time::value_to_millis),
            mfa_authenticated: b(
                doc,
                "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
            ),
            issuer_arn: s(
                doc,
                "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
            ),
            invoked_by: s(doc, "aws.cloudtrail.user_identity.invoked_by"),
            console: b(doc, "aws.cloudtrail.session_credential_from_console").unwrap_or(false),
            ec2_role_delivery: s(
                doc,
                "aws.cloudtrail.user_identity.session_context.ec2_role_delivery",
            ),
            user_name: s(doc, "user.name"),
            vpc_endpoint: doc.exists("aws.cloudtrail.vpc_endpoint_id"),
            resources,
            read_only: b(doc, "aws.cloudtrail.read_only"),
        }
    }

    /// Whether the caller used a temporary credential.
    pub fn is_session_use(&self) -> bool {
        if matches!(
            self.id_type.as_deref(),
            Some("AWSService" | "AWSAccount") | None
        ) {
            return false;
        }
        self.access_key
            .as_deref()
            .is_some_and(|k| k.starts_with("ASIA"))
            || self.creation.is_some()
            || self.console
    }

    /// `service:Action` for sensitivity globs and the view (`iam:CreateUser`).
    pub fn api(&self) -> String {
        let svc = self
            .provider
            .strip_suffix(".amazonaws.com")
            .unwrap_or(&self.provider);
        format!("{svc}:{}", self.action)
    }
}

/// Account id from an ARN (`arn:aws:sts::123456789012:assumed-role/R/s` → `123456789012`).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Role ARN and session name of an assumed-role session ARN.
pub fn assumed_role_parts(arn: &str) -> Option<(String, String)> {
    let mut it = arn.splitn(6, ':');
    let (_, partition, svc, _, acct, res) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    if svc != "sts" {
        return None;
    }
    let rest = res.strip_prefix("assumed-role/")?;
    let (role, sess) = rest.rsplit_once('/')?;
    Some((
        format!("arn:{partition}:iam::{acct}:role/{role}"),
        sess.to_string(),
    ))
}

/// The stable identity a session belongs to, for baselines and the view: the role for role
/// sessions, otherwise the principal itself.
pub fn identity_of(arn: &str, issuer_arn: Option<&str>) -> String {
    if let Some(i) = issuer_arn {
        if !i.is_empty() {
            return i.to_string();
        }
    }
    if let Some((role, _)) = assumed_role_parts(arn) {
        return role;
    }
    arn.to_string()
}

/// Glob with `*` and `?` (case-sensitive), linear time.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

pub fn any_glob(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| glob(p, text))
}

/// Network key of an address: /24 for IPv4, /48 for IPv6.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// Private, loopback, link-local, CGNAT and documentation-free "not on the internet" space.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || v.is_unspecified()
        }
        IpAddr::V6(v) => {
            let s0 = v.segments()[0];
            v.is_loopback()
                || v.is_unspecified()
                || (s0 & 0xfe00) == 0xfc00
                || (s0 & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.amazonaws.com", "ec2.amazonaws.com"));
        assert!(!glob("*.amazonaws.com", "amazonaws.com.evil"));
        assert!(glob(
            "arn:aws:iam::*:role/ci-*",
            "arn:aws:iam::1:role/ci-deploy"
        ));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*", ""));
    }

    #[test]
    fn arns() {
        let (role, sess) =
            assumed_role_parts("arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com")
                .unwrap();
        assert_eq!(role, "arn:aws:iam::111122223333:role/Admin");
        assert_eq!(sess, "alice@example.com");
        assert_eq!(
            arn_account("arn:aws:iam::111122223333:user/bob"),
            Some("111122223333")
        );
        assert_eq!(
            identity_of("arn:aws:iam::1:user/bob", None),
            "arn:aws:iam::1:user/bob"
        );
        assert!(assumed_role_parts("arn:aws:iam::1:user/bob").is_none());
        assert!(assumed_role_parts("garbage").is_none());
    }

    #[test]
    fn networks() {
        assert_eq!(
            network_of("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            network_of("2001:db8:abcd:12::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        assert!(is_private("10.1.2.3".parse().unwrap()));
        assert!(is_private("100.64.0.1".parse().unwrap()));
        assert!(!is_private("198.51.100.1".parse().unwrap()));
        assert!(is_private("fd00::1".parse().unwrap()));
    }
}
