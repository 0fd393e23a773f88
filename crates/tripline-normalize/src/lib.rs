//! CloudTrail record → ECS document, as Elastic's AWS integration (`aws.cloudtrail` data
//! stream, ingest pipeline generation "G3") builds it: `@timestamp`, `event.*` with the
//! pipeline's categorization, `cloud.*`, `source.*` with GeoIP/ASN, `user_agent.*` from the
//! uap-core rules, `user.*`, `related.*`, actor/target entities, and `aws.cloudtrail.*` including
//! the Java-`toString` keyword renderings (`{k=v, ...}` in `HashMap` order) and the
//! `aws.cloudtrail.flattened.*` objects.
//!
//! Two entry points: [`Normalizer::normalize`] takes a parsed record; [`Normalizer::normalize_json`]
//! takes the record's JSON text, keeps its key order (which decides the order inside the
//! `{k=v}` renderings when keys share a hash bucket) and uses the text itself as
//! `event.original`. Prefer the latter when the text is at hand. A caller that reads only some
//! fields (a hunt whose rules are known) uses [`Normalizer::normalize_projected`] with a
//! [`FieldPlan`]: the same values for those fields, for much less work.

mod categorize;
mod entities;
mod fields;
mod geoip;
pub mod golden;
mod java;
mod jtree;
mod pipeline;
mod plan;
mod time;
pub mod useragent;

use std::sync::Arc;

pub use fields::known_fields;
pub use geoip::{GeoIp, GeoIpError};
pub use plan::FieldPlan;
use serde_json::Value;
use tripline_doc::Document;

/// The integration's `retain` setting (which copies of `requestParameters` & co. to keep).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retain {
    /// Keyword strings and flattened objects (the default).
    #[default]
    All,
    /// Keyword strings only.
    Keyword,
    /// Flattened objects only.
    Flattened,
    /// Keyword strings, and only the flattened paths Elastic's rules require.
    Minimal,
    /// Neither.
    None,
}

