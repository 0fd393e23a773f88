//! Rule exceptions: events that must not raise alerts.
//!
//! Two sources, one semantics (Elastic's):
//! - exception items embedded in a rule (`[[rule.exceptions_list]]` / `exceptions` entries
//!   that carry `entries`), applied automatically by [`crate::compile_rule`];
//! - a local exceptions file (TOML or YAML, see [`load_exceptions_file`]) keyed by rule id, so
//!   users tune rules without editing them; applied to every detector with
//!   [`ExceptionSet::apply`].
//!
//! An exception *item* matches an event when all of its entries match; an event matching any
//! item of a rule is removed *before* the rule sees it, as Elasticsearch adds exceptions to
//! the rule's query as `must_not` filters: an excepted event raises no alert, does not count
//! towards a threshold and is not history for `new_terms`. (ES|QL aggregate rows, which have
//! no source event, are tested on the row's fields instead.)
//!
//! Entry semantics (`operator` `included` = "is", `excluded` = "is not", i.e. the negation):
//! - `match`: `value` equals the field (per field type; phrase match on text fields);
//! - `match_any`: any of `value` (a list);
//! - `wildcard`: `value` is a wildcard pattern (`*`, `?`);
//! - `exists`: the field has a value;
//! - `nested`: `entries` apply under the `field` prefix (`field.child`);
//! - `list`: Elastic value lists are not available offline; in a local file, `list.path` names a
//!   text file of values (one per line, `#` comments), relative to the exceptions file.
//!
//! # Local exceptions file
//!
//! ```toml
//! # Every [[exceptions]] table is one exception item.
//! [[exceptions]]
//! rule_id = "3e7c1b84-9f52-4d63-8a17-6b0e4c2f9d31"  # or rule_id = ["id1", "id2"], or "*" = every rule
//! name = "Static website buckets"                  # optional; shown in errors and stats
//! comment = "Approved by the web team, ticket 1234"  # optional, free text
//! # Entries exactly as Elastic stores them (all must match):
//! [[exceptions.entries]]
//! field = "aws.s3.bucket.name"
//! operator = "included"        # default
//! type = "match_any"
//! value = ["www-example-com", "static-assets"]
//!
//! # An item can also be a KQL query instead of (or with) entries:
//! [[exceptions]]
//! rule_id = "*"
//! name = "Terraform CI role"
//! query = 'aws.cloudtrail.user_identity.arn: "arn:aws:iam::123456789012:role/terraform-ci"'
//! ```
//!
//! The YAML form has the same shape: a top-level `exceptions:` list of items. See
//! `crates/tripline-engine/tests/data/exceptions.toml` and `.yaml` for complete samples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tripline_doc::{Document, FieldTypes, SharedEvent};
use tripline_ir::{pattern::Wildcard, FieldRef, Literal, Predicate};
use tripline_rules::{Rule, RuleType};

use crate::compile::{CompileContext, CompileError};
use crate::detector::{AlertDraft, Detector, DetectorStats};

#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: syntax error: {message}")]
    Syntax { path: String, message: String },
    /// A problem in one item: `item` is 1-based, `name` the item's name when it has one.
    #[error("{path}: exception #{item}{}: {message}", name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Item {
        path: String,
        item: usize,
        name: Option<String>,
        message: String,
    },
}

/// One compiled exception item.
#[derive(Debug, Clone)]
pub struct ExceptionItem {
    /// The item's name (or `#n` when unnamed).
    pub name: String,
    /// Where it was defined: `FILE #n` or `rule RULE_ID`.
    pub source: String,
    pub predicate: Predicate,
}

impl ExceptionItem {
    pub fn matches(&self, doc: &Document) -> bool {
        self.predicate.matches(doc)
    }
}

/// Exception items by rule id (`*` = every rule).
#[derive(Debug, Clone, Default)]
pub struct ExceptionSet {
    by_rule: BTreeMap<String, Vec<Arc<ExceptionItem>>>,
}

impl ExceptionSet {
    pub fn is_empty(&self) -> bool {
        self.by_rule.is_empty()
    }

    /// Number of items (an item listed for several rules counts once per rule).
    pub fn len(&self) -> usize {
        self.by_rule.values().map(|v| v.len()).sum()
    }

