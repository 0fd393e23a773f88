//! `tripline coverage`: can these logs prove lineage at all? Per account and region: time
//! covered, delivery gaps, which event sources are present, how many sessions have a known,
//! unknown or missing issuance, how many issuances carry MFA evidence, and a verdict with
//! what to enable.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tripline_doc::{time::format_millis, Event, SharedEvent};

use crate::config::Settings;
use crate::engine::Lineage;
use crate::html::{esc, page};
use crate::view::{clean, LineageBuilder, ViewFilter};

const HOUR: i64 = 3_600_000;
const SLOT: i64 = 5 * 60_000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RegionReport {
    pub region: String,
    pub first_event: String,
    pub last_event: String,
    pub events: u64,
    /// Whole hours without any event, merged into ranges.
    pub hours_without_events: Vec<(String, String)>,
    /// Delivery files seen (from S3 object names).
    pub delivery_files: u64,
    /// 5-minute intervals without a delivery file, between the first and last file, merged.
    pub missing_delivery_intervals: Vec<(String, String)>,
    pub signin_events: u64,
    pub sts_events: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionCounts {
    pub known: u64,
    pub unknown: u64,
    pub missing: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountReport {
    pub account: String,
    pub regions: Vec<RegionReport>,
    pub signin_events: u64,
    pub sts_events: u64,
    pub identity_center_events: u64,
    pub data_events: u64,
    /// Sessions by kind (`console`, `role`, `service`, `user`, `federated`, `identity center`).
    pub sessions: BTreeMap<String, SessionCounts>,
    pub issuances: u64,
    pub issuances_with_mfa: u64,
    pub issuances_mfa_expected: u64,
    /// Why unknown-lineage sessions could not be judged (reason → count).
    pub unknown_reasons: BTreeMap<String, u64>,
    pub supports_analytic: bool,
    pub problems: Vec<String>,
    pub enable: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageReport {
    pub events: u64,
    pub accounts: Vec<AccountReport>,
    /// `supported`, `partial` or `unsupported`.
    pub verdict: String,
    pub summary: String,
}

#[derive(Default)]
struct RegionAcc {
    first: i64,
    last: i64,
    events: u64,
    hours: BTreeSet<i64>,
    slots: BTreeSet<i64>,
    files: BTreeSet<String>,
    signin: u64,
    sts: u64,
}

#[derive(Default)]
struct AccountAcc {
    regions: BTreeMap<String, RegionAcc>,
    signin: u64,
    sts: u64,
    sso: u64,
    data: u64,
}

/// Streaming coverage builder.
pub struct CoverageBuilder {
    accounts: BTreeMap<String, AccountAcc>,
    lineage: LineageBuilder,
}

/// The delivery time in a CloudTrail object name (`..._CloudTrail_us-east-1_20240102T0315Z_x.json.gz`).
pub fn delivery_slot(file: &str) -> Option<(String, i64)> {
    let name = file.rsplit(['/', '\\']).next()?;
    let parts: Vec<&str> = name.split('_').collect();
    let i = parts.iter().position(|p| *p == "CloudTrail")?;
    let region = parts.get(i + 1)?.to_string();
    let ts = parts.get(i + 2)?;
    if ts.len() != 14 || !ts.ends_with('Z') || ts.as_bytes()[8] != b'T' {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:00Z",
        &ts[0..4],
        &ts[4..6],
        &ts[6..8],
        &ts[9..11],
        &ts[11..13]
    );
    let t = tripline_doc::time::parse_millis(&iso)?;
    Some((region, t - t.rem_euclid(SLOT)))
}

fn merge(points: impl Iterator<Item = i64>, step: i64) -> Vec<(String, String)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for p in points {
        match out.last_mut() {
            Some((_, e)) if *e == p => *e = p + step,
            _ => out.push((p, p + step)),
        }
    }
    out.into_iter()
        .map(|(a, b)| (format_millis(a), format_millis(b)))
        .collect()
}

impl Default for CoverageBuilder {
    fn default() -> Self {
        CoverageBuilder::new(Settings::default())
    }
}

impl CoverageBuilder {
    pub fn new(cfg: Settings) -> CoverageBuilder {
        CoverageBuilder {
            accounts: BTreeMap::new(),
            lineage: LineageBuilder::new(cfg, ViewFilter::default()),
        }
    }

    pub fn push(&mut self, ev: &SharedEvent) {
        self.observe(ev);
        self.lineage.push(ev);
    }

    fn observe(&mut self, ev: &Event) {
        let d = &ev.doc;
        let Some(acct) = d
            .str("aws.cloudtrail.recipient_account_id")
            .or_else(|| d.str("cloud.account.id"))
        else {
            return;
        };
        let region = d.str("cloud.region").unwrap_or("(no region)");
        let provider = d.str("event.provider").unwrap_or("");
        let a = self.accounts.entry(acct.to_string()).or_default();
        let r = a
            .regions
            .entry(region.to_string())
            .or_insert_with(|| RegionAcc {
                first: ev.timestamp,
                last: ev.timestamp,
                ..Default::default()
            });
        r.first = r.first.min(ev.timestamp);
        r.last = r.last.max(ev.timestamp);
        r.events += 1;
        r.hours.insert(ev.timestamp.div_euclid(HOUR));
        if !r.files.contains(&*ev.origin.file) {
            if let Some((_, slot)) = delivery_slot(&ev.origin.file) {
                r.slots.insert(slot);
                r.files.insert(ev.origin.file.to_string());
            }
        }
        match provider {
            "signin.amazonaws.com" => {
                a.signin += 1;
                r.signin += 1;
            }
            "sts.amazonaws.com" => {
                a.sts += 1;
                r.sts += 1;
            }
            "sso.amazonaws.com" | "identitystore.amazonaws.com" | "sso-directory.amazonaws.com" => {
                a.sso += 1
            }
            _ => {}
        }
        let data = d.str("aws.cloudtrail.event_category") == Some("Data")
            || d.str("aws.cloudtrail.management_event") == Some("false");
        if data {
            a.data += 1;
        }
    }

    pub fn finish(self) -> CoverageReport {
        let (creds, issuances, events) = self.lineage.finish_raw();
        let mut accounts: BTreeMap<String, AccountReport> = BTreeMap::new();
        for (acct, a) in &self.accounts {
            let mut rep = AccountReport {
                account: acct.clone(),
                signin_events: a.signin,
                sts_events: a.sts,
                identity_center_events: a.sso,
                data_events: a.data,
                ..Default::default()
            };
            for (region, r) in &a.regions {
                let (h0, h1) = (r.first.div_euclid(HOUR), r.last.div_euclid(HOUR));
                let quiet = (h0..=h1).filter(|h| !r.hours.contains(h)).map(|h| h * HOUR);
                let missing = match (r.slots.first(), r.slots.last()) {
                    (Some(&s0), Some(&s1)) => merge(
                        (0..=((s1 - s0) / SLOT))
                            .map(|k| s0 + k * SLOT)
                            .filter(|s| !r.slots.contains(s)),
                        SLOT,
                    ),
                    _ => vec![],
                };
                rep.regions.push(RegionReport {
                    region: region.clone(),
                    first_event: format_millis(r.first),
                    last_event: format_millis(r.last),
                    events: r.events,
                    hours_without_events: merge(quiet, HOUR),
                    delivery_files: r.files.len() as u64,
                    missing_delivery_intervals: missing,
                    signin_events: r.signin,
                    sts_events: r.sts,
                });
            }
            accounts.insert(acct.clone(), rep);
        }
        for c in &creds {
            let Some(acct) = crate::model::arn_account(&c.principal)
                .map(String::from)
                .or_else(|| c.account.clone())
            else {
                continue;
            };
            let rep = accounts
                .entry(acct.clone())
                .or_insert_with(|| AccountReport {
                    account: acct.clone(),
                    ..Default::default()
                });
            let kind = if c.console {
                "console"
            } else if c.principal.contains("/AWSReservedSSO_") {
                "identity center"
            } else if c.issuance.as_ref().is_some_and(|i| i.service.is_some())
                || c.principal
                    .rsplit('/')
                    .next()
                    .is_some_and(|s| s.starts_with("i-"))
            {
                "service"
            } else if c.principal.contains(":assumed-role/") {
                "role"
            } else if c.principal.contains(":federated-user/") {
                "federated"
            } else {
                "user"
            };
            let sc = rep.sessions.entry(kind.into()).or_default();
            match &c.lineage {
                Lineage::Known { .. } => sc.known += 1,
                Lineage::Missing { .. } => sc.missing += 1,
                Lineage::Unknown { reason } => {
                    sc.unknown += 1;
                    // Times and ids make every reason unique; keep its general part.
                    let general = reason.split(" (").next().unwrap_or(reason);
                    let general = if general.starts_with("created ") {
                        general.split_once(' ').map(|x| x.1).unwrap_or(general)
                    } else {
                        general
                    };
                    let general: String = general
                        .split_whitespace()
                        .filter(|w| !w.chars().next().is_some_and(|c| c.is_ascii_digit()))
                        .collect::<Vec<_>>()
                        .join(" ");
                    *rep.unknown_reasons.entry(general).or_default() += 1;
                }
            }
        }
        for i in &issuances {
            let Some(acct) = i.account.clone() else {
                continue;
            };
            let rep = accounts
                .entry(acct.clone())
                .or_insert_with(|| AccountReport {
                    account: acct.clone(),
                    ..Default::default()
                });
            rep.issuances += 1;
            if i.mfa == Some(true) {
                rep.issuances_with_mfa += 1;
            }
            if i.mfa_required {
                rep.issuances_mfa_expected += 1;
            }
        }
        let mut out: Vec<AccountReport> = accounts.into_values().collect();
        for rep in &mut out {
            judge(rep);
        }
        // Accounts seen only as the home of sessions used here have no trail of their own in
        // the input: they are listed (with what to add) but do not decide the verdict.
        let trail_accounts = out.iter().filter(|a| !a.regions.is_empty()).count();
        let n_ok = out.iter().filter(|a| a.supports_analytic).count();
        let foreign = out.len() - trail_accounts;
        let verdict = if trail_accounts == 0 {
            "unsupported"
        } else if n_ok == trail_accounts {
            "supported"
        } else if n_ok == 0 {
            "unsupported"
        } else {
            "partial"
        };
        let summary = match verdict {
            "supported" => format!("The trail can support session lineage for all {trail_accounts} account(s) it covers."),
            "partial" => {
                format!("The trail supports session lineage for {n_ok} of the {trail_accounts} account(s) it covers; see the problems listed for the others.")
            }
            _ => "The trail cannot support session lineage as it is; see what to enable.".into(),
        };
        let summary = if foreign > 0 {
            format!("{summary} Sessions of {foreign} other account(s) appear without that account's logs; their lineage is unknown.")
        } else {
            summary
        };
        CoverageReport {
            events,
            accounts: out,
            verdict: verdict.into(),
            summary,
        }
    }
}

fn judge(rep: &mut AccountReport) {
    let regions: BTreeSet<&str> = rep.regions.iter().map(|r| r.region.as_str()).collect();
    let uses: u64 = rep
        .sessions
        .values()
        .map(|s| s.known + s.unknown + s.missing)
        .sum();
    if rep.regions.is_empty() {
        rep.problems.push(
            "no events of this account in the trail (its sessions appear in other accounts' logs)"
                .into(),
        );
        rep.enable.push(format!(
            "add the CloudTrail logs of account {}",
            rep.account
        ));
    } else {
        if !regions.contains("us-east-1") {
            rep.problems
                .push("no events from us-east-1, where console sign-ins and STS global-endpoint issuances are logged".into());
            rep.enable.push(
                "make the trail multi-region (or include us-east-1) with global service events"
                    .into(),
            );
        }
        if rep.sts_events == 0 {
            rep.problems.push(
                "no STS events: role, federation and session-token issuances are not visible"
                    .into(),
            );
            rep.enable.push(
                "log read and write management events (STS issuances are read-only events)".into(),
            );
        }
        let console = rep
            .sessions
            .get("console")
            .map(|s| s.known + s.unknown + s.missing)
            .unwrap_or(0);
        if rep.signin_events == 0 && console > 0 {
            rep.problems.push(format!(
                "{console} console session(s) but no sign-in events"
            ));
            rep.enable.push(
                "include global service events (signin.amazonaws.com is logged in us-east-1)"
                    .into(),
            );
        }
        let sso = rep
            .sessions
            .get("identity center")
            .map(|s| s.known + s.unknown + s.missing)
            .unwrap_or(0);
        if sso > 0 && rep.identity_center_events == 0 {
            rep.problems.push(format!(
                "{sso} identity-center session(s) but no IAM Identity Center events"
            ));
            rep.enable
                .push("add the trail of the Identity Center account (management or delegated administrator) and region".into());
        }
        for r in &rep.regions {
            if !r.missing_delivery_intervals.is_empty() && r.delivery_files > 0 {
                rep.problems.push(format!(
                    "{}: {} interval(s) without a delivery file",
                    r.region,
                    r.missing_delivery_intervals.len()
                ));
            }
        }
        if rep.data_events == 0 {
            rep.enable
                .push("optional: data events (S3 objects, Lambda invokes) to see what sessions did with data".into());
        }
    }
    let foreign: u64 = rep
        .unknown_reasons
        .iter()
        .filter(|(k, _)| k.contains("does not cover"))
        .map(|(_, v)| *v)
        .sum();
    if foreign > 0 {
        rep.enable.push(format!(
            "add the logs of the accounts that issued {foreign} session(s) seen here"
        ));
    }
    let _ = uses;
    rep.supports_analytic =
        !rep.regions.is_empty() && regions.contains("us-east-1") && rep.sts_events > 0;
}

/// Coverage over events in time order.
pub fn coverage<I: IntoIterator<Item = SharedEvent>>(events: I) -> CoverageReport {
    let mut b = CoverageBuilder::default();
    for ev in events {
        b.push(&ev);
    }
    b.finish()
}

impl CoverageReport {
    pub fn render_table(&self) -> String {
        let mut o = format!(
            "Coverage verdict: {} — {}\n{} events\n",
            self.verdict.to_uppercase(),
            self.summary,
            self.events
        );
        for a in &self.accounts {
            o.push_str(&format!(
                "\nAccount {}  supports analytic: {}\n  sign-in events {}, STS events {}, identity center events {}, data events {}\n",
                clean(&a.account),
                if a.supports_analytic { "yes" } else { "NO" },
                a.signin_events,
                a.sts_events,
                a.identity_center_events,
                a.data_events
            ));
            for r in &a.regions {
                o.push_str(&format!(
                    "  {:<16} {} .. {}  {} events, {} files, {} quiet hour range(s), {} missing 5-min interval range(s)\n",
                    clean(&r.region),
                    r.first_event,
                    r.last_event,
                    r.events,
                    r.delivery_files,
                    r.hours_without_events.len(),
                    r.missing_delivery_intervals.len()
                ));
            }
            for (k, s) in &a.sessions {
                o.push_str(&format!(
                    "  sessions ({k}): {} known, {} unknown lineage, {} missing issuance\n",
                    s.known, s.unknown, s.missing
                ));
            }
            o.push_str(&format!(
                "  issuances: {} ({} with MFA evidence, {} where MFA is expected)\n",
                a.issuances, a.issuances_with_mfa, a.issuances_mfa_expected
            ));
            for (r, n) in &a.unknown_reasons {
                o.push_str(&format!("  unknown lineage: {} ×{n}\n", clean(r)));
            }
            for p in &a.problems {
                o.push_str(&format!("  problem: {}\n", clean(p)));
            }
            for e in &a.enable {
                o.push_str(&format!("  enable: {e}\n"));
            }
        }
        o
    }

    pub fn to_ndjson(&self) -> String {
        let mut o = String::new();
        for a in &self.accounts {
            o.push_str(&serde_json::to_string(a).unwrap_or_default());
            o.push('\n');
        }
        o.push_str(&serde_json::to_string(&serde_json::json!({"verdict": self.verdict, "summary": self.summary, "events": self.events})).unwrap_or_default());
        o.push('\n');
        o
    }

    pub fn render_html(&self) -> String {
        page("Tripline trail coverage", &self.html_section())
    }

    /// The coverage section alone, for embedding in the hunt report.
    pub fn html_section(&self) -> String {
        let cls = if self.verdict == "supported" {
            "flag ok"
        } else {
            "flag warn"
        };
        let mut b = format!(
            "<p><span class=\"{cls}\">{}</span> {} ({} events)</p>\n",
            esc(&self.verdict),
            esc(&self.summary),
            self.events
        );
        for a in &self.accounts {
            b.push_str(&format!(
                "<h2>Account {}</h2><p>sign-in {}, STS {}, identity center {}, data events {}; issuances {} ({} with MFA evidence)</p>\n",
                esc(&a.account),
                a.signin_events,
                a.sts_events,
                a.identity_center_events,
                a.data_events,
                a.issuances,
                a.issuances_with_mfa
            ));
            b.push_str(
                "<table><tr><th>region</th><th>from</th><th>to</th><th>events</th><th>files</th><th>quiet hours</th><th>missing 5-min intervals</th></tr>\n",
            );
            for r in &a.regions {
                let gaps = |v: &Vec<(String, String)>| {
                    v.iter()
                        .take(20)
                        .map(|(x, y)| format!("{}–{}", esc(x), esc(y)))
                        .collect::<Vec<_>>()
                        .join("<br>")
                };
                b.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    esc(&r.region),
                    esc(&r.first_event),
                    esc(&r.last_event),
                    r.events,
                    r.delivery_files,
                    gaps(&r.hours_without_events),
                    gaps(&r.missing_delivery_intervals)
                ));
            }
            b.push_str("</table>\n<table><tr><th>sessions</th><th>known</th><th>unknown lineage</th><th>missing issuance</th></tr>\n");
            for (k, s) in &a.sessions {
                b.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    esc(k),
                    s.known,
                    s.unknown,
                    s.missing
                ));
            }
            b.push_str("</table>\n<ul>");
            for p in &a.problems {
                b.push_str(&format!("<li>problem: {}</li>", esc(p)));
            }
            for e in &a.enable {
                b.push_str(&format!("<li>enable: {}</li>", esc(e)));
            }
            b.push_str("</ul>\n");
        }
        b
    }
}
