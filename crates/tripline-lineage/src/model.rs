//! What the analytic reads from one normalized (ECS) CloudTrail document.
//!
//! Only ECS fields the Elastic pipeline produces are used (see the mapping notes): the
//! identity under `aws.cloudtrail.user_identity.*`, the response under
//! `aws.cloudtrail.flattened.response_elements.*`, `source.*` for addresses and GeoIP.
//! `event.original` is never needed.

use std::net::IpAddr;

use serde_json::{Map, Value};
use smallvec::SmallVec;
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

/// Every document field the analytic reads (the engine, issuance parsing and, through them,
/// evidence and alerts): a document reduced to these fields gives the same findings.
pub const FIELDS: &[&str] = &[
    "event.id",
    "event.provider",
    "event.action",
    "event.outcome",
    "cloud.account.id",
    "cloud.region",
    "source.address",
    "source.ip",
    "source.as.number",
    "source.as.organization.name",
    "source.geo.country_iso_code",
    "user_agent.original",
    "user.name",
    "aws.cloudtrail.recipient_account_id",
    "aws.cloudtrail.error_code",
    "aws.cloudtrail.resources.arn",
    "aws.cloudtrail.session_credential_from_console",
    "aws.cloudtrail.vpc_endpoint_id",
    "aws.cloudtrail.user_identity.type",
    "aws.cloudtrail.user_identity.arn",
    "aws.cloudtrail.user_identity.access_key_id",
    "aws.cloudtrail.user_identity.invoked_by",
    "aws.cloudtrail.user_identity.session_context.creation_date",
    "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
    "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
    "aws.cloudtrail.console_login.additional_eventdata.mfa_used",
    "aws.cloudtrail.flattened.additional_eventdata.MFAUsed",
    "aws.cloudtrail.flattened.additional_eventdata.SwitchTo",
    "aws.cloudtrail.flattened.request_parameters.accountId",
    "aws.cloudtrail.flattened.request_parameters.name",
    "aws.cloudtrail.flattened.request_parameters.roleArn",
    "aws.cloudtrail.flattened.request_parameters.roleName",
    "aws.cloudtrail.flattened.request_parameters.roleSessionName",
    "aws.cloudtrail.flattened.request_parameters.serialNumber",
    "aws.cloudtrail.flattened.response_elements.assumedRoleUser.arn",
    "aws.cloudtrail.flattened.response_elements.credentials.accessKeyId",
    "aws.cloudtrail.flattened.response_elements.credentials.expiration",
    "aws.cloudtrail.flattened.response_elements.federatedUser.arn",
];

type Vals<'a> = SmallVec<[&'a Value; 2]>;

/// An object on the way to a field: plain (an object none of whose keys holds a dot, so a
/// child is reachable by its own key only), missing, or anything else (read the slow way).
#[derive(Clone, Copy)]
enum Node<'a> {
    Plain(&'a Map<String, Value>),
    /// An array: a key below it is looked up in each object item (nested arrays flattened).
    Array(&'a [Value]),
    Missing,
    Slow,
}

fn plain(m: &Map<String, Value>) -> Node<'_> {
    if m.keys().any(|k| k.contains('.')) {
        Node::Slow
    } else {
        Node::Plain(m)
    }
}

impl<'a> Node<'a> {
    fn child(self, key: &str) -> Node<'a> {
        match self {
            Node::Plain(m) => match m.get(key) {
                Some(Value::Object(c)) => plain(c),
                // Arrays of objects are flattened by `Document::values`.
                Some(Value::Array(items)) => Node::Array(items),
                _ => Node::Missing,
            },
            Node::Array(_) => Node::Slow,
            other => other,
        }
    }
}

fn push_leaf<'a>(v: &'a Value, out: &mut Vals<'a>) {
    match v {
        Value::Null => {}
        Value::Array(items) => items.iter().for_each(|it| push_leaf(it, out)),
        other => out.push(other),
    }
}