    /// Rule ids the set names (`*` included), for `rules check` to report ids that match no
    /// loaded rule.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.by_rule.keys().map(|s| s.as_str())
    }

    /// The items that apply to a rule (its own and the `*` ones).
    pub fn for_rule(&self, rule_id: &str) -> Vec<Arc<ExceptionItem>> {
        let mut out: Vec<Arc<ExceptionItem>> =
            self.by_rule.get(rule_id).cloned().unwrap_or_default();
        if rule_id != "*" {
            out.extend(self.by_rule.get("*").into_iter().flatten().cloned());
        }
        out
    }

    pub fn add(&mut self, rule_id: &str, item: ExceptionItem) {
        self.by_rule
            .entry(rule_id.to_string())
            .or_default()
            .push(Arc::new(item));
    }

    /// Merges another set (e.g. several `--exceptions` files).
    pub fn extend(&mut self, other: ExceptionSet) {
        for (k, v) in other.by_rule {
            self.by_rule.entry(k).or_default().extend(v);
        }
    }

    /// Wraps a detector with the items for its rule; returns it unchanged when none apply.
    pub fn wrap(&self, det: Box<dyn Detector>) -> Box<dyn Detector> {
        let items = self.for_rule(&det.rule().rule_id);
        if items.is_empty() {
            det
        } else {
            Box::new(WithExceptions::new(det, items))
        }
    }

    /// Wraps every detector (see [`ExceptionSet::wrap`]).
    pub fn apply(&self, dets: Vec<Box<dyn Detector>>) -> Vec<Box<dyn Detector>> {
        dets.into_iter().map(|d| self.wrap(d)).collect()
    }
}

/// Loads a local exceptions file (`.toml`, `.yaml`/`.yml`; other names are tried as TOML then
/// YAML), with field types from the built-in table. Errors name the file and the item.
pub fn load_exceptions_file(path: &Path) -> Result<ExceptionSet, ExceptionError> {
    load_exceptions_file_with(path, FieldTypes::builtin())
}

/// [`load_exceptions_file`] with an explicit field-type table.
pub fn load_exceptions_file_with(
    path: &Path,
    types: &FieldTypes,
) -> Result<ExceptionSet, ExceptionError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ExceptionError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let value = match ext.as_str() {
        "toml" => parse_toml(&text).map_err(|m| ExceptionError::Syntax {
            path: shown.clone(),
            message: m,
        })?,
        "yaml" | "yml" => parse_yaml(&text).map_err(|m| ExceptionError::Syntax {
            path: shown.clone(),
            message: m,
        })?,
        _ => match parse_toml(&text) {
            Ok(v) => v,
            Err(t) => parse_yaml(&text).map_err(|y| ExceptionError::Syntax {
                path: shown.clone(),
                message: format!("neither TOML ({t}) nor YAML ({y})"),
            })?,
        },
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_exceptions_value(&value, &shown, &base, types)
}

