//! Normalizing for a known set of output fields ([`FieldPlan`]): the pipeline skips the work
//! whose only products are fields nobody reads (user-agent parsing, GeoIP/ASN lookups, the
//! `{k=v}` keyword renderings and flattened copies, the entity fields, `event.original`), and
//! only the wanted parts of the output become `serde_json` maps.
//!
//! Exactness: the result is the [`Document::project`] of the full document. Every skipped step
//! writes only its own output fields and reads nothing another step writes, and pruning a
//! subtree never changes what the final clean-up does to another one, so each wanted field
//! has the same values either way (`tests` check this against full normalizations).

use tripline_doc::projection::Projection;

#[derive(Debug, Clone, Default)]
struct PNode {
    children: Vec<(String, usize)>,
    /// A wanted field ends here (its index in the projection's fields): the whole value
    /// below is needed.
    field: Option<usize>,
}

/// Output fields the pipeline reads after writing them (to derive others).
pub(crate) const READ_BACK: &[&[&str]] = &[
    &["aws", "cloudtrail", "user_identity", "arn"],
    &[
        "aws",
        "cloudtrail",
        "user_identity",
        "on_behalf_of",
        "user_id",
    ],
    &["aws", "cloudtrail", "recipient_account_id"],
    &["aws", "cloudtrail", "shared_event_id"],
    &["aws", "cloudtrail", "error_code"],
    &["aws", "cloudtrail", "error_message"],
    &["aws", "cloudtrail", "resources"],
    &["user", "id"],
    &["user", "name"],
    &["user", "email"],
    &["user", "changes", "name"],
    &["source", "address"],
    &["cloud", "account", "id"],
    &["file", "path"],
    &["tls", "client", "server_name"],
];

/// A path trie: `field` set where a wanted field ends.
#[derive(Debug, Clone, Default)]
struct Trie {
    nodes: Vec<PNode>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![PNode::default()],
        }
    }

    fn insert<'s>(&mut self, segs: impl Iterator<Item = &'s str>, field: usize) {
        let mut at = 0;
        for seg in segs {
            at = match self.child(at, seg) {
                Some(n) => n,
                None => {
                    self.nodes.push(PNode::default());
                    let n = self.nodes.len() - 1;
                    self.nodes[at].children.push((seg.to_string(), n));
                    n
                }
            };
        }
        self.nodes[at].field.get_or_insert(field);
    }

    fn child(&self, at: usize, key: &str) -> Option<usize> {
        self.nodes[at]
            .children
            .iter()
            .find(|(k, _)| k == key)
            .map(|&(_, n)| n)
    }

    /// Whether anything at or below `path` ends a field (a field ending above it counts).
    fn reaches(&self, path: &[&str]) -> bool {
        let mut at = 0;
        for seg in path {
            if self.nodes[at].field.is_some() {
                return true;
            }
            match self.child(at, seg) {
                Some(n) => at = n,
                None => return false,
            }
        }
        true
    }
}

/// The output fields a caller reads, prepared for [`crate::Normalizer::normalize_projected`].
/// Build it once (per projection) and reuse it for every record.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    projection: Projection,
    /// The wanted fields.
    wanted: Trie,
    /// The wanted fields and [`READ_BACK`]: what the pipeline stores.
    stored: Trie,
    steps: Steps,
}

impl FieldPlan {
    pub fn new(projection: &Projection) -> FieldPlan {
        let mut wanted = Trie::new();
        for (i, f) in projection.fields().iter().enumerate() {
            wanted.insert(f.split('.'), i);
        }
        let mut stored = wanted.clone();
        for p in READ_BACK {
            stored.insert(p.iter().copied(), usize::MAX);
        }
        let mut plan = FieldPlan {
            projection: projection.clone(),
            wanted,
            stored,
            steps: Steps::ALL,
        };
        plan.steps = Steps::for_plan(&plan);
        plan
    }

    pub(crate) fn steps(&self) -> Steps {
        self.steps
    }

    /// Whether the pipeline stores a field at `path`: wanted, or read back.
    pub(crate) fn stores(&self, path: &[&str]) -> bool {
        self.stored.reaches(path)
    }

    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// Node of the wanted-fields trie below node `at` by `key`.
    pub(crate) fn child(&self, at: usize, key: &str) -> Option<usize> {
        self.wanted.child(at, key)
    }

    pub(crate) fn field(&self, at: usize) -> Option<usize> {
        self.wanted.nodes[at].field
    }

    pub(crate) fn has_children(&self, at: usize) -> bool {
        !self.wanted.nodes[at].children.is_empty()
    }

