//! The issuance graph: issuances, the credentials they produce, their uses, baselines, and
//! the findings (alerts) derived from them. One engine per detector; state is bounded by
//! credential lifetimes and the baseline window, and serializes for persistence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tripline_doc::{time::format_millis, Document, Event, SharedEvent};

use crate::config::Settings;
use crate::coverage_track::{CoverageTracker, Covered};
use crate::model::{
    any_glob, arn_account, assumed_role_parts, identity_of, is_private, network_of, Facts,
};

/// How a credential came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
pub enum IssuanceKind {
    ConsoleLogin,
    FederationSignin,
    SwitchRole,
    AssumeRole,
    AssumeRoleWithSaml,
    AssumeRoleWithWebIdentity,
    GetSessionToken,
    GetFederationToken,
    IdentityCenter,
    /// AssumeRole by an AWS service for an EC2 instance profile, Lambda execution role, ...
    ServiceRole,
}

impl IssuanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuanceKind::ConsoleLogin => "ConsoleLogin",
            IssuanceKind::FederationSignin => "GetSigninToken",
            IssuanceKind::SwitchRole => "SwitchRole",
            IssuanceKind::AssumeRole => "AssumeRole",
            IssuanceKind::AssumeRoleWithSaml => "AssumeRoleWithSAML",
            IssuanceKind::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
            IssuanceKind::GetSessionToken => "GetSessionToken",
            IssuanceKind::GetFederationToken => "GetFederationToken",
            IssuanceKind::IdentityCenter => "GetRoleCredentials",
            IssuanceKind::ServiceRole => "AssumeRole (AWS service)",
        }
    }
    fn is_console(self) -> bool {
        matches!(
            self,
            IssuanceKind::ConsoleLogin | IssuanceKind::FederationSignin | IssuanceKind::SwitchRole
        )
    }
}

/// One issuance event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issuance {
    pub id: u64,
    pub kind: IssuanceKind,
    pub time: i64,
    /// The principal the credential acts as (session ARN, user ARN, root ARN).
    pub principal: String,
    pub identity: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub key: Option<String>,
    pub expires: i64,
    /// MFA evidence: `Some(true)` MFA used, `Some(false)` known absent, `None` unknown.
    pub mfa: Option<bool>,
    pub mfa_required: bool,
    /// The AWS service the credential was issued to (`ec2.amazonaws.com`), if any.
    pub service: Option<String>,
    pub source_address: Option<String>,
    pub network: Option<String>,
    pub asn: Option<u64>,
    pub country: Option<String>,
    pub issuer_arn: Option<String>,
    pub issuer_key: Option<String>,
    pub user_type: Option<String>,
    pub event_id: Option<String>,
    pub user_agent: Option<String>,
    /// Identity Center: the permission set role name the credentials are for.
    pub sso_role: Option<String>,
    /// Credentials linked to it (bounded).
    pub creds: Vec<String>,
    pub due: Option<i64>,
    pub alerted: bool,
    pub excluded: Option<String>,
    #[serde(skip)]
    pub event: Option<SharedEvent>,
}

/// How a credential links to its issuance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Lineage {
    /// Linked to an issuance event (`via`: access key, principal and time, console session, identity center).
    Known { issuance: u64, via: String },
    /// The trail covers the creation time, and no issuance exists.
    Missing {
        account: String,
        regions: Vec<(String, i64, i64)>,
    },
    /// Cannot be judged (created before the trail's coverage, foreign account, ...).
    Unknown { reason: String },
}

/// One use, as evidence.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UseRec {
    pub time: i64,
    pub event_id: Option<String>,
    pub api: String,
    pub region: Option<String>,
    pub address: Option<String>,
    pub network: Option<String>,
    pub asn: Option<u64>,
    pub country: Option<String>,
    /// Against the identity's baseline: `Some(false)` unfamiliar, `None` no baseline / internal.
    pub familiar: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AddrRec {
    pub network: Option<String>,
    pub asn: Option<u64>,
    pub as_org: Option<String>,
    pub country: Option<String>,
    pub internal: bool,
    pub familiar: Option<bool>,
    pub count: u64,
    pub first: i64,
    pub last: i64,
}

/// A temporary credential and what it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cred {
    pub key: String,
    pub principal: String,
    pub identity: String,
    pub id_type: String,
    pub account: Option<String>,
    pub creation: Option<i64>,
    pub console: bool,
    pub mfa_authenticated: Option<bool>,
    pub lineage: Lineage,
    pub issuance: Option<Issuance>,
    pub excluded: Option<String>,
    pub uses: u64,
    pub first: UseRec,
    pub last: UseRec,
    pub actions: BTreeMap<String, u64>,
    pub addresses: BTreeMap<String, AddrRec>,
    pub resources: BTreeSet<String>,
    pub sensitive: BTreeSet<String>,
    pub home_networks: Vec<String>,
    pub away: Option<UseRec>,
    pub unfamiliar: Option<UseRec>,
    /// Alert kinds pending (bit per [`AlertKind`]) and already raised.
    pub pending: u8,
    pub alerted: u8,
    pub due: Option<i64>,
    #[serde(skip)]
    pub first_ev: Option<SharedEvent>,
    #[serde(skip)]
    pub last_ev: Option<SharedEvent>,
    #[serde(skip)]
    pub away_ev: Option<SharedEvent>,
}

/// The alerts the analytic raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlertKind {
    /// Session without prior valid authentication.
    NoIssuance,
    /// Session used away from where it was issued.
    UsedAway,
    /// Missing MFA evidence where MFA is expected.
    MissingMfa,
}