/// `key` (no dot) in every object of `items`, as `Document::values` descends arrays.
fn leaf_in_items<'a>(items: &'a [Value], key: &str, out: &mut Vals<'a>) {
    for it in items {
        match it {
            Value::Object(m) => {
                if let Some(v) = m.get(key) {
                    push_leaf(v, out);
                }
            }
            Value::Array(inner) => leaf_in_items(inner, key, out),
            _ => {}
        }
    }
}

/// `aws.cloudtrail.resources.arn`: the first 8 ARNs.
pub(crate) fn resources_of(doc: &Document) -> Vec<String> {
    let r = Reader::new(doc);
    let mut resources = Vec::new();
    let node = r.root.child("aws").child("cloudtrail").child("resources");
    for v in r.vals(node, "arn", "aws.cloudtrail.resources.arn") {
        if let Some(a) = v.as_str() {
            if resources.len() < 8 {
                resources.push(a.to_string());
            }
        }
    }
    resources
}

/// Reads a document's fields with exactly [`Document::values`]' semantics, resolving each
/// shared parent object once: on a nested document every field is then one lookup of its
/// last segment instead of one hash of every split of the whole path.
struct Reader<'a> {
    doc: &'a Document,
    root: Node<'a>,
}

impl<'a> Reader<'a> {
    fn new(doc: &'a Document) -> Reader<'a> {
        // Projected documents are flat: `values` is already a single lookup there.
        let root = if doc.is_projected() {
            Node::Slow
        } else {
            plain(&doc.0)
        };
        Reader { doc, root }
    }

    /// Values of `path`, whose last segment `key` lies in `node`.
    fn vals(&self, node: Node<'a>, key: &str, path: &str) -> Vals<'a> {
        debug_assert!(path.ends_with(key) && !key.contains('.'));
        let mut out = Vals::new();
        match node {
            Node::Plain(m) => {
                if let Some(v) = m.get(key) {
                    push_leaf(v, &mut out);
                }
            }
            Node::Array(items) => leaf_in_items(items, key, &mut out),
            Node::Missing => {}
            Node::Slow => return self.doc.values(path),
        }
        out
    }

    /// First string value, non-empty (as `Document::str`).
    fn s(&self, node: Node<'a>, key: &str, path: &str) -> Option<String> {
        self.vals(node, key, path)
            .into_iter()
            .find_map(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(String::from)
    }

    fn first(&self, node: Node<'a>, key: &str, path: &str) -> Option<&'a Value> {
        self.vals(node, key, path).into_iter().next()
    }

    /// A `"true"`/`"false"` keyword or a JSON boolean.
    fn b(&self, node: Node<'a>, key: &str, path: &str) -> Option<bool> {
        match self.first(node, key, path)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

impl Facts {
    pub fn from_doc(doc: &Document, timestamp: i64) -> Facts {
        let mut f = Facts::read(doc, timestamp);
        let r = Reader::new(doc);
        let sc = r
            .root
            .child("aws")
            .child("cloudtrail")
            .child("user_identity")
            .child("session_context");
        f.ec2_role_delivery = r.s(
            sc,
            "ec2_role_delivery",
            "aws.cloudtrail.user_identity.session_context.ec2_role_delivery",
        );
        f.read_only = r.b(
            r.root.child("aws").child("cloudtrail"),
            "read_only",
            "aws.cloudtrail.read_only",
        );
        f
    }

    /// The facts the engine uses (all but `ec2_role_delivery` and `read_only`), reading only
    /// [`FIELDS`].
    pub(crate) fn read(doc: &Document, timestamp: i64) -> Facts {
        let mut f = Facts::read_core(doc, timestamp);
        f.read_rest(doc);
        f.resources = resources_of(doc);
        f
    }

    /// What only new credentials, new addresses and issuances need: `user_name`,
    /// `user_agent`, `mfa_authenticated`, `as_org` (read after [`Facts::read_core`]).
    pub(crate) fn read_rest(&mut self, doc: &Document) {
        let r = Reader::new(doc);
        let root = r.root;
        let sc = root
            .child("aws")
            .child("cloudtrail")
            .child("user_identity")
            .child("session_context");
        self.user_name = r.s(root.child("user"), "name", "user.name");
        self.user_agent = r.s(root.child("user_agent"), "original", "user_agent.original");
        self.mfa_authenticated = r.b(
            sc,
            "mfa_authenticated",
            "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
        );
        self.as_org = r.s(
            root.child("source").child("as").child("organization"),
            "name",
            "source.as.organization.name",
        );
    }

    /// The facts every event needs: all but those of [`Facts::read_rest`] and `resources`.
    pub(crate) fn read_core(doc: &Document, timestamp: i64) -> Facts {
        let r = Reader::new(doc);
        let root = r.root;
        let event = root.child("event");
        let cloud = root.child("cloud");
        let source = root.child("source");
        let ct = root.child("aws").child("cloudtrail");
        let ui = ct.child("user_identity");
        let sc = ui.child("session_context");
        let ip = r.s(source, "ip", "source.ip");
        let source_address = r
            .s(source, "address", "source.address")
            .or_else(|| ip.clone());
        let source_ip = ip
            .and_then(|v| v.parse().ok())
            .or_else(|| source_address.as_deref().and_then(|a| a.parse().ok()));
        let account = r.s(cloud.child("account"), "id", "cloud.account.id");
        let trail_account = r
            .s(
                ct,
                "recipient_account_id",
                "aws.cloudtrail.recipient_account_id",
            )
            .or_else(|| account.clone());
        let success = match r
            .vals(event, "outcome", "event.outcome")
            .into_iter()
            .find_map(|v| v.as_str())
        {
            Some(o) => o == "success",
            None => r
                .vals(ct, "error_code", "aws.cloudtrail.error_code")
                .is_empty(),
        };
        let as_ = source.child("as");
        Facts {
            time: timestamp,
            event_id: r.s(event, "id", "event.id"),
            provider: r.s(event, "provider", "event.provider").unwrap_or_default(),
            action: r.s(event, "action", "event.action").unwrap_or_default(),
            success,
            account,
            trail_account,
            region: r.s(cloud, "region", "cloud.region"),
            source_address,
            source_ip,
            asn: r.first(as_, "number", "source.as.number").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            }),
            as_org: None,
            country: r.s(
                source.child("geo"),
                "country_iso_code",
                "source.geo.country_iso_code",
            ),
            user_agent: None,
            id_type: r.s(ui, "type", "aws.cloudtrail.user_identity.type"),
            arn: r.s(ui, "arn", "aws.cloudtrail.user_identity.arn"),
            access_key: r.s(
                ui,
                "access_key_id",
                "aws.cloudtrail.user_identity.access_key_id",
            ),
            creation: r
                .first(
                    sc,
                    "creation_date",
                    "aws.cloudtrail.user_identity.session_context.creation_date",
                )
                .and_then(time::value_to_millis),
            mfa_authenticated: None,
            issuer_arn: r.s(
                sc.child("session_issuer"),
                "arn",
                "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
            ),
            invoked_by: r.s(ui, "invoked_by", "aws.cloudtrail.user_identity.invoked_by"),
            console: r
                .b(
                    ct,
                    "session_credential_from_console",
                    "aws.cloudtrail.session_credential_from_console",
                )
                .unwrap_or(false),
            ec2_role_delivery: None,
            user_name: None,
            vpc_endpoint: !r
                .vals(ct, "vpc_endpoint_id", "aws.cloudtrail.vpc_endpoint_id")
                .is_empty(),
            resources: Vec::new(),
            read_only: None,
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
    if pattern.is_ascii() && text.is_ascii() {
        // One byte per character: no need to decode (this runs for every event).
        return glob_units(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_units(&p, &t, '*', '?')
}

fn glob_units<T: PartialEq + Copy>(p: &[T], t: &[T], any: T, one: T) -> bool {
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
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
    while pi < p.len() && p[pi] == any {
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