    /// Whether anything at or below this output path (nested object keys) is wanted.
    pub(crate) fn wants(&self, path: &[&str]) -> bool {
        self.wanted.reaches(path)
    }

    /// Whether anything below `path` other than its child `except` is wanted.
    pub(crate) fn wants_besides(&self, path: &[&str], except: &str) -> bool {
        let mut at = 0;
        for seg in path {
            if self.field(at).is_some() {
                return true;
            }
            match self.child(at, seg) {
                Some(n) => at = n,
                None => return false,
            }
        }
        let node = &self.wanted.nodes[at];
        node.field.is_some() || node.children.iter().any(|(k, _)| k != except)
    }

    /// Whether any of these output paths is wanted.
    pub(crate) fn wants_any(&self, paths: &[&[&str]]) -> bool {
        paths.iter().any(|p| self.wants(p))
    }
}

/// Which optional steps of the pipeline run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    /// `user_agent.original` alone needs no parsing.
    pub user_agent: bool,
    pub user_agent_parse: bool,
    pub geo: bool,
    pub asn: bool,
    pub entities: bool,
    pub original: bool,
    /// Per keyword source (`requestParameters`, `responseElements`, `additionalEventData`,
    /// `serviceEventDetails`): (keyword string, flattened copy).
    pub keywords: [(bool, bool); 4],
}

impl Steps {
    pub(crate) const ALL: Steps = Steps {
        user_agent: true,
        user_agent_parse: true,
        geo: true,
        asn: true,
        entities: true,
        original: true,
        keywords: [(true, true); 4],
    };

    pub(crate) fn for_plan(p: &FieldPlan) -> Steps {
        // Pipeline errors (which the entity script can raise) show in these fields.
        let errors: &[&[&str]] = &[&["event", "kind"], &["error", "message"], &["tags"]];
        let entity_fields: &[&[&str]] = &[
            &["target", "entity", "id"],
            &["user", "target", "entity", "id"],
            &["host", "target", "entity", "id"],
            &["host", "target", "id"],
            &["service", "target", "entity", "id"],
            &["entity", "target", "id"],
            &["actor", "entity", "id"],
            &["service", "entity", "id"],
            &["user", "entity", "id"],
            &["host", "entity", "id"],
            &["entity", "id"],
            &["related", "entity"],
        ];
        let kw = |dst: &str| {
            (
                p.wants(&["aws", "cloudtrail", dst]),
                p.wants(&["aws", "cloudtrail", "flattened", dst]),
            )
        };
        Steps {
            user_agent: p.wants(&["user_agent"]),
            user_agent_parse: p.wants_besides(&["user_agent"], "original"),
            geo: p.wants(&["source", "geo"]),
            asn: p.wants(&["source", "as"]),
            entities: p.wants_any(entity_fields) || p.wants_any(errors),
            original: p.wants(&["event", "original"]),
            keywords: [
                kw("request_parameters"),
                kw("response_elements"),
                kw("additional_eventdata"),
                kw("service_event_details"),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(fields: &[&str]) -> FieldPlan {
        FieldPlan::new(&Projection::new(fields.iter().copied()).unwrap())
    }

    #[test]
    fn wants_prefixes_and_parents() {
        let p = plan(&["user_agent.original", "source"]);
        assert!(p.wants(&["user_agent"]));
        assert!(p.wants(&["user_agent", "original"]));
        assert!(!p.wants(&["user_agent", "name"]));
        // A wanted parent wants everything below it.
        assert!(p.wants(&["source", "geo", "location"]));
        assert!(!p.wants(&["event"]));
        assert!(!p.wants_besides(&["user_agent"], "original"));
        assert!(plan(&["user_agent"]).wants_besides(&["user_agent"], "original"));
        assert!(plan(&["user_agent.os.name"]).wants_besides(&["user_agent"], "original"));
    }

    #[test]
    fn steps_follow_the_fields() {
        let s = plan(&["event.action"]).steps();
        assert!(!s.user_agent && !s.geo && !s.asn && !s.entities && !s.original);
        assert_eq!(s.keywords, [(false, false); 4]);
        let s = plan(&["tags", "aws.cloudtrail.flattened.request_parameters.x"]).steps();
        assert!(s.entities, "entity errors show in tags");
        assert_eq!(s.keywords[0], (false, true));
        // Read-back fields are stored even when not wanted; others are not.
        let p = plan(&["event.action"]);
        assert!(p.stores(&["source", "address"]));
        assert!(!p.stores(&["source", "ip"]));
    }
}
