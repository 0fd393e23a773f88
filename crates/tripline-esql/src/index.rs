//! Which index each event belongs to, and how `FROM` patterns select them.
//!
//! Tripline holds no indices; it places every event in the index Elasticsearch would have put
//! it in, so a rule's `FROM` sees the same documents it would see there:
//! - an alert produced by Tripline (a document with `event.kind: signal` and a
//!   `kibana.alert.uuid`, as `tripline-alerts` builds them) is in
//!   `.alerts-security.alerts-default` ([`ALERTS_INDEX`]);
//! - any other document is in the data stream `logs-<dataset>-<namespace>`, where dataset is
//!   its `data_stream.dataset` (else `event.dataset`, else `aws.cloudtrail`: documents without
//!   one are CloudTrail's, which Tripline normalizes) and namespace its
//!   `data_stream.namespace` (else `default`).
//!
//! Patterns follow Elasticsearch's multi-target syntax as the rules use it: comma lists,
//! `*` wildcards, `-pattern` exclusions, `cluster:` prefixes (read as local), and wildcards that
//! do not start with `.` not expanding to dot-prefixed (hidden/system) indices.

use std::borrow::Cow;

use tripline_doc::Document;
use tripline_ir::pattern::Wildcard;

/// The index (alias) Elastic Security writes alerts of the default space to.
pub const ALERTS_INDEX: &str = ".alerts-security.alerts-default";

/// The data stream of the normalized CloudTrail events (default namespace).
pub const CLOUDTRAIL_INDEX: &str = "logs-aws.cloudtrail-default";

/// The dataset of documents that name none.
pub const DEFAULT_DATASET: &str = "aws.cloudtrail";

/// Shapes of every index name Tripline can place an event in (for the compile-time check
/// that a `FROM` can select anything at all).
const SERVED_SHAPES: &[&str] = &["logs-*-*", ".alerts-security.alerts-*"];

/// Whether `doc` is an alert document (Elastic's alert shape: `event.kind: signal` and an
/// alert uuid).
pub fn is_alert_doc(doc: &Document) -> bool {
    doc.values("event.kind")
        .iter()
        .any(|v| v.as_str() == Some("signal"))
        && doc.exists("kibana.alert.uuid")
}

/// The index an event is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventIndex<'a> {
    /// [`ALERTS_INDEX`].
    Alerts,
    /// The data stream `logs-<dataset>-<namespace>`.
    Logs {
        dataset: Cow<'a, str>,
        namespace: Cow<'a, str>,
    },
}

impl<'a> EventIndex<'a> {
    pub fn of(doc: &'a Document) -> EventIndex<'a> {
        if is_alert_doc(doc) {
            return EventIndex::Alerts;
        }
        let nonempty = |f: &str| doc.str(f).filter(|s| !s.is_empty());
        let dataset = nonempty("data_stream.dataset")
            .or_else(|| nonempty("event.dataset"))
            .unwrap_or(DEFAULT_DATASET);
        let namespace = nonempty("data_stream.namespace").unwrap_or("default");
        EventIndex::Logs {
            dataset: Cow::Borrowed(dataset),
            namespace: Cow::Borrowed(namespace),
        }
    }

    /// The index name (`_index`).
    pub fn name(&self) -> String {
        match self {
            EventIndex::Alerts => ALERTS_INDEX.to_string(),
            EventIndex::Logs { dataset, namespace } => format!("logs-{dataset}-{namespace}"),
        }
    }

    /// The value of a `constant_keyword` field of the index mapping (`data_stream.*`,
    /// `event.dataset`, `event.module` of a Fleet data stream), which every document of the
    /// index has even when its source lacks it.
    pub fn constant(&self, field: &str) -> Option<&str> {
        let EventIndex::Logs { dataset, namespace } = self else {
            return None;
        };
        match field {
            "data_stream.type" => Some("logs"),
            "data_stream.dataset" | "event.dataset" => Some(dataset),
            "data_stream.namespace" => Some(namespace),
            // Fleet packages name their datasets `<package>.<stream>`; the module is the package.
            "event.module" => dataset.split('.').next().filter(|m| !m.is_empty()),
            _ => None,
        }
    }
}

/// Names of the constant fields [`EventIndex::constant`] can fill.
pub const CONSTANT_FIELDS: &[&str] = &[
    "data_stream.dataset",
    "data_stream.namespace",
    "data_stream.type",
    "event.dataset",
    "event.module",
];

/// A compiled `FROM` target list.
#[derive(Debug, Clone)]
pub struct IndexPatterns {
    /// Inclusions: (pattern text, compiled).
    include: Vec<(String, Wildcard)>,
    exclude: Vec<(String, Wildcard)>,
}

impl IndexPatterns {
    pub fn new(patterns: &[String]) -> IndexPatterns {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for p in patterns {
            // `cluster:pattern` (cross-cluster search) is read as the local pattern.
            let p = p.rsplit(':').next().unwrap_or(p).trim();
            if p.is_empty() {
                continue;
            }
            match p.strip_prefix('-') {
                Some(ex) => exclude.push((ex.to_string(), Wildcard::new(ex, false))),
                None => include.push((p.to_string(), Wildcard::new(p, false))),
            }
        }
        IndexPatterns { include, exclude }
    }

    /// Whether the list selects the index `name`.
    pub fn selects(&self, name: &str) -> bool {
        let hit = |list: &[(String, Wildcard)]| {
            list.iter()
                .any(|(text, w)| reaches(text, name) && w.matches(name))
        };
        hit(&self.include) && !hit(&self.exclude)
    }

    /// Whether the list selects the index of the document.
    pub fn selects_doc(&self, doc: &Document) -> bool {
        self.selects(&EventIndex::of(doc).name())
    }

