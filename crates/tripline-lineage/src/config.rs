//! Analytic settings: windows, MFA policy, exclusions. Read from the analytic rule's
//! `[rule.lineage]` table (every key optional), so users tune it in the rule file itself.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::LineageError;

/// Every setting of the session-lineage analytic. Durations are written like rule
/// intervals (`15m`, `12h`, `30d`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LineageConfig {
    /// How long after a credential's first use (or an issuance) its alert waits, so that the
    /// alert carries the uses that follow and an issuance logged a little later than the
    /// credential's creation time is still found.
    pub alert_delay: String,
    /// Clock slack between an issuance event's time and the `creationDate` its sessions show.
    pub link_tolerance: String,
    /// Longest lifetime of role sessions (AssumeRole*, identity center, service credentials).
    pub max_lifetime: String,
    /// Longest lifetime of GetSessionToken / GetFederationToken credentials.
    pub max_lifetime_long: String,
    /// Longest console sign-in session (keys the console refreshes inside it link to it).
    pub console_session_lifetime: String,
    /// The trail must have been delivering this long before a credential's creation time
    /// for its missing issuance to count.
    pub coverage_margin: String,
    /// A silence longer than this in a region is a coverage gap.
    pub max_gap: String,
    /// Regions whose coverage at creation time is required before a missing issuance is an
    /// alert: STS's global endpoint and the console log in `us-east-1`; `$use_region` stands for
    /// the region where the credential was used (regional STS endpoints).
    pub issuance_regions: Vec<String>,
    pub mfa: MfaPolicy,
    pub baseline: BaselineConfig,
    pub exclude: Exclusions,
    /// API calls (glob on `provider:action` or `action`) that make a suspicious session
    /// more severe.
    pub sensitive_actions: Vec<String>,
    /// Cap on live credentials kept (oldest dropped first).
    pub max_credentials: usize,
}

/// Which sessions must show MFA at issuance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MfaPolicy {
    /// Console sign-ins of IAM users.
    pub iam_user_console: bool,
    /// Console sign-ins of the root user.
    pub root_console: bool,
    /// GetSessionToken calls.
    pub get_session_token: bool,
    /// Role ARNs (globs) whose AssumeRole must carry MFA (`serialNumber`, or an MFA-backed caller).
    pub roles: Vec<String>,
}

/// Per-identity source baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineConfig {
    /// Entries not seen for this long are forgotten.
    pub window: String,
    /// An identity needs this many baselined events before a source can be called unfamiliar.
    pub min_events: u64,
    /// Caps per identity (addresses, networks, ASNs, countries each).
    pub max_entries: usize,
    /// Cap on identities kept.
    pub max_identities: usize,
}

/// What never alerts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Exclusions {
    /// Known automation: globs on the session ARN, the role/user ARN or the session name.
    pub principals: Vec<String>,
    /// Globs on `user_agent.original`.
    pub user_agents: Vec<String>,
    /// Globs on `source.address` of AWS-internal callers, never judged as networks.
    pub source_addresses: Vec<String>,
    /// Accounts whose sessions are issued outside this trail (partners, other orgs): their
    /// sessions get no lineage alerts.
    pub trusted_accounts: Vec<String>,
    /// Sessions of principals from accounts the trail does not cover (federated or
    /// cross-account flows) are not judged.
    pub foreign_account_sessions: bool,
    /// CIDRs treated as inside AWS / the organisation (NAT gateways, AWS ranges you load).
    pub internal_networks: Vec<String>,
    /// ASNs treated as AWS (when GeoIP ASN data is present).
    pub aws_asns: Vec<u64>,
    /// Services whose credentials are judged for "used away" without ASN data (their
    /// callers keep one address per credential, unlike Lambda's shared egress).
    pub service_networks_stable: Vec<String>,
}

impl Default for LineageConfig {
    fn default() -> Self {
        LineageConfig {
            alert_delay: "15m".into(),
            link_tolerance: "5m".into(),
            max_lifetime: "12h".into(),
            max_lifetime_long: "36h".into(),
            console_session_lifetime: "12h".into(),
            coverage_margin: "5m".into(),
            max_gap: "1h".into(),
            issuance_regions: vec!["us-east-1".into(), "$use_region".into()],
            mfa: MfaPolicy::default(),
            baseline: BaselineConfig::default(),
            exclude: Exclusions::default(),
            sensitive_actions: [
                "iam:Create*",
                "iam:Attach*",
                "iam:Put*Policy",
                "iam:Update*",
                "iam:Delete*",
                "iam:Add*",
                "iam:EnableMFADevice",
                "iam:DeactivateMFADevice",
                "sts:GetFederationToken",
                "sts:GetSessionToken",
                "cloudtrail:StopLogging",
                "cloudtrail:DeleteTrail",
                "cloudtrail:Put*",
                "cloudtrail:Update*",
                "guardduty:Delete*",
                "guardduty:Update*",
                "guardduty:CreateFilter",
                "secretsmanager:GetSecretValue",
                "ssm:GetParameter*",
                "kms:Decrypt",
                "s3:PutBucketPolicy",
                "s3:PutBucketAcl",
                "organizations:*",
                "ec2:CreateKeyPair",
                "ec2:ModifyInstanceAttribute",
                "lambda:UpdateFunctionCode*",
                "signin:GetSigninToken",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            max_credentials: 500_000,
        }
    }
}

impl Default for MfaPolicy {
    fn default() -> Self {
        MfaPolicy {
            iam_user_console: true,
            root_console: true,
            get_session_token: false,
            roles: vec![],
        }
    }
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            window: "30d".into(),
            min_events: 5,
            max_entries: 64,
            max_identities: 100_000,
        }
    }
}

