//! Projected documents: only the fields the loaded detectors read.
//!
//! A full ECS document is a tree of ~18 KB in memory, and every field read walks it with one
//! hash lookup per possible split of the dotted path. A hunt knows, once its rules are
//! loaded, every field it will ever read; a [`Projection`] holds that set and
//! [`Document::project`] copies those fields, in one walk of the document, into a *flat*
//! document: one key per wanted field (the full dotted path) holding exactly the values
//! [`Document::values`] gives for it on the full document. Reading a field of a projected
//! document is then a single lookup.
//!
//! A projected document carries the text of the record it was made from under
//! [`SOURCE_KEY`] (always its first key, which is how it is recognized): the full document is
//! rebuilt from it only when an event ends up in an alert.

use std::collections::HashMap;

use serde_json::{Map, Value};
use smallvec::SmallVec;

use crate::Document;

/// Key of the record text in a projected document. It starts with NUL, so no field path
/// (rule fields are names like `a.b.c`) can ever name it.
pub const SOURCE_KEY: &str = "\u{0}source";

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// One node per path segment; `field` is set where a wanted field ends.
#[derive(Debug, Default, Clone)]
struct Node {
    children: FastMap<Box<str>, usize>,
    field: Option<usize>,
}

/// A set of field paths to keep (see the module docs).
#[derive(Debug, Clone)]
pub struct Projection {
    nodes: Vec<Node>,
    fields: Vec<String>,
}