impl Retain {
    fn keeps_flattened(self) -> bool {
        matches!(self, Retain::All | Retain::Flattened | Retain::Minimal)
    }
    fn keeps_keywords(self) -> bool {
        matches!(self, Retain::All | Retain::Keyword | Retain::Minimal)
    }
    /// Parses the setting's value (`all`, `keyword`, `flattened`, `minimal`, `none`).
    pub fn parse(s: &str) -> Option<Retain> {
        Some(match s {
            "" | "all" => Retain::All,
            "keyword" => Retain::Keyword,
            "flattened" => Retain::Flattened,
            "minimal" => Retain::Minimal,
            "none" => Retain::None,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NormalizeOptions {
    /// Adds `event.original` (the record as compact JSON, or the text given to
    /// [`Normalizer::normalize_json`]) and the `preserve_original_event` tag.
    pub keep_original: bool,
    /// GeoIP/ASN databases for `source.geo.*` / `source.as.*`.
    pub geoip: Option<Arc<GeoIp>>,
    /// The time the record was read (agent `@timestamp`), copied verbatim to `event.created`.
    pub ingest_time: Option<String>,
    /// The integration's actor/target mapping (entity fields, `actor_target_mapping` tag).
    pub actor_target_mapping: bool,
    pub retain: Retain,
    /// `data_stream.*`, `event.dataset`, `event.module` (set by Fleet, not the pipeline; rules
    /// query them).
    pub data_stream_fields: bool,
    /// `data_stream.namespace`.
    pub namespace: String,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            keep_original: false,
            geoip: None,
            ingest_time: None,
            actor_target_mapping: true,
            retain: Retain::All,
            data_stream_fields: true,
            namespace: "default".into(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormalizeError {
    #[error("record is not a JSON object (it is {0})")]
    NotAnObject(&'static str),
    #[error("record is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("record has no eventTime")]
    MissingEventTime,
    #[error("record's eventTime {0:?} is not an ISO-8601 date")]
    BadEventTime(String),
    #[error("record has no eventName")]
    MissingEventName,
    #[error("record's eventName {0:?} is not a string")]
    BadEventName(String),
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn record_object(j: jtree::J<'_>) -> Result<jtree::Obj<'_>, NormalizeError> {
    match j {
        jtree::J::Obj(o) => Ok(o),
        jtree::J::Null => Err(NormalizeError::NotAnObject("null")),
        jtree::J::Bool(_) => Err(NormalizeError::NotAnObject("a boolean")),
        jtree::J::Num(_) => Err(NormalizeError::NotAnObject("a number")),
        jtree::J::Str(_) => Err(NormalizeError::NotAnObject("a string")),
        jtree::J::Arr(_) => Err(NormalizeError::NotAnObject("an array")),
    }
}

/// Turns CloudTrail records into ECS documents. Cheap to share across threads.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    opts: NormalizeOptions,
}

impl Normalizer {
    pub fn new(opts: NormalizeOptions) -> Normalizer {
        Normalizer { opts }
    }

    pub fn options(&self) -> &NormalizeOptions {
        &self.opts
    }

    /// Normalizes a parsed record. Key order inside the `{k=v}` renderings follows the map's
    /// order for keys sharing a hash bucket (see [`Normalizer::normalize_json`]).
    pub fn normalize(&self, record: &Value) -> Result<Document, NormalizeError> {
        self.normalize_with_time(record).map(|(d, _)| d)
    }

    /// [`Normalizer::normalize`], also returning `@timestamp` as epoch milliseconds.
    pub fn normalize_with_time(&self, record: &Value) -> Result<(Document, i64), NormalizeError> {
        if !record.is_object() {
            return Err(NormalizeError::NotAnObject(kind_of(record)));
        }
        let j = jtree::J::from_value(record);
        let jtree::J::Obj(rec) = j else {
            return Err(NormalizeError::NotAnObject(kind_of(record)));
        };
        let original = self
            .opts
            .keep_original
            .then(|| serde_json::to_string(record).unwrap_or_default());
        let (m, ts) = self.run(pipeline::Input {
            rec,
            original,
            source: None,
            steps: plan::Steps::ALL,
            plan: None,
        })?;
        Ok((Document(m), ts))
    }

    /// Normalizes a record given as JSON text (one CloudTrail event object). Exact key order,
    /// and the text itself becomes `event.original`.
    pub fn normalize_json(&self, text: &str) -> Result<(Document, i64), NormalizeError> {
        self.normalize_text(text, None)
    }

    /// [`Normalizer::normalize_json`] for a caller that reads only the fields of `plan`: the
    /// result is exactly `normalize_json(text)`'s document projected
    /// ([`Document::project`]) onto `plan.projection()` with `text` as its source, and the
    /// same `@timestamp` (and the same errors), at a fraction of the cost: the steps whose
    /// fields are not wanted are skipped and only the wanted parts of the output are built.
    pub fn normalize_projected(
        &self,
        text: &str,
        plan: &FieldPlan,
    ) -> Result<(Document, i64), NormalizeError> {
        self.normalize_text(text, Some(plan))
    }

    /// JSON text → document: whole (`plan` = `None`) or projected onto `plan`.
    fn normalize_text(
        &self,
        text: &str,
        plan: Option<&FieldPlan>,
    ) -> Result<(Document, i64), NormalizeError> {
        let j = jtree::J::parse(text).map_err(|e| NormalizeError::InvalidJson(e.to_string()))?;
        let rec = record_object(j)?;
        let steps = plan.map_or(plan::Steps::ALL, FieldPlan::steps);
        let original = (self.opts.keep_original && steps.original).then(|| text.to_string());
        let (m, ts) = self.run(pipeline::Input {
            rec,
            original,
            source: plan.map(|_| text.to_string()),
            steps,
            plan,
        })?;
        Ok((Document(m), ts))
    }
}