impl Default for Exclusions {
    fn default() -> Self {
        Exclusions {
            principals: vec![],
            user_agents: vec![],
            source_addresses: vec!["*.amazonaws.com".into(), "AWS Internal".into()],
            trusted_accounts: vec![],
            foreign_account_sessions: true,
            internal_networks: vec![],
            aws_asns: vec![16509, 14618, 8987],
            service_networks_stable: vec!["ec2.amazonaws.com".into()],
        }
    }
}

/// A configuration with its durations parsed (ms) and globs ready.
#[derive(Debug, Clone)]
pub struct Settings {
    pub raw: LineageConfig,
    pub alert_delay: i64,
    pub link_tolerance: i64,
    pub max_lifetime: i64,
    pub max_lifetime_long: i64,
    pub console_session_lifetime: i64,
    pub coverage_margin: i64,
    pub max_gap: i64,
    pub baseline_window: i64,
    pub internal_networks: Vec<ipnet::IpNet>,
}

fn dur(name: &str, s: &str) -> Result<i64, LineageError> {
    tripline_doc::time::parse_duration_millis(s)
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            LineageError::Config(format!(
                "{name}: {s:?} is not a duration like 15m, 12h or 30d"
            ))
        })
}

impl Settings {
    pub fn new(raw: LineageConfig) -> Result<Settings, LineageError> {
        let mut internal_networks = Vec::new();
        for n in &raw.exclude.internal_networks {
            let net = n
                .parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    LineageError::Config(format!("exclude.internal_networks: {n:?} is not a CIDR"))
                })?;
            internal_networks.push(net);
        }
        Ok(Settings {
            alert_delay: dur("alert_delay", &raw.alert_delay)?,
            link_tolerance: dur("link_tolerance", &raw.link_tolerance)?,
            max_lifetime: dur("max_lifetime", &raw.max_lifetime)?,
            max_lifetime_long: dur("max_lifetime_long", &raw.max_lifetime_long)?,
            console_session_lifetime: dur(
                "console_session_lifetime",
                &raw.console_session_lifetime,
            )?,
            coverage_margin: dur("coverage_margin", &raw.coverage_margin)?,
            max_gap: dur("max_gap", &raw.max_gap)?,
            baseline_window: dur("baseline.window", &raw.baseline.window)?,
            internal_networks,
            raw,
        })
    }

    /// Settings from a rule's `[rule.lineage]` table (defaults when absent).
    pub fn from_rule_raw(raw: &Value) -> Result<Settings, LineageError> {
        let cfg = match raw.get("rule").and_then(|r| r.get("lineage")) {
            Some(v) => serde_json::from_value::<LineageConfig>(v.clone())
                .map_err(|e| LineageError::Config(format!("[rule.lineage]: {e}")))?,
            None => LineageConfig::default(),
        };
        Settings::new(cfg)
    }

    /// The longest any credential can live.
    pub fn longest_lifetime(&self) -> i64 {
        self.max_lifetime
            .max(self.max_lifetime_long)
            .max(self.console_session_lifetime)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new(LineageConfig::default()).expect("default lineage settings are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_overrides_apply() {
        let s = Settings::default();
        assert_eq!(s.alert_delay, 15 * 60_000);
        assert_eq!(s.longest_lifetime(), 36 * 3_600_000);
        let raw = serde_json::json!({"rule": {"lineage": {"alert_delay": "1m", "exclude": {"internal_networks": ["10.0.0.0/8", "192.0.2.7"]}}}});
        let s = Settings::from_rule_raw(&raw).unwrap();
        assert_eq!(s.alert_delay, 60_000);
        assert_eq!(s.internal_networks.len(), 2);
        // untouched keys keep their defaults
        assert_eq!(s.raw.exclude.aws_asns, vec![16509, 14618, 8987]);
    }

    #[test]
    fn bad_values_are_errors() {
        let raw = serde_json::json!({"rule": {"lineage": {"alert_delay": "soon"}}});
        assert!(Settings::from_rule_raw(&raw).is_err());
        let raw = serde_json::json!({"rule": {"lineage": {"unknown_key": 1}}});
        assert!(Settings::from_rule_raw(&raw).is_err());
        let raw =
            serde_json::json!({"rule": {"lineage": {"exclude": {"internal_networks": ["nope"]}}}});
        assert!(Settings::from_rule_raw(&raw).is_err());
    }
}