impl AlertKind {
    pub fn bit(self) -> u8 {
        match self {
            AlertKind::NoIssuance => 1,
            AlertKind::UsedAway => 2,
            AlertKind::MissingMfa => 4,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::NoIssuance => "session_without_issuance",
            AlertKind::UsedAway => "session_used_away",
            AlertKind::MissingMfa => "missing_mfa",
        }
    }
    pub fn all() -> [AlertKind; 3] {
        [
            AlertKind::NoIssuance,
            AlertKind::UsedAway,
            AlertKind::MissingMfa,
        ]
    }
}

/// An alert the engine found, before it is tied to a rule.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: AlertKind,
    pub timestamp: i64,
    /// Triggering event first, then the rest of the chain in time order.
    pub events: Vec<SharedEvent>,
    /// `tripline.lineage.*` and friends.
    pub fields: Map<String, Value>,
    pub reason: String,
    /// Severity steps above the rule's (0 = the rule's own).
    pub raise: u8,
    pub key: String,
}

/// Source baseline of one identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub first: i64,
    pub events: u64,
    pub addrs: HashMap<String, i64>,
    pub nets: HashMap<String, i64>,
    pub asns: HashMap<u64, i64>,
    pub countries: HashMap<String, i64>,
}

impl Baseline {
    fn judge(&self, min_events: u64, addr: &str, net: &str, asn: Option<u64>) -> Option<bool> {
        if self.events < min_events {
            return None;
        }
        Some(
            self.addrs.contains_key(addr)
                || self.nets.contains_key(net)
                || asn.is_some_and(|a| self.asns.contains_key(&a)),
        )
    }
    fn learn(
        &mut self,
        t: i64,
        addr: String,
        net: String,
        asn: Option<u64>,
        country: Option<&str>,
        cap: usize,
    ) {
        if self.events == 0 {
            self.first = t;
        }
        self.events += 1;
        put_capped(&mut self.addrs, addr, t, cap);
        put_capped(&mut self.nets, net, t, cap);
        if let Some(a) = asn {
            put_capped(&mut self.asns, a, t, cap);
        }
        if let Some(c) = country {
            put_capped_str(&mut self.countries, c, t, cap);
        }
    }
    fn prune(&mut self, horizon: i64) {
        self.addrs.retain(|_, t| *t >= horizon);
        self.nets.retain(|_, t| *t >= horizon);
        self.asns.retain(|_, t| *t >= horizon);
        self.countries.retain(|_, t| *t >= horizon);
    }
    fn last_seen(&self) -> i64 {
        self.nets.values().copied().max().unwrap_or(self.first)
    }
}

fn put_capped_str(m: &mut HashMap<String, i64>, k: &str, t: i64, cap: usize) {
    // A known key (the usual case) is refreshed in place, without building a new key.
    match m.get_mut(k) {
        Some(v) => *v = t,
        None => put_capped(m, k.to_string(), t, cap),
    }
}

fn put_capped<K: std::hash::Hash + Eq + Clone>(m: &mut HashMap<K, i64>, k: K, t: i64, cap: usize) {
    if let Some(v) = m.get_mut(&k) {
        *v = t;
        return;
    }
    if m.len() >= cap.max(1) {
        if let Some(oldest) = m.iter().min_by_key(|(_, v)| **v).map(|(k, _)| k.clone()) {
            m.remove(&oldest);
        }
    }
    m.insert(k, t);
}

/// The serializable part of the engine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineState {
    pub now: i64,
    pub next_id: u64,
    pub next_sweep: i64,
    pub issuances: BTreeMap<u64, Issuance>,
    pub creds: HashMap<String, Cred>,
    pub baselines: HashMap<String, Baseline>,
    pub coverage: CoverageTracker,
    /// Accounts where Identity Center issuance events were seen.
    pub sso_seen: BTreeSet<String>,
    pub counters: BTreeMap<String, u64>,
}

pub struct Engine {
    pub cfg: Settings,
    pub st: EngineState,
    by_key: HashMap<String, u64>,
    by_principal: HashMap<String, Vec<u64>>,
    /// (account, permission-set role name) → identity-center issuances.
    by_sso: HashMap<(String, String), Vec<u64>>,
    /// View mode: evicted credentials and issuances are kept here instead of dropped.
    pub archive: Option<(Vec<Cred>, Vec<Issuance>)>,
    /// Pending findings by due time: (due, credential key) and (due, issuance id), so each event
    /// only looks at what is due (entries whose item changed since are skipped).
    due_creds: BTreeSet<(i64, String)>,
    due_iss: BTreeSet<(i64, u64)>,
}

const MAX_LINKED: usize = 16;
const MAX_ACTIONS: usize = 64;
const MAX_ADDRS: usize = 16;
const MAX_RES: usize = 16;
const SWEEP_EVERY: i64 = 10 * 60_000;

fn bump(c: &mut BTreeMap<String, u64>, k: &str) {
    // Every event bumps a counter: allocate the name only the first time.
    match c.get_mut(k) {
        Some(v) => *v += 1,
        None => {
            c.insert(k.to_string(), 1);
        }
    }
}

/// Whether an event of this provider and action can issue a credential (see `issuance_of`).
fn issues(f: &Facts) -> bool {
    matches!(
        (f.provider.as_str(), f.action.as_str()),
        (
            "sts.amazonaws.com",
            "AssumeRole"
                | "AssumeRoleWithSAML"
                | "AssumeRoleWithWebIdentity"
                | "GetSessionToken"
                | "GetFederationToken"
        ) | (
            "signin.amazonaws.com",
            "ConsoleLogin" | "GetSigninToken" | "SwitchRole"
        ) | ("sso.amazonaws.com", "GetRoleCredentials" | "Federate")
    )
}

/// What one event says about its source, computed once per event.
struct Source {
    internal: bool,
    /// The identity the source is judged and learned for.
    identity: Option<String>,
    /// Address text and network of `source_ip` (when there is one).
    addr: Option<(String, String)>,
}