impl Projection {
    /// The projection keeping `fields`. `None` when a field cannot be projected: a name with
    /// a wildcard, or an empty name (then the caller must keep whole documents).
    pub fn new<I, S>(fields: I) -> Option<Projection>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut names: Vec<String> = fields.into_iter().map(|s| s.as_ref().to_string()).collect();
        names.sort();
        names.dedup();
        let mut p = Projection {
            nodes: vec![Node::default()],
            fields: Vec::with_capacity(names.len()),
        };
        for name in names {
            if name.is_empty() || name.contains('*') || name.split('.').any(str::is_empty) {
                return None;
            }
            let mut at = 0;
            for seg in name.split('.') {
                at = match p.nodes[at].children.get(seg) {
                    Some(&n) => n,
                    None => {
                        p.nodes.push(Node::default());
                        let n = p.nodes.len() - 1;
                        p.nodes[at].children.insert(seg.into(), n);
                        n
                    }
                };
            }
            p.nodes[at].field = Some(p.fields.len());
            p.fields.push(name);
        }
        Some(p)
    }

    /// The fields kept, sorted.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The projected document from the values gathered per field (`acc[i]`: the values of
    /// `fields()[i]`, arrays already flattened, no nulls) and the record text.
    pub fn assemble(&self, acc: Vec<SmallVec<[Value; 1]>>, source: String) -> Document {
        let present = acc.iter().filter(|a| !a.is_empty()).count();
        let mut m = Map::with_capacity(present + 1);
        m.insert(SOURCE_KEY.to_string(), Value::String(source));
        for (name, mut vals) in self.fields.iter().zip(acc) {
            match vals.len() {
                0 => {}
                1 => {
                    m.insert(name.clone(), vals.pop().unwrap_or(Value::Null));
                }
                _ => {
                    m.insert(name.clone(), Value::Array(vals.into_vec()));
                }
            }
        }
        Document(m)
    }

    /// Follows the segments of a (possibly dotted) document key from node `at`.
    fn follow(&self, mut at: usize, key: &str) -> Option<usize> {
        for seg in key.split('.') {
            at = *self.nodes[at].children.get(seg)?;
        }
        Some(at)
    }

    fn walk<'a>(
        &self,
        map: &'a Map<String, Value>,
        at: usize,
        acc: &mut [SmallVec<[&'a Value; 1]>],
    ) {
        for (k, v) in map {
            let Some(n) = self.follow(at, k) else {
                continue;
            };
            let node = &self.nodes[n];
            if let Some(f) = node.field {
                push_leaf(v, &mut acc[f]);
            }
            if !node.children.is_empty() {
                self.descend(v, n, acc);
            }
        }
    }

    fn descend<'a>(&self, v: &'a Value, at: usize, acc: &mut [SmallVec<[&'a Value; 1]>]) {
        match v {
            Value::Object(m) => self.walk(m, at, acc),
            Value::Array(items) => items.iter().for_each(|it| self.descend(it, at, acc)),
            _ => {}
        }
    }
}

/// As [`crate::path`]: arrays flattened, nulls skipped, objects kept whole.
fn push_leaf<'a>(v: &'a Value, out: &mut SmallVec<[&'a Value; 1]>) {
    match v {
        Value::Null => {}
        Value::Array(items) => items.iter().for_each(|it| push_leaf(it, out)),
        other => out.push(other),
    }
}

impl Document {
    /// The flat projection of this document onto `p`, carrying `source` (the record text the
    /// document was normalized from) for rebuilding the full document later.
    pub fn project(&self, p: &Projection, source: String) -> Document {
        let mut acc: Vec<SmallVec<[&Value; 1]>> = vec![SmallVec::new(); p.fields.len()];
        p.walk(&self.0, 0, &mut acc);
        let owned = acc
            .into_iter()
            .map(|vals| vals.into_iter().cloned().collect())
            .collect();
        p.assemble(owned, source)
    }

    /// Whether this is a projected document (see [`Document::project`]).
    #[inline]
    pub fn is_projected(&self) -> bool {
        // The map keeps insertion order (serde_json `preserve_order`), so this is O(1).
        self.0.iter().next().is_some_and(|(k, _)| k == SOURCE_KEY)
    }

    /// The record text a projected document was made from.
    pub fn source(&self) -> Option<&str> {
        if self.is_projected() {
            self.0.get(SOURCE_KEY).and_then(Value::as_str)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        Document(v.as_object().unwrap().clone())
    }

    /// Every wanted field reads the same on the projection as on the full document.
    fn same(full: &Document, fields: &[&str]) {
        let p = Projection::new(fields.iter().copied()).unwrap();
        let proj = full.project(&p, "{}".into());
        assert!(proj.is_projected());
        assert_eq!(proj.source(), Some("{}"));
        for f in fields {
            assert_eq!(proj.values(f), full.values(f), "field {f}");
        }
    }

    #[test]
    fn nested_dotted_arrays_objects_and_nulls_read_the_same() {
        let full = doc(json!({
            "@timestamp": "2024-01-01T00:00:00Z",
            "event": {"action": "AssumeRole", "provider": "sts.amazonaws.com", "outcome": null},
            "aws": {"cloudtrail": {
                "user_identity": {"type": "AssumedRole", "session_context": {"mfa_authenticated": "true"}},
                "resources": [{"arn": "arn:1", "type": "T"}, {"arn": "arn:2"}, "scalar"],
                "flattened": {"request_parameters": {"roleArn": "r", "tags": [1, null, 2]}}
            }},
            "dotted.key": {"inner": 5},
            "related": {"ip": ["1.2.3.4", "5.6.7.8"]},
            "x": [[1, 2], [3]]
        }));
        same(
            &full,
            &[
                "@timestamp",
                "event.action",
                "event.outcome",
                "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
                "aws.cloudtrail.resources.arn",
                "aws.cloudtrail.resources.type",
                "aws.cloudtrail.flattened.request_parameters",
                "aws.cloudtrail.flattened.request_parameters.tags",
                "aws.cloudtrail.flattened.request_parameters.roleArn",
                "dotted.key.inner",
                "related.ip",
                "x",
                "missing.field",
                "event",
            ],
        );
    }

    #[test]
    fn projection_keeps_only_wanted_fields() {
        let full = doc(json!({"a": {"b": 1, "c": 2}, "d": 3}));
        let p = Projection::new(["a.b"]).unwrap();
        let proj = full.project(&p, "raw".into());
        assert_eq!(proj.0.len(), 2);
        assert!(proj.values("a.c").is_empty());
        assert!(proj.values("d").is_empty());
        assert!(!full.is_projected());
        assert_eq!(full.source(), None);
    }

    #[test]
    fn wildcards_and_empty_segments_cannot_be_projected() {
        assert!(Projection::new(["a.*"]).is_none());
        assert!(Projection::new(["a..b"]).is_none());
        assert!(Projection::new([""]).is_none());
        assert!(Projection::new(["a", "a.b"]).is_some());
    }
}