fn parse_toml(text: &str) -> Result<Value, String> {
    let v: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(v).map_err(|e| e.to_string())
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// Parses an exceptions document already turned into JSON (`{"exceptions": [...]}`).
/// `shown` names the file in errors; `base` resolves `list.path`.
pub fn parse_exceptions_value(
    v: &Value,
    shown: &str,
    base: &Path,
    types: &FieldTypes,
) -> Result<ExceptionSet, ExceptionError> {
    let syntax = |m: String| ExceptionError::Syntax {
        path: shown.to_string(),
        message: m,
    };
    let top = v
        .as_object()
        .ok_or_else(|| syntax("expected a table with an `exceptions` list".into()))?;
    for k in top.keys() {
        if k != "exceptions" {
            return Err(syntax(format!(
                "unknown top-level key {k:?} (expected `exceptions`)"
            )));
        }
    }
    let items = match top.get("exceptions") {
        None | Some(Value::Null) => return Ok(ExceptionSet::default()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(syntax("`exceptions` must be a list of items".into())),
    };
    let mut set = ExceptionSet::default();
    for (i, item) in items.iter().enumerate() {
        let name = item.get("name").and_then(|n| n.as_str()).map(String::from);
        let err = |m: String| ExceptionError::Item {
            path: shown.to_string(),
            item: i + 1,
            name: name.clone(),
            message: m,
        };
        let obj = item
            .as_object()
            .ok_or_else(|| err("an exception item must be a table".into()))?;
        for k in obj.keys() {
            if !matches!(
                k.as_str(),
                "rule_id" | "rule_ids" | "name" | "comment" | "description" | "entries" | "query"
            ) {
                return Err(err(format!(
                    "unknown key {k:?} (expected rule_id, name, comment, entries, query)"
                )));
            }
        }
        let rule_ids: Vec<String> = match obj.get("rule_id").or_else(|| obj.get("rule_ids")) {
            Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err("rule_id list must hold non-empty strings".into()))?,
            _ => {
                return Err(err(
                    "missing rule_id (a rule id, a list of them, or \"*\" for every rule)".into(),
                ))
            }
        };
        let mut parts = Vec::new();
        if let Some(q) = obj.get("query") {
            let q = q
                .as_str()
                .ok_or_else(|| err("query must be a KQL string".into()))?;
            let p = tripline_kql::compile(q, types).map_err(|e| err(format!("query: {e}")))?;
            parts.push(p);
        }
        if let Some(entries) = obj.get("entries") {
            parts.push(compile_entries(entries, types, Some(base)).map_err(err)?);
        }
        if parts.is_empty() {
            return Err(err("an item needs `entries` or a `query`".into()));
        }
        let predicate = if parts.len() == 1 {
            parts.pop().unwrap_or(Predicate::Const(false))
        } else {
            Predicate::And(parts)
        };
        let label = name.clone().unwrap_or_else(|| format!("#{}", i + 1));
        for id in rule_ids {
            set.add(
                &id,
                ExceptionItem {
                    name: label.clone(),
                    source: format!("{shown} #{}", i + 1),
                    predicate: predicate.clone(),
                },
            );
        }
    }
    Ok(set)
}

/// Compiles an Elastic `entries` list (all must match) into a predicate. `base` is where
/// `list.path` files are looked up; `None` (rule-embedded items) rejects `list` entries.
pub fn compile_entries(
    entries: &Value,
    types: &FieldTypes,
    base: Option<&Path>,
) -> Result<Predicate, String> {
    let list = entries.as_array().ok_or("entries must be a list")?;
    if list.is_empty() {
        return Err("entries is empty (an item with no entries would silence every event)".into());
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        out.push(
            compile_entry(e, types, None, base).map_err(|m| format!("entry #{}: {m}", i + 1))?,
        );
    }
    Ok(if out.len() == 1 {
        out.pop().unwrap_or(Predicate::Const(false))
    } else {
        Predicate::And(out)
    })
}

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn compile_entry(
    e: &Value,
    types: &FieldTypes,
    prefix: Option<&str>,
    base: Option<&Path>,
) -> Result<Predicate, String> {
    let obj = e.as_object().ok_or("an entry must be a table")?;
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "field" | "operator" | "type" | "value" | "entries" | "list"
        ) {
            return Err(format!(
                "unknown key {k:?} (expected field, operator, type, value, entries, list)"
            ));
        }
    }
    let field = obj
        .get("field")
        .and_then(|f| f.as_str())
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or("missing field")?;
    let field = match prefix {
        Some(p) => format!("{p}.{field}"),
        None => field.to_string(),
    };
    let ty = obj
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or("missing type (match, match_any, wildcard, exists, list, nested)")?;
    let excluded = match obj.get("operator").map(|o| o.as_str()) {
        None | Some(Some("included")) => false,
        Some(Some("excluded")) => true,
        Some(other) => {
            return Err(format!(
                "operator must be \"included\" or \"excluded\", got {}",
                other
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| "a non-string".into())
            ))
        }
    };
    let fr = FieldRef::resolve(&field, types);
    let value = obj.get("value");
    let pred = match ty {
        "match" => {
            let v = value
                .and_then(value_string)
                .ok_or("match needs a string `value`")?;
            Predicate::Match {
                field: fr,
                value: Literal::Str(v),
                phrase: true,
            }
        }
        "match_any" => {
            let vals: Vec<String> = match value {
                Some(Value::Array(a)) if !a.is_empty() => a
                    .iter()
                    .map(value_string)
                    .collect::<Option<Vec<_>>>()
                    .ok_or("match_any values must be strings")?,
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    vec![value_string(v).unwrap_or_default()]
                }
                _ => return Err("match_any needs a non-empty `value` list".into()),
            };
            Predicate::Or(
                vals.into_iter()
                    .map(|v| Predicate::Match {
                        field: fr.clone(),
                        value: Literal::Str(v),
                        phrase: true,
                    })
                    .collect(),
            )
        }
        "wildcard" => {
            let v = value
                .and_then(value_string)
                .ok_or("wildcard needs a string `value` pattern")?;
            Predicate::Wildcard {
                field: fr,
                pattern: Wildcard::new(&v, false),
            }
        }
        "exists" => Predicate::Exists(fr),
        "nested" => {
            let kids = obj
                .get("entries")
                .and_then(|k| k.as_array())
                .filter(|k| !k.is_empty())
                .ok_or("nested needs a non-empty `entries` list")?;
            let mut parts = Vec::new();
            for (i, k) in kids.iter().enumerate() {
                parts.push(
                    compile_entry(k, types, Some(&field), base)
                        .map_err(|m| format!("nested entry #{}: {m}", i + 1))?,
                );
            }
            // Elastic's nested entries carry no operator of their own; the children do.
            return Ok(Predicate::And(parts));
        }
        "list" => {
            let list = obj.get("list").and_then(|l| l.as_object());
            let path = list.and_then(|l| l.get("path")).and_then(|p| p.as_str());
            match (path, base) {
                (Some(p), Some(base)) => {
                    let vals = read_value_list(&base.join(p))?;
                    if vals.is_empty() {
                        Predicate::Const(false)
                    } else {
                        Predicate::Terms {
                            field: fr,
                            values: vals.into_iter().map(Literal::Str).collect(),
                            case_insensitive: false,
                        }
                    }
                }
                _ => {
                    let id = list
                        .and_then(|l| l.get("id"))
                        .and_then(|i| i.as_str())
                        .unwrap_or("?");
                    return Err(format!(
                        "list entry refers to Elastic value list {id:?}, which is not available offline; use match_any, or a local file's list.path"
                    ));
                }
            }
        }
        other => {
            return Err(format!(
            "unknown type {other:?} (expected match, match_any, wildcard, exists, list, nested)"
        ))
        }
    };
    Ok(if excluded {
        Predicate::Not(Box::new(pred))
    } else {
        pred
    })
}