impl Engine {
    pub fn new(cfg: Settings) -> Engine {
        Engine {
            cfg,
            st: EngineState::default(),
            by_key: HashMap::new(),
            by_principal: HashMap::new(),
            by_sso: HashMap::new(),
            archive: None,
            due_creds: BTreeSet::new(),
            due_iss: BTreeSet::new(),
        }
    }

    /// Replaces the state (from [`Engine::save`]) and rebuilds the indexes.
    pub fn load(&mut self, st: EngineState) {
        self.st = st;
        self.by_key.clear();
        self.by_principal.clear();
        self.by_sso.clear();
        let ids: Vec<u64> = self.st.issuances.keys().copied().collect();
        for id in ids {
            self.index(id);
        }
        self.due_creds = self
            .st
            .creds
            .iter()
            .filter_map(|(k, c)| c.due.map(|d| (d, k.clone())))
            .collect();
        self.due_iss = self
            .st
            .issuances
            .iter()
            .filter_map(|(k, i)| i.due.filter(|_| !i.alerted).map(|d| (d, *k)))
            .collect();
    }

    pub fn save(&self) -> &EngineState {
        &self.st
    }

    fn index(&mut self, id: u64) {
        let Some(i) = self.st.issuances.get(&id) else {
            return;
        };
        if let Some(k) = &i.key {
            self.by_key.insert(k.clone(), id);
        }
        self.by_principal
            .entry(i.principal.clone())
            .or_default()
            .push(id);
        if let (Some(role), Some(acct)) = (&i.sso_role, &i.account) {
            self.by_sso
                .entry((acct.clone(), role.clone()))
                .or_default()
                .push(id);
        }
    }

    fn unindex(&mut self, i: &Issuance) {
        if let Some(k) = &i.key {
            if self.by_key.get(k) == Some(&i.id) {
                self.by_key.remove(k);
            }
        }
        if let Some(v) = self.by_principal.get_mut(&i.principal) {
            v.retain(|x| *x != i.id);
            if v.is_empty() {
                self.by_principal.remove(&i.principal);
            }
        }
        if let (Some(role), Some(acct)) = (&i.sso_role, &i.account) {
            let k = (acct.clone(), role.clone());
            if let Some(v) = self.by_sso.get_mut(&k) {
                v.retain(|x| *x != i.id);
                if v.is_empty() {
                    self.by_sso.remove(&k);
                }
            }
        }
    }

    /// Feeds one event (in event-time order); findings that became due are appended to `out`.
    pub fn push(&mut self, ev: &SharedEvent, out: &mut Vec<Finding>) {
        // Fields only new credentials, new addresses and issuances need are read when they do.
        let mut f = Facts::read_core(&ev.doc, ev.timestamp);
        let mut rest = false;
        self.st.now = self.st.now.max(f.time);
        bump(&mut self.st.counters, "events");
        if let (Some(acct), Some(region)) = (&f.trail_account, &f.region) {
            self.st
                .coverage
                .observe(acct, region, f.time, self.cfg.max_gap);
        }
        if f.provider == "sso.amazonaws.com"
            || f.provider == "identitystore.amazonaws.com"
            || f.provider == "sso-directory.amazonaws.com"
        {
            if let Some(a) = &f.trail_account {
                self.st.sso_seen.insert(a.clone());
            }
        }
        let src = Source {
            internal: self.is_internal(&f),
            identity: Self::identity(&f),
            addr: f.source_ip.map(|ip| (ip.to_string(), network_of(ip))),
        };
        let familiar = self.judge_source(&f, &src);
        if f.success && issues(&f) {
            f.read_rest(&ev.doc);
            rest = true;
            if let Some(iss) = self.issuance_of(&f, ev, src.internal) {
                self.add_issuance(iss);
            }
        }
        if f.is_session_use() {
            if !rest && self.use_needs_rest(&f) {
                f.read_rest(&ev.doc);
            }
            self.on_use(&f, ev, familiar, &src);
        }
        self.learn_source(&f, src);
        self.flush(self.st.now, false, out);
        if self.st.now >= self.st.next_sweep {
            self.sweep();
            self.st.next_sweep = self.st.now + SWEEP_EVERY;
        }
    }

