//! Tripline's event model.
//!
//! Every stage after the sources works on [`Event`]s: an ECS document (nested JSON, as
//! Elasticsearch would store it in `_source`) plus the bookkeeping needed for alerts and
//! error messages (where the record came from, its event time, its input order).
//!
//! Field access goes through [`Document::values`], which implements Elasticsearch's view of a
//! `_source`: a dotted path reaches into nested objects *or* dotted keys, and arrays (of
//! scalars or of objects) are flattened, so a multi-valued field yields every value.

pub mod fieldtypes;
pub mod path;
pub mod projection;
pub mod time;

use std::sync::Arc;

pub use fieldtypes::{FieldType, FieldTypes};
pub use projection::{Projection, SOURCE_KEY};
pub use serde_json::{Map, Value};

/// Where a record came from: file (or `-` for stdin) and its position inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub file: Arc<str>,
    /// 1-based index of the record inside its file (the n-th record, whatever the format).
    pub record: u64,
    /// 1-based line number when the format is line-oriented (NDJSON), else the line where
    /// the record starts when known.
    pub line: Option<u64>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}: record {} (line {})", self.file, self.record, l),
            None => write!(f, "{}: record {}", self.file, self.record),
        }
    }
}

/// An ECS document: a JSON object.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Document(pub Map<String, Value>);

impl Document {
    pub fn new() -> Self {
        Document(Map::new())
    }

    /// Every value of a dotted field path, flattened the way Elasticsearch indexes `_source`
    /// (see [`path::collect`]). Empty when the field is missing. `null`s are skipped, like
    /// Elasticsearch skips them at index time.
    pub fn values<'a>(&'a self, field: &str) -> smallvec::SmallVec<[&'a Value; 2]> {
        let mut out = smallvec::SmallVec::new();
        if self.is_projected() {
            // Flat: the key is the whole path and holds exactly the values (see `projection`).
            if let Some(v) = self.0.get(field) {
                path::push_leaf(v, &mut out);
            }
        } else {
            path::collect_map(&self.0, field, &mut out);
        }
        out
    }

    /// The first value of a field, if any.
    pub fn first<'a>(&'a self, field: &str) -> Option<&'a Value> {
        self.values(field).into_iter().next()
    }

    /// The first value of a field as a string (strings only).
    pub fn str<'a>(&'a self, field: &str) -> Option<&'a str> {
        self.values(field).into_iter().find_map(|v| v.as_str())
    }

    /// True when the field has at least one non-null value.
    pub fn exists(&self, field: &str) -> bool {
        !self.values(field).is_empty()
    }

    /// Sets a dotted path, creating nested objects as needed (ECS output shape).
    pub fn set(&mut self, field: &str, value: Value) {
        path::set_map(&mut self.0, field, value);
    }

    /// Removes a dotted path (nested objects only), pruning emptied parents.
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        path::remove_map(&mut self.0, field)
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

impl From<Map<String, Value>> for Document {
    fn from(m: Map<String, Value>) -> Self {
        Document(m)
    }
}

/// One normalized event flowing through the engine.
#[derive(Debug, Clone)]
pub struct Event {
    pub doc: Document,
    /// Event time in epoch milliseconds (from `@timestamp`, or a rule's timestamp override
    /// when a detector asks for it through [`Event::time_of`]).
    pub timestamp: i64,
    pub origin: Origin,
    /// Global input order (0-based), the final tie-breaker after time.
    pub seq: u64,
}

impl Event {
    /// The event's time according to `field` (a date field such as `event.ingested`), falling
    /// back to `@timestamp` when that field is absent or not a date. Returns (millis, fell_back).
    pub fn time_of(&self, field: Option<&str>) -> (i64, bool) {
        match field {
            None | Some("@timestamp") => (self.timestamp, false),
            Some(f) => match self.doc.first(f).and_then(time::value_to_millis) {
                Some(t) => (t, false),
                None => (self.timestamp, true),
            },
        }
    }

    /// `event.id` of the document (CloudTrail's eventID), used for alert ancestry and ids.
    pub fn event_id(&self) -> Option<&str> {
        self.doc.str("event.id")
    }
}

pub type SharedEvent = Arc<Event>;