fn read_value_list(p: &PathBuf) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("list.path {}: {e}", p.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// The exception items embedded in a rule. Items that only reference an Elastic exception
/// container (`list_id` without `entries`) cannot be resolved offline: they are skipped with
/// a warning (the rule then alerts more, never less).
pub fn rule_exceptions(
    rule: &Rule,
    types: &FieldTypes,
) -> Result<(Vec<Arc<ExceptionItem>>, Vec<String>), CompileError> {
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    for (i, e) in rule.exceptions.iter().enumerate() {
        let name = e
            .get("name")
            .or_else(|| e.get("item_id"))
            .or_else(|| e.get("list_id"))
            .and_then(|n| n.as_str())
            .map(String::from)
            .unwrap_or_else(|| format!("#{}", i + 1));
        match e.get("entries") {
            Some(entries) => {
                let predicate = compile_entries(entries, types, None)
                    .map_err(|m| CompileError::Invalid(format!("exception {name}: {m}")))?;
                items.push(Arc::new(ExceptionItem { name, source: format!("rule {}", rule.rule_id), predicate }));
            }
            None => warnings.push(format!(
                "exception list {name} is a reference to an Elastic exception container; its items are not in the rule file and are not applied (put them in an --exceptions file)"
            )),
        }
    }
    Ok((items, warnings))
}

/// Wraps a compiled rule with its embedded exceptions (used by [`crate::compile_rule`]).
pub fn wrap_rule_exceptions(
    rule: &Arc<Rule>,
    ctx: &CompileContext,
    det: Box<dyn Detector>,
) -> Result<Box<dyn Detector>, CompileError> {
    if rule.exceptions.is_empty() {
        return Ok(det);
    }
    let (items, warnings) = rule_exceptions(rule, &ctx.types)?;
    let mut w = WithExceptions::new(det, items);
    w.warnings = warnings;
    Ok(Box::new(w))
}

/// A detector whose events are first filtered by exception items.
pub struct WithExceptions {
    inner: Box<dyn Detector>,
    items: Vec<Arc<ExceptionItem>>,
    excluded: u64,
    warnings: Vec<String>,
    buf: Vec<AlertDraft>,
}

impl WithExceptions {
    pub fn new(mut inner: Box<dyn Detector>, items: Vec<Arc<ExceptionItem>>) -> WithExceptions {
        inner.events_filtered();
        WithExceptions {
            inner,
            items,
            excluded: 0,
            warnings: Vec::new(),
            buf: Vec::new(),
        }
    }

    fn excepted(&self, doc: &Document) -> bool {
        self.items.iter().any(|i| i.matches(doc))
    }

    /// ES|QL rows without a source event are tested on their own fields.
    fn filter_rows(&mut self, out: &mut Vec<AlertDraft>) {
        let esql = self.inner.rule().rule_type == RuleType::Esql;
        for d in self.buf.drain(..) {
            let drop = esql
                && d.events.is_empty()
                && d.fields
                    .as_ref()
                    .is_some_and(|f| self.items.iter().any(|i| i.matches(&Document(f.clone()))));
            if drop {
                self.excluded += 1;
            } else {
                out.push(d);
            }
        }
    }
}

impl Detector for WithExceptions {
    fn rule(&self) -> &Arc<Rule> {
        self.inner.rule()
    }

    fn reads_alerts(&self) -> bool {
        self.inner.reads_alerts()
    }

    fn may_select(&self, ev: &SharedEvent) -> bool {
        self.inner.may_select(ev)
    }

    fn fields(&self) -> Option<Vec<String>> {
        let mut f = self.inner.fields()?;
        for i in &self.items {
            f.extend(i.predicate.fields().iter().map(|s| s.to_string()));
        }
        f.sort();
        f.dedup();
        Some(f)
    }

    fn required(&self, field: &str) -> Option<Vec<String>> {
        self.inner.required(field)
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        if self.excepted(&ev.doc) {
            self.excluded += 1;
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        self.inner.on_event(ev, &mut buf);
        self.buf = buf;
        self.filter_rows(out);
    }

    fn input_started(&mut self, t: i64) {
        self.inner.input_started(t);
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        let mut buf = std::mem::take(&mut self.buf);
        self.inner.finish(&mut buf);
        self.buf = buf;
        self.filter_rows(out);
    }

    fn stats(&self) -> DetectorStats {
        let mut s = self.inner.stats();
        s.push(("events excluded by exceptions".into(), self.excluded));
        s
    }

    fn is_stateful(&self) -> bool {
        self.inner.is_stateful()
    }

    fn save_state(&self) -> Option<Value> {
        self.inner.save_state()
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        self.inner.load_state(state)
    }

    fn events_filtered(&mut self) {
        self.inner.events_filtered();
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = self.inner.warnings();
        w.extend(self.warnings.iter().cloned());
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        Document(v.as_object().cloned().unwrap_or_default())
    }

    fn types() -> &'static FieldTypes {
        FieldTypes::builtin()
    }

    #[test]
    fn entry_types_and_operators() {
        let p = compile_entries(
            &json!([
                {"field": "user.name", "operator": "included", "type": "match", "value": "ci"},
                {"field": "source.ip", "operator": "excluded", "type": "match_any", "value": ["10.0.0.1", "10.0.0.2"]},
                {"field": "user_agent.original", "type": "wildcard", "value": "*terraform*"},
                {"field": "event.outcome", "type": "exists"}
            ]),
            types(),
            None,
        )
        .unwrap();
        let base = json!({"user": {"name": "ci"}, "source": {"ip": "1.2.3.4"}, "user_agent": {"original": "aws-sdk terraform/1.5"}, "event": {"outcome": "success"}});
        assert!(p.matches(&doc(base.clone())));
        let mut other_user = base.clone();
        other_user["user"]["name"] = json!("alice");
        assert!(!p.matches(&doc(other_user)));
        let mut listed_ip = base.clone();
        listed_ip["source"]["ip"] = json!("10.0.0.2");
        assert!(
            !p.matches(&doc(listed_ip)),
            "excluded operator negates match_any"
        );
        let mut no_outcome = base.clone();
        no_outcome["event"] = json!({});
        assert!(!p.matches(&doc(no_outcome)));
        // "is not" on a missing field matches, as a must_not clause does.
        let q = compile_entries(
            &json!([{"field": "x.y", "operator": "excluded", "type": "match", "value": "a"}]),
            types(),
            None,
        )
        .unwrap();
        assert!(q.matches(&doc(json!({}))));
    }

    #[test]
    fn nested_and_errors() {
        let p = compile_entries(
            &json!([{"field": "aws.cloudtrail.user_identity", "type": "nested", "entries": [{"field": "type", "operator": "included", "type": "match", "value": "Root"}]}]),
            types(),
            None,
        )
        .unwrap();
        assert!(p.matches(&doc(
            json!({"aws": {"cloudtrail": {"user_identity": {"type": "Root"}}}})
        )));
        for (bad, want) in [
            (json!([]), "empty"),
            (
                json!([{"field": "a", "type": "matches", "value": "x"}]),
                "unknown type",
            ),
            (json!([{"field": "a", "type": "match"}]), "needs a string"),
            (json!([{"type": "exists"}]), "missing field"),
            (
                json!([{"field": "a", "type": "exists", "operator": "is"}]),
                "operator",
            ),
            (
                json!([{"field": "a", "type": "list", "list": {"id": "ips", "type": "ip"}}]),
                "not available offline",
            ),
            (
                json!([{"field": "a", "type": "exists", "valu": 1}]),
                "unknown key",
            ),
        ] {
            let e = compile_entries(&bad, types(), None).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn file_errors_name_file_and_item() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exc.toml");
        std::fs::write(&p, "[[exceptions]]\nrule_id='r'\nname='ok'\nquery='user.name: a'\n\n[[exceptions]]\nrule_id='r'\nname='broken'\n[[exceptions.entries]]\nfield='user.name'\ntype='bogus'\nvalue='x'\n").unwrap();
        let e = load_exceptions_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("exc.toml")
                && e.contains("#2")
                && e.contains("broken")
                && e.contains("entry #1")
                && e.contains("bogus"),
            "{e}"
        );
        std::fs::write(&p, "[[exceptions]]\nname='no rule'\nquery='a: b'\n").unwrap();
        let e = load_exceptions_file(&p).unwrap_err().to_string();
        assert!(e.contains("missing rule_id"), "{e}");
        std::fs::write(&p, "[[exceptions]\n").unwrap();
        assert!(matches!(
            load_exceptions_file(&p),
            Err(ExceptionError::Syntax { .. })
        ));
        let y = dir.path().join("exc.yaml");
        std::fs::write(&y, "exceptions:\n  - rule_id: r\n    entries:\n      - {field: user.name, type: match, value: a, oops: 1}\n").unwrap();
        let e = load_exceptions_file(&y).unwrap_err().to_string();
        assert!(
            e.contains("exc.yaml") && e.contains("#1") && e.contains("oops"),
            "{e}"
        );
    }

    #[test]
    fn list_path_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ips.txt"),
            "# scanners\n192.0.2.1\n\n192.0.2.2\n",
        )
        .unwrap();
        let p = dir.path().join("e.yml");
        std::fs::write(&p, "exceptions:\n  - rule_id: ['a', 'b']\n    entries:\n      - field: source.ip\n        type: list\n        list: {path: ips.txt}\n").unwrap();
        let set = load_exceptions_file(&p).unwrap();
        assert_eq!(set.len(), 2);
        let items = set.for_rule("b");
        assert_eq!(items.len(), 1);
        assert!(items[0].matches(&doc(json!({"source": {"ip": "192.0.2.2"}}))));
        assert!(!items[0].matches(&doc(json!({"source": {"ip": "192.0.2.3"}}))));
        assert!(set.for_rule("c").is_empty());
    }
}