    /// End of input: every pending finding is emitted now.
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        self.flush(i64::MAX, true, out);
    }

    // ---- sources and baselines ----

    /// An address the analytic never judges: AWS services, private space, VPC endpoints,
    /// configured internal networks and AWS ASNs.
    fn is_internal(&self, f: &Facts) -> bool {
        let ex = &self.cfg.raw.exclude;
        if let Some(a) = &f.source_address {
            if any_glob(&ex.source_addresses, a) {
                return true;
            }
        }
        let Some(ip) = f.source_ip else { return true };
        is_private(ip)
            || f.vpc_endpoint
            || f.invoked_by.is_some()
            || self.cfg.internal_networks.iter().any(|n| n.contains(&ip))
            || f.asn.is_some_and(|a| ex.aws_asns.contains(&a))
    }

    fn identity(f: &Facts) -> Option<String> {
        let arn = f.arn.as_deref()?;
        Some(identity_of(arn, f.issuer_arn.as_deref()))
    }

    fn judge_source(&self, f: &Facts, src: &Source) -> Option<bool> {
        if src.internal {
            return None;
        }
        let (addr, net) = src.addr.as_ref()?;
        let id = src.identity.as_ref()?;
        let b = self.st.baselines.get(id)?;
        b.judge(self.cfg.raw.baseline.min_events, addr, net, f.asn)
    }

    fn learn_source(&mut self, f: &Facts, src: Source) {
        if src.internal || !f.success {
            return;
        }
        let (Some((addr, net)), Some(id)) = (src.addr, src.identity) else {
            return;
        };
        let cap = self.cfg.raw.baseline.max_entries;
        if !self.st.baselines.contains_key(&id)
            && self.st.baselines.len() >= self.cfg.raw.baseline.max_identities
        {
            if let Some(oldest) = self
                .st
                .baselines
                .iter()
                .min_by_key(|(_, b)| b.last_seen())
                .map(|(k, _)| k.clone())
            {
                self.st.baselines.remove(&oldest);
            }
        }
        let b = match self.st.baselines.get_mut(&id) {
            Some(b) => b,
            None => self.st.baselines.entry(id).or_default(),
        };
        b.learn(f.time, addr, net, f.asn, f.country.as_deref(), cap);
    }

    // ---- issuances ----

    fn issuance_of(&self, f: &Facts, ev: &SharedEvent, internal: bool) -> Option<Issuance> {
        // Most events issue nothing: decide that before reading any other field.
        if !issues(f) {
            return None;
        }
        let doc = &ev.doc;
        let re = |k: &str| {
            doc.str(&format!("aws.cloudtrail.flattened.response_elements.{k}"))
                .map(String::from)
        };
        let rp = |k: &str| {
            doc.str(&format!("aws.cloudtrail.flattened.request_parameters.{k}"))
                .map(String::from)
        };
        let ad = |k: &str| {
            doc.str(&format!(
                "aws.cloudtrail.flattened.additional_eventdata.{k}"
            ))
            .map(String::from)
        };
        let caller_is_service = f.id_type.as_deref() == Some("AWSService")
            || f.source_address
                .as_deref()
                .is_some_and(|a| a.ends_with(".amazonaws.com"));
        let service = if caller_is_service {
            f.invoked_by.clone().or_else(|| {
                f.source_address
                    .clone()
                    .filter(|a| a.ends_with(".amazonaws.com"))
            })
        } else {
            None
        };
        let key = re("credentials.accessKeyId");
        let expires =
            re("credentials.expiration").and_then(|e| tripline_doc::time::parse_millis(&e));
        let mut kind;
        let principal: String;
        let mut mfa: Option<bool> = None;
        let mut sso_role = None;
        let mut account = None;
        match (f.provider.as_str(), f.action.as_str()) {
            (
                "sts.amazonaws.com",
                "AssumeRole" | "AssumeRoleWithSAML" | "AssumeRoleWithWebIdentity",
            ) => {
                kind = match f.action.as_str() {
                    "AssumeRole" => IssuanceKind::AssumeRole,
                    "AssumeRoleWithSAML" => IssuanceKind::AssumeRoleWithSaml,
                    _ => IssuanceKind::AssumeRoleWithWebIdentity,
                };
                principal = re("assumedRoleUser.arn").or_else(|| {
                    let role = rp("roleArn")?;
                    let sess = rp("roleSessionName")?;
                    let name = role.rsplit('/').next()?.to_string();
                    Some(format!(
                        "arn:aws:sts::{}:assumed-role/{name}/{sess}",
                        arn_account(&role)?
                    ))
                })?;
                if kind == IssuanceKind::AssumeRole {
                    if service.is_some() {
                        kind = IssuanceKind::ServiceRole;
                    } else {
                        mfa =
                            Some(rp("serialNumber").is_some() || f.mfa_authenticated == Some(true));
                    }
                }
            }
            ("sts.amazonaws.com", "GetSessionToken") => {
                kind = IssuanceKind::GetSessionToken;
                principal = f.arn.clone()?;
                mfa = Some(rp("serialNumber").is_some());
            }
            ("sts.amazonaws.com", "GetFederationToken") => {
                kind = IssuanceKind::GetFederationToken;
                principal = re("federatedUser.arn").or_else(|| {
                    Some(format!(
                        "arn:aws:sts::{}:federated-user/{}",
                        f.account.as_deref()?,
                        rp("name")?
                    ))
                })?;
                mfa = f.mfa_authenticated;
            }
            ("signin.amazonaws.com", "ConsoleLogin") => {
                kind = IssuanceKind::ConsoleLogin;
                principal = f.arn.clone()?;
                mfa = match doc.first("aws.cloudtrail.console_login.additional_eventdata.mfa_used")
                {
                    Some(Value::Bool(b)) => Some(*b),
                    _ => ad("MFAUsed").map(|v| v == "Yes"),
                };
                // Federated sign-ins (SAML, identity center) authenticate at the IdP.
                if matches!(
                    f.id_type.as_deref(),
                    Some("AssumedRole" | "FederatedUser" | "SAMLUser" | "WebIdentityUser")
                ) {
                    mfa = mfa.filter(|m| *m);
                }
            }
            ("signin.amazonaws.com", "GetSigninToken") => {
                kind = IssuanceKind::FederationSignin;
                principal = f.arn.clone()?;
            }
            ("signin.amazonaws.com", "SwitchRole") => {
                kind = IssuanceKind::SwitchRole;
                let role = ad("SwitchTo")?;
                let (_, rest) = role.split_once(":role/")?;
                let name = rest.rsplit('/').next()?;
                let sess = f.user_name.clone().or_else(|| {
                    f.arn
                        .as_deref()
                        .and_then(|a| a.rsplit('/').next().map(String::from))
                })?;
                principal = format!(
                    "arn:aws:sts::{}:assumed-role/{name}/{sess}",
                    arn_account(&role)?
                );
                mfa = f.mfa_authenticated;
            }
            ("sso.amazonaws.com", "GetRoleCredentials" | "Federate") => {
                kind = IssuanceKind::IdentityCenter;
                let role = rp("roleName")?;
                let acct = rp("accountId")?;
                principal = format!("arn:aws:sts::{acct}:assumed-role/AWSReservedSSO_{role}_*/*");
                sso_role = Some(role);
                account = Some(acct);
            }
            _ => return None,
        }
        let account = account
            .or_else(|| arn_account(&principal).map(String::from))
            .or_else(|| f.account.clone());
        let lifetime = match kind {
            IssuanceKind::GetSessionToken | IssuanceKind::GetFederationToken => {
                self.cfg.max_lifetime_long
            }
            k if k.is_console() => self.cfg.console_session_lifetime,
            _ => self.cfg.max_lifetime,
        };
        let expires = expires
            .filter(|e| *e > f.time && *e - f.time <= self.cfg.longest_lifetime())
            .unwrap_or(f.time + lifetime);
        let id_type = f.id_type.clone();
        let mp = &self.cfg.raw.mfa;
        let mfa_required = match kind {
            IssuanceKind::ConsoleLogin => match id_type.as_deref() {
                Some("IAMUser") => mp.iam_user_console,
                Some("Root") => mp.root_console,
                _ => false,
            },
            IssuanceKind::GetSessionToken => mp.get_session_token,
            IssuanceKind::AssumeRole => {
                assumed_role_parts(&principal).is_some_and(|(role, _)| any_glob(&mp.roles, &role))
            }
            _ => false,
        };
        let identity = if kind == IssuanceKind::IdentityCenter {
            principal.clone()
        } else {
            identity_of(&principal, None)
        };
        let excluded = self.excluded_by_rules(&principal, &identity, f.user_agent.as_deref());
        Some(Issuance {
            id: 0,
            kind,
            time: f.time,
            principal,
            identity,
            account,
            region: f.region.clone(),
            key,
            expires,
            mfa,
            mfa_required,
            service,
            source_address: f.source_address.clone(),
            network: f.source_ip.filter(|_| !internal).map(network_of),
            asn: f.asn,
            country: f.country.clone(),
            issuer_arn: f.arn.clone(),
            issuer_key: f.access_key.clone(),
            user_type: id_type,
            event_id: f.event_id.clone(),
            user_agent: f.user_agent.clone(),
            sso_role,
            creds: vec![],
            due: None,
            alerted: false,
            excluded,
            event: Some(ev.clone()),
        })
    }

    fn excluded_by_rules(
        &self,
        principal: &str,
        identity: &str,
        ua: Option<&str>,
    ) -> Option<String> {
        let ex = &self.cfg.raw.exclude;
        let sess = principal.rsplit('/').next().unwrap_or("");
        if let Some(p) = ex.principals.iter().find(|p| {
            crate::model::glob(p, principal)
                || crate::model::glob(p, identity)
                || crate::model::glob(p, sess)
        }) {
            return Some(format!("known automation (principal matches {p:?})"));
        }
        if let Some(ua) = ua {
            if let Some(p) = ex.user_agents.iter().find(|p| crate::model::glob(p, ua)) {
                return Some(format!(
                    "known automation (user agent {ua:?} matches {p:?})"
                ));
            }
        }
        None
    }

    fn add_issuance(&mut self, mut iss: Issuance) {
        self.st.next_id += 1;
        iss.id = self.st.next_id;
        bump(&mut self.st.counters, "issuances");
        if iss.mfa_required && iss.mfa != Some(true) && iss.excluded.is_none() {
            iss.due = Some(iss.time + self.cfg.alert_delay);
        }
        if iss.kind == IssuanceKind::IdentityCenter {
            if let Some(a) = &iss.account {
                self.st.sso_seen.insert(a.clone());
            }
        }
        let id = iss.id;
        if let Some(d) = iss.due {
            self.due_iss.insert((d, id));
        }
        self.st.issuances.insert(id, iss);
        self.index(id);
    }

    // ---- uses ----

    fn link(&self, f: &Facts, key: &str, principal: &str) -> Lineage {
        let tol = self.cfg.link_tolerance;
        if let Some(id) = self.by_key.get(key) {
            return Lineage::Known {
                issuance: *id,
                via: "access key".into(),
            };
        }
        let creation = f.creation;
        if let Some(c) = creation {
            if let Some(ids) = self.by_principal.get(principal) {
                for id in ids.iter().rev() {
                    let Some(i) = self.st.issuances.get(id) else {
                        continue;
                    };
                    let console = i.kind.is_console();
                    let end = if console {
                        i.time + self.cfg.console_session_lifetime
                    } else {
                        i.time + tol
                    };
                    if c >= i.time - tol && c <= end && (i.key.is_none() || console || f.console) {
                        let via = if console && c > i.time + tol {
                            "console session (refreshed keys)"
                        } else if console {
                            "console session"
                        } else {
                            "principal and creation time"
                        };
                        return Lineage::Known {
                            issuance: *id,
                            via: via.into(),
                        };
                    }
                }
            }
            if let Some((role, _)) = assumed_role_parts(principal) {
                let role_name = role.rsplit('/').next().unwrap_or("");
                if let (Some(rest), Some(acct)) = (
                    role_name.strip_prefix("AWSReservedSSO_"),
                    arn_account(principal),
                ) {
                    for ((a, r), ids) in &self.by_sso {
                        if a == acct && rest.starts_with(&format!("{r}_")) {
                            for id in ids.iter().rev() {
                                if let Some(i) = self.st.issuances.get(id) {
                                    if c >= i.time - tol && c <= i.time + tol {
                                        return Lineage::Known {
                                            issuance: *id,
                                            via: "identity center".into(),
                                        };
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let acct = arn_account(principal)
            .map(String::from)
            .or_else(|| f.account.clone());
        let Some(acct) = acct else {
            return Lineage::Unknown {
                reason: "no account for the principal".into(),
            };
        };
        let ex = &self.cfg.raw.exclude;
        if ex.trusted_accounts.iter().any(|a| a == &acct) {
            return Lineage::Unknown {
                reason: format!("account {acct} is a trusted account (issued outside this trail)"),
            };
        }
        if ex.foreign_account_sessions && !self.st.coverage.knows_account(&acct) {
            return Lineage::Unknown {
                reason: format!("issued in account {acct}, which this trail does not cover"),
            };
        }
        let Some(c) = creation else {
            return Lineage::Unknown {
                reason: "the event carries no session creation time".into(),
            };
        };
        let is_sso = assumed_role_parts(principal)
            .is_some_and(|(r, _)| r.contains("/AWSReservedSSO_"))
            || f.issuer_arn
                .as_deref()
                .is_some_and(|a| a.contains("/aws-reserved/sso.amazonaws.com/"));
        if is_sso && self.st.sso_seen.is_empty() {
            return Lineage::Unknown {
                reason: "identity center issuance events are not in the trail".into(),
            };
        }
        let mut regions = Vec::new();
        for r in &self.cfg.raw.issuance_regions {
            let region = if r == "$use_region" {
                f.region.clone().unwrap_or_default()
            } else {
                r.clone()
            };
            if region.is_empty()
                || regions
                    .iter()
                    .any(|(x, _, _): &(String, i64, i64)| x == &region)
            {
                continue;
            }
            match self
                .st
                .coverage
                .covered(&acct, &region, c, self.cfg.coverage_margin)
            {
                Covered::Yes => {
                    let rc = self.st.coverage.region(&acct, &region);
                    regions.push((
                        region,
                        rc.map(|x| x.first).unwrap_or(0),
                        rc.map(|x| x.last).unwrap_or(0),
                    ));
                }
                Covered::RegionMissing(r) => {
                    return Lineage::Unknown {
                        reason: format!("the trail has no events of account {acct} in {r}"),
                    }
                }
                Covered::BeforeCoverage { region, start } => {
                    return Lineage::Unknown {
                        reason: format!(
                            "created {} before the trail covers {region} (from {})",
                            format_millis(c),
                            format_millis(start)
                        ),
                    }
                }
                Covered::InGap { region, start, end } => {
                    return Lineage::Unknown {
                        reason: format!(
                            "created {} inside a delivery gap in {region} ({} to {})",
                            format_millis(c),
                            format_millis(start),
                            format_millis(end)
                        ),
                    }
                }
            }
        }
        Lineage::Missing {
            account: acct,
            regions,
        }
    }

    fn cred_key(f: &Facts) -> Option<String> {
        match (&f.access_key, &f.arn) {
            (Some(k), _) if !k.is_empty() => Some(k.clone()),
            (_, Some(a)) => Some(format!(
                "{a}|{}",
                f.creation.map(format_millis).unwrap_or_default()
            )),
            _ => None,
        }
    }

    /// Whether a use reads fields beyond [`Facts::read_core`]: that of a new credential,
    /// or from an address the credential has room to record (see `on_use`).
    fn use_needs_rest(&self, f: &Facts) -> bool {
        let key: std::borrow::Cow<str> = match (&f.access_key, &f.arn) {
            (Some(k), _) if !k.is_empty() => std::borrow::Cow::Borrowed(k.as_str()),
            _ => match Self::cred_key(f) {
                Some(k) => std::borrow::Cow::Owned(k),
                None => return false,
            },
        };
        match self.st.creds.get(key.as_ref()) {
            None => true,
            Some(c) => f
                .source_address
                .as_ref()
                .is_some_and(|a| !c.addresses.contains_key(a) && c.addresses.len() < MAX_ADDRS),
        }
    }

    fn on_use(&mut self, f: &Facts, ev: &SharedEvent, familiar: Option<bool>, src: &Source) {
        // The access key itself is the usual key: borrowed, allocated only for a new credential.
        let key: std::borrow::Cow<str> = match (&f.access_key, &f.arn) {
            (Some(k), _) if !k.is_empty() => std::borrow::Cow::Borrowed(k.as_str()),
            _ => match Self::cred_key(f) {
                Some(k) => std::borrow::Cow::Owned(k),
                None => return,
            },
        };
        let Some(principal) = &f.arn else {
            return;
        };
        let internal = src.internal;
        let net = if internal {
            None
        } else {
            src.addr.as_ref().map(|(_, n)| n.clone())
        };
        let u = UseRec {
            time: f.time,
            event_id: f.event_id.clone(),
            api: f.api(),
            region: f.region.clone(),
            address: f.source_address.clone(),
            network: net.clone(),
            asn: f.asn,
            country: f.country.clone(),
            familiar,
        };
        if !self.st.creds.contains_key(key.as_ref()) {
            let key = key.to_string();
            let principal = principal.clone();
            bump(&mut self.st.counters, "credentials");
            let identity = identity_of(&principal, f.issuer_arn.as_deref());
            let lineage = self.link(f, &key, &principal);
            let issuance = match &lineage {
                Lineage::Known { issuance, .. } => {
                    self.st.issuances.get(issuance).map(|i| Issuance {
                        creds: vec![],
                        event: None,
                        ..i.clone()
                    })
                }
                _ => None,
            };
            let mut excluded =
                self.excluded_by_rules(&principal, &identity, f.user_agent.as_deref());
            if excluded.is_none() {
                if let Some(i) = &issuance {
                    excluded = i.excluded.clone();
                }
            }
            let mut pending = 0;
            let mut due = None;
            if matches!(lineage, Lineage::Missing { .. }) && excluded.is_none() {
                pending |= AlertKind::NoIssuance.bit();
                due = Some(f.time + self.cfg.alert_delay);
            }
            if let Lineage::Known { issuance: id, .. } = &lineage {
                if let Some(i) = self.st.issuances.get_mut(id) {
                    if i.creds.len() < MAX_LINKED {
                        i.creds.push(key.clone());
                    }
                }
            }
            let mut home_networks = Vec::new();
            if let Some(n) = issuance.as_ref().and_then(|i| i.network.clone()) {
                home_networks.push(n);
            }
            let cred = Cred {
                key: key.clone(),
                principal,
                identity,
                id_type: f.id_type.clone().unwrap_or_default(),
                account: f.account.clone(),
                creation: f.creation,
                console: f.console,
                mfa_authenticated: f.mfa_authenticated,
                lineage,
                issuance,
                excluded,
                uses: 0,
                first: u.clone(),
                last: u.clone(),
                actions: BTreeMap::new(),
                addresses: BTreeMap::new(),
                resources: BTreeSet::new(),
                sensitive: BTreeSet::new(),
                home_networks,
                away: None,
                unfamiliar: None,
                pending,
                alerted: 0,
                due,
                first_ev: Some(ev.clone()),
                last_ev: None,
                away_ev: None,
            };
            if let Some(d) = due {
                self.due_creds.insert((d, key.clone()));
            }
            self.st.creds.insert(key.clone(), cred);
        }
        let sensitive = any_glob(&self.cfg.raw.sensitive_actions, &u.api)
            || any_glob(&self.cfg.raw.sensitive_actions, &f.action);
        let delay = self.cfg.alert_delay;
        let stable = &self.cfg.raw.exclude.service_networks_stable;
        let due_creds = &mut self.due_creds;
        let Some(cred) = self.st.creds.get_mut(key.as_ref()) else {
            return;
        };
        cred.uses += 1;
        // Known entries are updated in place; new ones (bounded) cost a key.
        if let Some(n) = cred.actions.get_mut(&u.api) {
            *n += 1;
        } else if cred.actions.len() < MAX_ACTIONS {
            cred.actions.insert(u.api.clone(), 1);
        }
        if sensitive && cred.sensitive.len() < MAX_RES && !cred.sensitive.contains(&u.api) {
            cred.sensitive.insert(u.api.clone());
        }
        // Resources are read only while the credential has room for more.
        if cred.resources.len() < MAX_RES {
            for r in crate::model::resources_of(&ev.doc) {
                if cred.resources.len() < MAX_RES && !cred.resources.contains(&r) {
                    cred.resources.insert(r);
                }
            }
        }
        if let Some(addr) = &f.source_address {
            if let Some(a) = cred.addresses.get_mut(addr) {
                a.count += 1;
                a.last = f.time;
            } else if cred.addresses.len() < MAX_ADDRS {
                let a = cred
                    .addresses
                    .entry(addr.clone())
                    .or_insert_with(|| AddrRec {
                        network: net.clone(),
                        asn: f.asn,
                        as_org: f.as_org.clone(),
                        country: f.country.clone(),
                        internal,
                        familiar,
                        count: 0,
                        first: f.time,
                        last: f.time,
                    });
                a.count += 1;
                a.last = f.time;
            }
        }
        if familiar == Some(false) && cred.unfamiliar.is_none() {
            cred.unfamiliar = Some(u.clone());
        }
        // Used away from where it was issued?
        if let (Some(n), Some(iss), None) = (&net, &cred.issuance, &cred.excluded) {
            let away = match &iss.service {
                // With ASN data, a non-AWS address is outside AWS: service credentials never
                // legitimately leave it (the instance-credential exfiltration case).
                Some(_) if f.asn.is_some() => true,
                Some(svc) if stable.iter().any(|s| s == svc) => {
                    if cred.home_networks.is_empty() && familiar != Some(false) {
                        // The first outside use shows where the workload lives.
                        cred.home_networks.push(n.clone());
                        false
                    } else {
                        !cred.home_networks.contains(n) && familiar != Some(true)
                    }
                }
                Some(_) => false,
                None => {
                    if cred.home_networks.is_empty() && familiar != Some(false) {
                        cred.home_networks.push(n.clone());
                        false
                    } else {
                        !(cred.home_networks.contains(n)
                            || (iss.asn.is_some() && iss.asn == f.asn)
                            || familiar == Some(true))
                    }
                }
            };
            if away {
                if cred.away.is_none() {
                    cred.away = Some(u.clone());
                    cred.away_ev = Some(ev.clone());
                    if cred.alerted & AlertKind::UsedAway.bit() == 0 {
                        cred.pending |= AlertKind::UsedAway.bit();
                        let d = f.time + delay;
                        let d = cred.due.map_or(d, |x| x.min(d));
                        cred.due = Some(d);
                        due_creds.insert((d, key.to_string()));
                    }
                }
            } else if cred.away.is_none()
                && cred.home_networks.len() < 8
                && !cred.home_networks.contains(n)
            {
                cred.home_networks.push(n.clone());
            }
        }
        cred.last = u;
        // The latest use is kept as evidence only while a finding can still be built from it:
        // one pending for the credential, or a pending MFA finding of the issuance it is linked
        // to. Any other finding is raised by a later use, which becomes the latest one first.
        // (Holding every credential's latest event would keep those documents alive.)
        let keep = cred.pending != 0
            || match &cred.lineage {
                Lineage::Known { issuance, .. } => self
                    .st
                    .issuances
                    .get(issuance)
                    .is_some_and(|i| i.due.is_some() && !i.alerted),
                _ => false,
            };
        cred.last_ev = if keep { Some(ev.clone()) } else { None };
    }

    // ---- findings ----

    fn flush(&mut self, now: i64, all: bool, out: &mut Vec<Finding>) {
        let mut due_creds: Vec<String> = Vec::new();
        while let Some(&(d, _)) = self.due_creds.first() {
            if !all && d > now {
                break;
            }
            let Some((d, k)) = self.due_creds.pop_first() else {
                break;
            };
            if self
                .st
                .creds
                .get(&k)
                .is_some_and(|c| c.pending != 0 && c.due == Some(d))
            {
                due_creds.push(k);
            }
        }
        let mut found = Vec::new();
        for k in due_creds {
            // A missing issuance may have been logged just after the first use.
            let relink = match self.st.creds.get(&k) {
                Some(c) if c.pending & AlertKind::NoIssuance.bit() != 0 => {
                    let mut f = Facts {
                        creation: c.creation,
                        console: c.console,
                        account: c.account.clone(),
                        region: c.first.region.clone(),
                        ..Default::default()
                    };
                    f.arn = Some(c.principal.clone());
                    Some(self.link(&f, &k, &c.principal))
                }
                _ => None,
            };
            let Some(c) = self.st.creds.get_mut(&k) else {
                continue;
            };
            if let Some(l) = relink {
                if let Lineage::Known { issuance, .. } = &l {
                    c.issuance = self.st.issuances.get(issuance).map(|i| Issuance {
                        creds: vec![],
                        event: None,
                        ..i.clone()
                    });
                    c.pending &= !AlertKind::NoIssuance.bit();
                }
                c.lineage = l;
            }
            for kind in [AlertKind::NoIssuance, AlertKind::UsedAway] {
                if c.pending & kind.bit() != 0 {
                    c.pending &= !kind.bit();
                    c.alerted |= kind.bit();
                    found.push((kind, k.clone()));
                }
            }
            c.due = None;
        }
        for (kind, k) in found {
            if let Some(c) = self.st.creds.get(&k) {
                out.push(crate::evidence::cred_finding(kind, c, &self.st, &self.cfg));
            }
        }
        let mut due_iss: Vec<u64> = Vec::new();
        while let Some((d, id)) = self.due_iss.first().copied() {
            if !all && d > now {
                break;
            }
            self.due_iss.pop_first();
            if self
                .st
                .issuances
                .get(&id)
                .is_some_and(|i| !i.alerted && i.due == Some(d))
            {
                due_iss.push(id);
            }
        }
        for id in due_iss {
            if let Some(i) = self.st.issuances.get_mut(&id) {
                i.alerted = true;
                i.due = None;
            }
            if let Some(i) = self.st.issuances.get(&id) {
                let creds: Vec<&Cred> = i
                    .creds
                    .iter()
                    .filter_map(|k| self.st.creds.get(k))
                    .collect();
                out.push(crate::evidence::mfa_finding(i, &creds, &self.cfg));
            }
        }
    }

    /// Drops expired credentials, issuances and baseline entries.
    fn sweep(&mut self) {
        let now = self.st.now;
        let life = self.cfg.longest_lifetime() + self.cfg.link_tolerance + self.cfg.alert_delay;
        let mut gone = Vec::new();
        for (k, c) in &self.st.creds {
            let born = c.creation.unwrap_or(c.first.time).min(c.first.time);
            if c.pending == 0 && now - born > life && now - c.last.time > self.cfg.alert_delay {
                gone.push(k.clone());
            }
        }
        let cap = self.cfg.raw.max_credentials;
        if self.st.creds.len() - gone.len() > cap {
            let gone_set: std::collections::HashSet<&String> = gone.iter().collect();
            let mut rest: Vec<(i64, String)> = self
                .st
                .creds
                .iter()
                .filter(|(k, _)| !gone_set.contains(k))
                .map(|(k, c)| (c.last.time, k.clone()))
                .collect();
            rest.sort();
            let extra = rest.len() - cap;
            gone.extend(rest.into_iter().take(extra).map(|x| x.1));
            bump(&mut self.st.counters, "credential cap reached");
        }
        for k in gone {
            if let Some(c) = self.st.creds.remove(&k) {
                if let Some(a) = &mut self.archive {
                    a.0.push(c);
                }
            }
        }
        let old: Vec<u64> = self
            .st
            .issuances
            .iter()
            .filter(|(_, i)| {
                i.due.is_none()
                    && now - i.time.max(i.expires) > self.cfg.link_tolerance + self.cfg.alert_delay
                    && now - i.time
                        > self
                            .cfg
                            .console_session_lifetime
                            .max(self.cfg.link_tolerance)
            })
            .map(|(k, _)| *k)
            .collect();
        for id in old {
            if let Some(i) = self.st.issuances.remove(&id) {
                self.unindex(&i);
                if let Some(a) = &mut self.archive {
                    a.1.push(i);
                }
            }
        }
        let horizon = now - self.cfg.baseline_window;
        self.st.baselines.retain(|_, b| {
            b.prune(horizon);
            !b.nets.is_empty()
        });
        self.st
            .coverage
            .prune(now - self.cfg.longest_lifetime() - self.cfg.coverage_margin);
    }

    /// Everything the engine holds now plus what it archived (view mode).
    pub fn drain_all(&mut self) -> (Vec<Cred>, Vec<Issuance>) {
        let (mut creds, mut iss) = self.archive.take().unwrap_or_default();
        creds.extend(self.st.creds.drain().map(|(_, c)| c));
        iss.extend(std::mem::take(&mut self.st.issuances).into_values());
        (creds, iss)
    }

    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .st
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.push(("live credentials".into(), self.st.creds.len() as u64));
        v.push(("live issuances".into(), self.st.issuances.len() as u64));
        v.push((
            "baselined identities".into(),
            self.st.baselines.len() as u64,
        ));
        v
    }
}

/// Convenience for tests and the view: an event from a document.
pub fn event(doc: Document, timestamp: i64, seq: u64) -> SharedEvent {
    std::sync::Arc::new(Event {
        doc,
        timestamp,
        origin: tripline_doc::Origin {
            file: "-".into(),
            record: seq + 1,
            line: None,
        },
        seq,
    })
}