    /// Whether some inclusion can select an index Tripline can hold (exclusions are not
    /// considered: which datasets the input has is only known at run time).
    pub fn can_select_served(&self) -> bool {
        self.include.iter().any(|(text, _)| {
            SERVED_SHAPES
                .iter()
                .any(|shape| shape_reachable(text, shape) && globs_intersect(text, shape))
        })
    }
}

/// Elasticsearch does not expand a wildcard to dot-prefixed indices unless the pattern
/// itself starts with a dot.
fn reaches(pattern: &str, name: &str) -> bool {
    !name.starts_with('.') || pattern.starts_with('.')
}

fn shape_reachable(pattern: &str, shape: &str) -> bool {
    !shape.starts_with('.') || pattern.starts_with('.')
}

/// Whether two `*`-only glob patterns match a common string.
fn globs_intersect(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (n, m) = (a.len(), b.len());
    // reach[i][j]: some string takes a[..i] and b[..j] to the same point; filled forward.
    let mut reach = vec![vec![false; m + 1]; n + 1];
    reach[0][0] = true;
    for i in 0..=n {
        for j in 0..=m {
            if !reach[i][j] {
                continue;
            }
            let sa = a.get(i) == Some(&'*');
            let sb = b.get(j) == Some(&'*');
            // A star may match nothing more: step past it.
            if sa {
                reach[i + 1][j] = true;
            }
            if sb {
                reach[i][j + 1] = true;
            }
            match (a.get(i), b.get(j)) {
                // A star absorbs the other side's next literal character.
                (Some('*'), Some(c)) if *c != '*' => reach[i][j + 1] = true,
                (Some(c), Some('*')) if *c != '*' => reach[i + 1][j] = true,
                (Some(x), Some(y)) if x == y && *x != '*' => reach[i + 1][j + 1] = true,
                _ => {}
            }
        }
    }
    reach[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> Document {
        Document(v.as_object().cloned().unwrap_or_default())
    }

    fn pats(list: &[&str]) -> IndexPatterns {
        IndexPatterns::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn event_index_by_dataset_alert_marker_and_default() {
        let okta = doc(json!({"data_stream": {"dataset": "okta.system", "namespace": "prod"}}));
        assert_eq!(EventIndex::of(&okta).name(), "logs-okta.system-prod");
        let az = doc(json!({"event": {"dataset": "azure.signinlogs"}}));
        let ix = EventIndex::of(&az);
        assert_eq!(ix.name(), "logs-azure.signinlogs-default");
        assert_eq!(ix.constant("event.module"), Some("azure"));
        assert_eq!(ix.constant("data_stream.type"), Some("logs"));
        assert_eq!(ix.constant("user.name"), None);
        assert_eq!(EventIndex::of(&doc(json!({}))).name(), CLOUDTRAIL_INDEX);
        // An alert keeps its source's dataset fields but lives in the alerts index.
        let alert = doc(
            json!({"event": {"kind": "signal", "dataset": "aws.cloudtrail"}, "kibana.alert.uuid": "u1"}),
        );
        assert_eq!(EventIndex::of(&alert), EventIndex::Alerts);
        assert_eq!(EventIndex::of(&alert).constant("event.dataset"), None);
        // Either marker alone is not an alert.
        let signal_only = doc(json!({"event": {"kind": "signal"}}));
        assert_eq!(EventIndex::of(&signal_only).name(), CLOUDTRAIL_INDEX);
        let uuid_only = doc(json!({"kibana.alert.uuid": "u1"}));
        assert_eq!(EventIndex::of(&uuid_only).name(), CLOUDTRAIL_INDEX);
    }

    #[test]
    fn patterns_wildcards_lists_exclusions_hidden() {
        let p = pats(&["logs-azure.signinlogs-*"]);
        assert!(p.selects("logs-azure.signinlogs-default"));
        assert!(!p.selects("logs-azure.auditlogs-default"));
        assert!(!p.selects(CLOUDTRAIL_INDEX));
        let p = pats(&[".alerts-security.*", "logs-okta.system-*"]);
        assert!(p.selects(ALERTS_INDEX));
        assert!(p.selects("logs-okta.system-default"));
        assert!(!p.selects("logs-okta.other-default"));
        let p = pats(&["logs-*", "-logs-aws.cloudtrail-*"]);
        assert!(p.selects("logs-gcp.audit-default"));
        assert!(!p.selects(CLOUDTRAIL_INDEX));
        // Wildcards without a leading dot do not reach hidden indices.
        assert!(!pats(&["*"]).selects(ALERTS_INDEX));
        assert!(pats(&["*"]).selects(CLOUDTRAIL_INDEX));
        assert!(pats(&["remote:logs-aws.cloudtrail*"]).selects(CLOUDTRAIL_INDEX));
    }

    #[test]
    fn servable_patterns() {
        for ok in [
            "logs-okta*",
            "logs-aws.cloudtrail-*",
            ".alerts-security.*",
            "*",
            "logs-*",
            "logs-x-y",
        ] {
            assert!(pats(&[ok]).can_select_served(), "{ok}");
        }
        for no in [
            "metrics-*",
            ".ml-anomalies-*",
            "logs-nodash",
            "-logs-*",
            ".alerts-other*",
            "winlogbeat-*",
        ] {
            assert!(!pats(&[no]).can_select_served(), "{no}");
        }
    }

    #[test]
    fn glob_intersection() {
        assert!(globs_intersect("a*c", "ab*"));
        assert!(globs_intersect("*", ""));
        assert!(!globs_intersect("a*", "b*"));
        assert!(globs_intersect("*x*", "*y*"));
        assert!(!globs_intersect("ab", "a"));
        assert!(globs_intersect("logs-okta*", "logs-*-*"));
    }
}
