//! The lineage view: every identity, the credentials issued to it, how, what each did, and
//! the analytic's flags (`tripline lineage`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use tripline_doc::{time::format_millis, SharedEvent};

use crate::config::Settings;
use crate::engine::{AlertKind, Cred, Engine, Finding, Issuance, Lineage};
use crate::html::{esc, page};

/// Which part of the graph to show.
#[derive(Debug, Clone, Default)]
pub struct ViewFilter {
    /// An identity, principal or issuer ARN (exact).
    pub principal: Option<String>,
    /// An access key id: its credential, its issuance and what it issued.
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuanceView {
    pub kind: String,
    pub time: String,
    pub principal: String,
    pub access_key_id: Option<String>,
    pub source_address: Option<String>,
    pub country: Option<String>,
    pub issued_to_service: Option<String>,
    pub issuer: Option<String>,
    pub issuer_access_key_id: Option<String>,
    pub mfa: String,
    pub event_id: Option<String>,
    pub credentials: Vec<String>,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressView {
    pub address: String,
    pub network: Option<String>,
    pub asn: Option<u64>,
    pub country: Option<String>,
    pub aws_internal: bool,
    pub familiar: Option<bool>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CredView {
    pub access_key_id: String,
    pub principal: String,
    pub creation_date: Option<String>,
    pub console: bool,
    /// `known`, `missing` or `unknown`.
    pub lineage: String,
    /// How it links, or why lineage is unknown.
    pub lineage_detail: String,
    pub issued_by: Option<String>,
    pub first_use: String,
    pub last_use: String,
    pub uses: u64,
    /// Counts by service and action.
    pub actions: BTreeMap<String, u64>,
    pub addresses: Vec<AddressView>,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub identity: String,
    pub issuances: Vec<IssuanceView>,
    pub credentials: Vec<CredView>,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct LineageView {
    pub events: u64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub identities: Vec<IdentityView>,
}

/// Streaming builder: push events in time order, then [`LineageBuilder::finish`].
pub struct LineageBuilder {
    engine: Engine,
    findings: Vec<Finding>,
    filter: ViewFilter,
    events: u64,
    first: Option<i64>,
    last: Option<i64>,
}

impl LineageBuilder {
    pub fn new(cfg: Settings, filter: ViewFilter) -> LineageBuilder {
        let mut engine = Engine::new(cfg);
        engine.archive = Some(Default::default());
        LineageBuilder {
            engine,
            findings: Vec::new(),
            filter,
            events: 0,
            first: None,
            last: None,
        }
    }

    pub fn push(&mut self, ev: &SharedEvent) {
        self.events += 1;
        self.first = Some(self.first.map_or(ev.timestamp, |f| f.min(ev.timestamp)));
        self.last = Some(self.last.map_or(ev.timestamp, |l| l.max(ev.timestamp)));
        self.engine.push(ev, &mut self.findings);
    }

    /// Lineage statuses of every credential (for coverage).
    pub(crate) fn finish_raw(mut self) -> (Vec<Cred>, Vec<Issuance>, u64) {
        self.engine.finish(&mut self.findings);
        let (c, i) = self.engine.drain_all();
        (c, i, self.events)
    }

    pub fn finish(mut self) -> LineageView {
        self.engine.finish(&mut self.findings);
        let (creds, issuances) = self.engine.drain_all();
        let mut by_id: BTreeMap<String, IdentityView> = BTreeMap::new();
        let f = &self.filter;
        let keep_cred = |c: &Cred| {
            f.principal.as_ref().is_none_or(|p| {
                &c.identity == p
                    || &c.principal == p
                    || c.issuance.as_ref().and_then(|i| i.issuer_arn.as_ref()) == Some(p)
            }) && f.key.as_ref().is_none_or(|k| {
                &c.key == k || c.issuance.as_ref().and_then(|i| i.issuer_key.as_ref()) == Some(k)
            })
        };
        let keep_iss = |i: &Issuance| {
            f.principal.as_ref().is_none_or(|p| {
                &i.identity == p || &i.principal == p || i.issuer_arn.as_ref() == Some(p)
            }) && f.key.as_ref().is_none_or(|k| {
                i.key.as_ref() == Some(k) || i.issuer_key.as_ref() == Some(k) || i.creds.contains(k)
            })
        };
        for i in issuances.iter().filter(|i| keep_iss(i)) {
            let mut flags = Vec::new();
            if i.mfa_required && i.mfa != Some(true) {
                flags.push("missing MFA".to_string());
            }
            if let Some(x) = &i.excluded {
                flags.push(format!("excluded: {x}"));
            }
            let v = IssuanceView {
                kind: i.kind.as_str().into(),
                time: format_millis(i.time),
                principal: i.principal.clone(),
                access_key_id: i.key.clone(),
                source_address: i.source_address.clone(),
                country: i.country.clone(),
                issued_to_service: i.service.clone(),
                issuer: i.issuer_arn.clone(),
                issuer_access_key_id: i.issuer_key.clone(),
                mfa: match i.mfa {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "unknown".into(),
                },
                event_id: i.event_id.clone(),
                credentials: i.creds.clone(),
                flags,
            };
            by_id
                .entry(i.identity.clone())
                .or_insert_with(|| IdentityView {
                    identity: i.identity.clone(),
                    issuances: vec![],
                    credentials: vec![],
                    flags: vec![],
                })
                .issuances
                .push(v);
        }
        for c in creds.iter().filter(|c| keep_cred(c)) {
            let mut flags = Vec::new();
            let (status, detail) = match &c.lineage {
                Lineage::Known { via, .. } => ("known", format!("linked by {via}")),
                Lineage::Missing { account, .. } => {
                    flags.push("no issuance".to_string());
                    (
                        "missing",
                        format!(
                            "no issuance although account {account}'s trail covers its creation"
                        ),
                    )
                }
                Lineage::Unknown { reason } => ("unknown", reason.clone()),
            };
            if c.away.is_some() || c.alerted & AlertKind::UsedAway.bit() != 0 {
                flags.push(format!(
                    "used away from issuance ({})",
                    c.away
                        .as_ref()
                        .and_then(|a| a.address.clone())
                        .unwrap_or_default()
                ));
            }
            if let Some(u) = &c.unfamiliar {
                flags.push(format!(
                    "unfamiliar source {}",
                    u.address.clone().unwrap_or_default()
                ));
            }
            if let Some(x) = &c.excluded {
                flags.push(format!("excluded: {x}"));
            }
            let v = CredView {
                access_key_id: c.key.clone(),
                principal: c.principal.clone(),
                creation_date: c.creation.map(format_millis),
                console: c.console,
                lineage: status.into(),
                lineage_detail: detail,
                issued_by: c.issuance.as_ref().map(|i| {
                    format!(
                        "{} at {}{}{}",
                        i.kind.as_str(),
                        format_millis(i.time),
                        i.source_address
                            .as_deref()
                            .map(|a| format!(" from {a}"))
                            .unwrap_or_default(),
                        i.issuer_arn
                            .as_deref()
                            .filter(|a| *a != c.principal)
                            .map(|a| format!(" by {a}"))
                            .unwrap_or_default()
                    )
                }),
                first_use: format!("{} {}", format_millis(c.first.time), c.first.api),
                last_use: format!("{} {}", format_millis(c.last.time), c.last.api),
                uses: c.uses,
                actions: c.actions.clone(),
                addresses: c
                    .addresses
                    .iter()
                    .map(|(a, r)| AddressView {
                        address: a.clone(),
                        network: r.network.clone(),
                        asn: r.asn,
                        country: r.country.clone(),
                        aws_internal: r.internal,
                        familiar: r.familiar,
                        count: r.count,
                    })
                    .collect(),
                flags,
            };
            by_id
                .entry(c.identity.clone())
                .or_insert_with(|| IdentityView {
                    identity: c.identity.clone(),
                    issuances: vec![],
                    credentials: vec![],
                    flags: vec![],
                })
                .credentials
                .push(v);
        }
        let mut identities: Vec<IdentityView> = by_id.into_values().collect();
        for idv in &mut identities {
            idv.issuances.sort_by(|a, b| a.time.cmp(&b.time));
            idv.credentials
                .sort_by(|a, b| a.first_use.cmp(&b.first_use));
            let mut flags: Vec<String> = idv
                .credentials
                .iter()
                .flat_map(|c| c.flags.iter().cloned())
                .chain(idv.issuances.iter().flat_map(|i| i.flags.iter().cloned()))
                .collect();
            flags.sort();
            flags.dedup();
            idv.flags = flags;
        }
        LineageView {
            events: self.events,
            first_event: self.first.map(format_millis),
            last_event: self.last.map(format_millis),
            identities,
        }
    }
}

/// Builds the view over events in time order, with default settings and no filter.
pub fn build_view<I: IntoIterator<Item = SharedEvent>>(events: I) -> LineageView {
    let mut b = LineageBuilder::new(Settings::default(), ViewFilter::default());
    for ev in events {
        b.push(&ev);
    }
    b.finish()
}

impl LineageView {
    /// Plain-text table for the terminal.
    pub fn render_table(&self) -> String {
        let mut o = String::new();
        o.push_str(&format!(
            "{} events, {} to {}; {} identities\n",
            self.events,
            self.first_event.as_deref().unwrap_or("-"),
            self.last_event.as_deref().unwrap_or("-"),
            self.identities.len()
        ));
        for id in &self.identities {
            o.push_str(&format!(
                "\n{}{}\n",
                clean(&id.identity),
                if id.flags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", clean(&id.flags.join("; ")))
                }
            ));
            for i in &id.issuances {
                o.push_str(&format!(
                    "  issued {} {} -> {}  key {}  from {}  mfa {}{}{}\n",
                    i.time,
                    i.kind,
                    clean(&i.principal),
                    clean(i.access_key_id.as_deref().unwrap_or("-")),
                    clean(
                        i.issued_to_service
                            .as_deref()
                            .or(i.source_address.as_deref())
                            .unwrap_or("-")
                    ),
                    i.mfa,
                    i.issuer
                        .as_deref()
                        .map(|x| format!("  by {}", clean(x)))
                        .unwrap_or_default(),
                    if i.flags.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", clean(&i.flags.join("; ")))
                    }
                ));
            }
            for c in &id.credentials {
                o.push_str(&format!(
                    "  credential {}  {}  created {}  lineage {} ({})\n",
                    clean(&c.access_key_id),
                    clean(&c.principal),
                    c.creation_date.as_deref().unwrap_or("-"),
                    c.lineage,
                    clean(&c.lineage_detail)
                ));
                if let Some(b) = &c.issued_by {
                    o.push_str(&format!("    issued by {}\n", clean(b)));
                }
                o.push_str(&format!(
                    "    {} calls, first {}, last {}\n",
                    c.uses,
                    clean(&c.first_use),
                    clean(&c.last_use)
                ));
                let acts: Vec<String> = c
                    .actions
                    .iter()
                    .map(|(k, v)| format!("{}×{v}", clean(k)))
                    .collect();
                o.push_str(&format!("    actions: {}\n", acts.join(", ")));
                let addrs: Vec<String> = c
                    .addresses
                    .iter()
                    .map(|a| {
                        let mut s = clean(&a.address);
                        if let Some(asn) = a.asn {
                            s.push_str(&format!(" AS{asn}"));
                        }
                        if let Some(cn) = &a.country {
                            s.push_str(&format!(" {}", clean(cn)));
                        }
                        if a.familiar == Some(false) {
                            s.push_str(" (unfamiliar)");
                        }
                        format!("{s} ×{}", a.count)
                    })
                    .collect();
                o.push_str(&format!("    addresses: {}\n", addrs.join(", ")));
                if !c.flags.is_empty() {
                    o.push_str(&format!("    FLAGS: {}\n", clean(&c.flags.join("; "))));
                }
            }
        }
        o
    }

    /// One JSON object per identity.
    pub fn to_ndjson(&self) -> String {
        let mut o = String::new();
        for id in &self.identities {
            o.push_str(
                &serde_json::to_string(id)
                    .unwrap_or_else(|_| json!({"identity": id.identity}).to_string()),
            );
            o.push('\n');
        }
        o
    }

    /// Self-contained HTML page.
    pub fn render_html(&self) -> String {
        let mut b = String::new();
        b.push_str(&format!(
            "<p>{} events, {} to {}; {} identities.</p>\n",
            self.events,
            esc(self.first_event.as_deref().unwrap_or("-")),
            esc(self.last_event.as_deref().unwrap_or("-")),
            self.identities.len()
        ));
        for id in &self.identities {
            b.push_str(&format!("<h2>{}</h2>\n", esc(&id.identity)));
            for f in &id.flags {
                b.push_str(&format!("<span class=\"flag\">{}</span>", esc(f)));
            }
            if !id.issuances.is_empty() {
                b.push_str("<table><tr><th>issued</th><th>how</th><th>principal</th><th>key</th><th>from</th><th>MFA</th><th>issuer</th><th>flags</th></tr>\n");
                for i in &id.issuances {
                    b.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        esc(&i.time),
                        esc(&i.kind),
                        esc(&i.principal),
                        esc(i.access_key_id.as_deref().unwrap_or("")),
                        esc(i.issued_to_service.as_deref().or(i.source_address.as_deref()).unwrap_or("")),
                        esc(&i.mfa),
                        esc(i.issuer.as_deref().unwrap_or("")),
                        esc(&i.flags.join("; "))
                    ));
                }
                b.push_str("</table>\n");
            }
            if !id.credentials.is_empty() {
                b.push_str(
                    "<table><tr><th>credential</th><th>lineage</th><th>issued by</th><th>uses</th><th>actions</th><th>addresses</th><th>flags</th></tr>\n",
                );
                for c in &id.credentials {
                    let acts: Vec<String> = c
                        .actions
                        .iter()
                        .map(|(k, v)| format!("{}&nbsp;×{v}", esc(k)))
                        .collect();
                    let addrs: Vec<String> = c
                        .addresses
                        .iter()
                        .map(|a| {
                            format!(
                                "{}{}{} ×{}",
                                esc(&a.address),
                                a.asn.map(|x| format!(" AS{x}")).unwrap_or_default(),
                                a.country
                                    .as_deref()
                                    .map(|c| format!(" {}", esc(c)))
                                    .unwrap_or_default(),
                                a.count
                            )
                        })
                        .collect();
                    b.push_str(&format!(
                        "<tr><td><code>{}</code><br>{}<br>created {}</td><td>{}<br><small>{}</small></td><td>{}</td><td>{}<br>first {}<br>last {}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        esc(&c.access_key_id),
                        esc(&c.principal),
                        esc(c.creation_date.as_deref().unwrap_or("-")),
                        esc(&c.lineage),
                        esc(&c.lineage_detail),
                        esc(c.issued_by.as_deref().unwrap_or("")),
                        c.uses,
                        esc(&c.first_use),
                        esc(&c.last_use),
                        acts.join("<br>"),
                        addrs.join("<br>"),
                        c.flags.iter().map(|f| format!("<span class=\"flag\">{}</span>", esc(f))).collect::<Vec<_>>().join(" ")
                    ));
                }
                b.push_str("</table>\n");
            }
        }
        page("Tripline session lineage", &b)
    }
}

/// Strips control characters from log strings before they reach a terminal.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
