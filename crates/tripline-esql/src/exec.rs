//! In-memory execution: a frame of typed columns flows through the commands.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{Datelike, TimeZone, Utc};
use tripline_doc::{Event, FieldType, FieldTypes, SharedEvent};

use crate::ast::*;
use crate::functions::{self, aggregate, scalar};
use crate::index::{is_alert_doc, EventIndex, CONSTANT_FIELDS};
use crate::value::{compare, DataType, Key, Value};
use crate::{Column, ErrorKind, EsqlError, ExecContext, Table};

pub(crate) struct Row {
    pub vals: Vec<Value>,
    pub src: Option<u32>,
}

pub(crate) struct Frame {
    pub names: Vec<String>,
    pub types: Vec<Option<DataType>>,
    pub index: HashMap<String, usize>,
    pub rows: Vec<Row>,
}

impl Frame {
    /// An empty frame with these columns.
    pub(crate) fn with_columns(names: Vec<String>, types: Vec<Option<DataType>>) -> Frame {
        let mut f = Frame {
            names,
            types,
            index: HashMap::new(),
            rows: Vec::new(),
        };
        f.reindex();
        f
    }

    fn new() -> Frame {
        Frame {
            names: Vec::new(),
            types: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }

    fn reindex(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
    }

    fn remove_cols(&mut self, drop: &HashSet<usize>) {
        if drop.is_empty() {
            return;
        }
        let keep: Vec<usize> = (0..self.names.len())
            .filter(|i| !drop.contains(i))
            .collect();
        self.select(&keep);
    }

    /// Keeps the given columns in the given order.
    fn select(&mut self, order: &[usize]) {
        self.names = order.iter().map(|&i| self.names[i].clone()).collect();
        self.types = order.iter().map(|&i| self.types[i]).collect();
        for r in &mut self.rows {
            let mut old = std::mem::take(&mut r.vals);
            r.vals = order.iter().map(|&i| std::mem::take(&mut old[i])).collect();
        }
        self.reindex();
    }

    /// Appends a column (replacing, and so moving to the end, one of the same name).
    fn push_col(&mut self, name: &str, ty: Option<DataType>, values: Vec<Value>) {
        if let Some(&i) = self.index.get(name) {
            self.remove_cols(&HashSet::from([i]));
        }
        self.names.push(name.to_string());
        self.types.push(ty);
        for (r, v) in self.rows.iter_mut().zip(values) {
            r.vals.push(v);
        }
        self.reindex();
    }
}

/// What one expression evaluation can see.
pub(crate) struct Env<'a> {
    pub index: &'a HashMap<String, usize>,
    pub row: &'a [Value],
    pub aggs: &'a [Value],
    pub event: Option<&'a Event>,
    pub now: i64,
}

pub(crate) fn eval(e: &Expr, env: &Env) -> Value {
    match e {
        Expr::Lit(v) => v.clone(),
        Expr::Col { name, .. } => env
            .index
            .get(name)
            .and_then(|&i| env.row.get(i))
            .cloned()
            .unwrap_or(Value::Null),
        Expr::AggRef(i) => env.aggs.get(*i).cloned().unwrap_or(Value::Null),
        Expr::CountStar => Value::Null,
        Expr::Call { name, args, .. } => {
            let vals: Vec<Value> = args.iter().map(|a| eval(a, env)).collect();
            scalar(name, &vals, env.now)
        }
        Expr::Neg(x) => match eval(x, env) {
            Value::Int(i) => i.checked_neg().map(Value::Int).unwrap_or(Value::Null),
            Value::Long(i) => i.checked_neg().map(Value::Long).unwrap_or(Value::Null),
            Value::Double(d) => Value::Double(-d),
            Value::Duration(d) => Value::Duration(-d),
            _ => Value::Null,
        },
        Expr::Bin { op, l, r } => binop(*op, &eval(l, env), &eval(r, env)),
        Expr::And(l, r) => match (eval(l, env), eval(r, env)) {
            (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
            (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
            _ => Value::Null,
        },
        Expr::Or(l, r) => match (eval(l, env), eval(r, env)) {
            (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
            (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
            _ => Value::Null,
        },
        Expr::Not(x) => match eval(x, env) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Null,
        },
        Expr::In {
            expr,
            list,
            negated,
        } => {
            let v = eval(expr, env);
            if v.is_null() || v.is_multi() {
                return Value::Null;
            }
            let mut saw_null = false;
            for item in list {
                let x = eval(item, env);
                if x.is_null() || x.is_multi() {
                    saw_null = true;
                    continue;
                }
                if compare(&v, &x) == Some(std::cmp::Ordering::Equal) {
                    return Value::Bool(!negated);
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(*negated)
            }
        }
        Expr::Like {
            expr,
            matchers,
            negated,
        } => match eval(expr, env) {
            Value::Str(s) => Value::Bool(matchers.iter().any(|m| m.matches(&s)) != *negated),
            _ => Value::Null,
        },
        Expr::IsNull { expr, negated } => Value::Bool(eval(expr, env).is_null() != *negated),
        Expr::Cast { expr, ty } => functions::cast(&eval(expr, env), *ty),
        Expr::Kql { predicate, .. } => match env.event {
            Some(ev) => Value::Bool(predicate.matches(&ev.doc)),
            None => Value::Null,
        },
    }
}

fn add_months(ms: i64, months: i32) -> Option<i64> {
    let d = Utc.timestamp_millis_opt(ms).single()?;
    let shifted = if months >= 0 {
        d.checked_add_months(chrono::Months::new(months as u32))?
    } else {
        d.checked_sub_months(chrono::Months::new(months.unsigned_abs()))?
    };
    let _ = shifted.year();
    Some(shifted.timestamp_millis())
}

fn binop(op: BinOp, l: &Value, r: &Value) -> Value {
    use Value::*;
    if l.is_null() || r.is_null() || l.is_multi() || r.is_multi() {
        return Null;
    }
    let cmp = |f: fn(std::cmp::Ordering) -> bool| compare(l, r).map(|o| Bool(f(o))).unwrap_or(Null);
    match op {
        BinOp::Eq => cmp(|o| o.is_eq()),
        BinOp::CiEq => match (l, r) {
            (Str(a), Str(b)) => Bool(a.to_lowercase() == b.to_lowercase()),
            _ => Null,
        },
        BinOp::Neq => cmp(|o| o.is_ne()),
        BinOp::Lt => cmp(|o| o.is_lt()),
        BinOp::Le => cmp(|o| o.is_le()),
        BinOp::Gt => cmp(|o| o.is_gt()),
        BinOp::Ge => cmp(|o| o.is_ge()),
        _ => arith(op, l, r).unwrap_or(Null),
    }
}

fn arith(op: BinOp, l: &Value, r: &Value) -> Option<Value> {
    use Value::*;
    Some(match (l, r) {
        (Date(d), Duration(x)) => match op {
            BinOp::Add => Date(d.checked_add(*x)?),
            BinOp::Sub => Date(d.checked_sub(*x)?),
            _ => return None,
        },
        (Duration(x), Date(d)) if op == BinOp::Add => Date(d.checked_add(*x)?),
        (Date(d), Period { months, days }) => {
            let sign = match op {
                BinOp::Add => 1,
                BinOp::Sub => -1,
                _ => return None,
            };
            let m = add_months(*d, months * sign)?;
            Date(m.checked_add(sign as i64 * *days as i64 * 86_400_000)?)
        }
        (Period { months, days }, Date(d)) if op == BinOp::Add => {
            Date(add_months(*d, *months)? + *days as i64 * 86_400_000)
        }
        (Duration(a), Duration(b)) => match op {
            BinOp::Add => Duration(a.checked_add(*b)?),
            BinOp::Sub => Duration(a.checked_sub(*b)?),
            _ => return None,
        },
        (Int(a), Int(b)) => int_op(op, *a, *b)
            .and_then(|x| i32::try_from(x).ok())
            .map(|x| Int(x as i64))?,
        (Int(a) | Long(a), Int(b) | Long(b)) => Long(int_op(op, *a, *b)?),
        (Int(_) | Long(_) | Double(_), Int(_) | Long(_) | Double(_)) => {
            let (a, b) = (l.as_f64()?, r.as_f64()?);
            let x = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => {
                    if b == 0.0 {
                        return None;
                    }
                    a / b
                }
                BinOp::Mod => {
                    if b == 0.0 {
                        return None;
                    }
                    a % b
                }
                _ => return None,
            };
            if !x.is_finite() {
                return None;
            }
            Double(x)
        }
        _ => return None,
    })
}

fn int_op(op: BinOp, a: i64, b: i64) -> Option<i64> {
    match op {
        BinOp::Add => a.checked_add(b),
        BinOp::Sub => a.checked_sub(b),
        BinOp::Mul => a.checked_mul(b),
        BinOp::Div => a.checked_div(b),
        BinOp::Mod => a.checked_rem(b),
        _ => None,
    }
}

// ---- loading the source ----

/// Types Tripline knows for fields the type table may lack (dates and ips change semantics).
fn fallback_type(name: &str) -> Option<DataType> {
    Some(match name {
        "@timestamp" | "event.ingested" | "event.created" | "event.start" | "event.end" => {
            DataType::Date
        }
        "aws.cloudtrail.user_identity.session_context.creation_date" => DataType::Date,
        "source.ip" | "destination.ip" | "client.ip" | "server.ip" | "host.ip" | "related.ip" => {
            DataType::Ip
        }
        "source.geo.location" | "destination.geo.location" | "client.geo.location" => {
            DataType::GeoPoint
        }
        "source.as.number" | "destination.as.number" | "source.port" | "destination.port" => {
            DataType::Long
        }
        _ => return None,
    })
}

pub(crate) fn field_type(name: &str, types: &FieldTypes) -> Option<DataType> {
    match types.get(name) {
        Some(t) => Some(DataType::from_field_type(t)),
        None => fallback_type(name),
    }
}

/// Leaf field paths of a document, descending into arrays of objects; flattened fields are
/// skipped (ES|QL cannot read them), geo points are leaves.
fn leaf_paths(
    map: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    types: &FieldTypes,
    out: &mut BTreeSet<String>,
) {
    for (k, v) in map {
        let p = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let ty = types.get(&p);
        if ty == Some(FieldType::Flattened) {
            continue;
        }
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) => {
                if ty == Some(FieldType::GeoPoint) || fallback_type(&p) == Some(DataType::GeoPoint)
                {
                    out.insert(p);
                } else {
                    leaf_paths(m, &p, types, out);
                }
            }
            serde_json::Value::Array(items) => {
                for it in items {
                    match it {
                        serde_json::Value::Object(m) => leaf_paths(m, &p, types, out),
                        serde_json::Value::Null => {}
                        _ => {
                            out.insert(p.clone());
                        }
                    }
                }
            }
            _ => {
                out.insert(p);
            }
        }
    }
}

/// The `_id` of an event: its `event.id` (CloudTrail's eventID), an alert's
/// `kibana.alert.uuid` (alerts keep their source's `event.id`), else a stable id from its origin.
pub fn event_doc_id(ev: &Event) -> String {
    if is_alert_doc(&ev.doc) {
        if let Some(u) = ev.doc.str("kibana.alert.uuid") {
            return u.to_string();
        }
    }
    match ev.event_id() {
        Some(id) => id.to_string(),
        None => format!("{}#{}", ev.origin.file, ev.origin.record),
    }
}

pub(crate) fn load(
    events: &[&Event],
    offsets: &[u32],
    metadata: &[Metadata],
    needed: Option<&HashSet<String>>,
    types: &FieldTypes,
) -> Frame {
    let mut names: BTreeSet<String> = BTreeSet::new();
    match needed {
        Some(set) => {
            for n in set {
                if events.iter().any(|e| e.doc.exists(n)) {
                    names.insert(n.clone());
                }
            }
        }
        None => {
            for e in events {
                leaf_paths(&e.doc.0, "", types, &mut names);
            }
        }
    }
    // Constant fields of the data stream (constant_keyword in the index mapping).
    // Only logs data streams have them (not the alerts index).
    let any_logs = events
        .iter()
        .any(|e| !matches!(EventIndex::of(&e.doc), EventIndex::Alerts));
    for k in CONSTANT_FIELDS {
        if any_logs && needed.is_none_or(|s| s.contains(*k)) {
            names.insert(k.to_string());
        }
    }
    let mut f = Frame::new();
    let names: Vec<String> = names.into_iter().collect();
    let col_types: Vec<Option<DataType>> = names.iter().map(|n| field_type(n, types)).collect();
    let wants_index = metadata.iter().any(|m| matches!(m, Metadata::Index))
        || names.iter().any(|n| CONSTANT_FIELDS.contains(&n.as_str()));
    for (ev, &off) in events.iter().zip(offsets) {
        let index = wants_index.then(|| EventIndex::of(&ev.doc));
        let mut vals = Vec::with_capacity(names.len() + metadata.len());
        for (n, ty) in names.iter().zip(&col_types) {
            vals.push(load_value(ev, n, *ty, index.as_ref()));
        }
        for m in metadata {
            vals.push(metadata_value(ev, *m, index.as_ref()));
        }
        f.rows.push(Row {
            vals,
            src: Some(off),
        });
    }
    f.names = names;
    f.types = col_types;
    for m in metadata {
        f.names.push(m.name().to_string());
        f.types.push(Some(metadata_type(*m)));
    }
    f.reindex();
    f
}

pub(crate) fn metadata_type(m: Metadata) -> DataType {
    match m {
        Metadata::Version => DataType::Long,
        Metadata::Score => DataType::Double,
        _ => DataType::Keyword,
    }
}

/// One field of one event as [`load`] reads it: every value, typed; a data stream's constant
/// field filled in from `index` (given when the frame has constant fields or `_index`).
pub(crate) fn load_value(
    ev: &Event,
    name: &str,
    ty: Option<DataType>,
    index: Option<&EventIndex>,
) -> Value {
    let v = Value::from_vec(
        ev.doc
            .values(name)
            .iter()
            .map(|j| Value::from_json(j, ty))
            .collect(),
    );
    if v.is_null() {
        if let Some(c) = index.and_then(|ix| ix.constant(name)) {
            return Value::Str(c.to_string());
        }
    }
    v
}

/// A `METADATA` column of one event.
pub(crate) fn metadata_value(ev: &Event, m: Metadata, index: Option<&EventIndex>) -> Value {
    match m {
        Metadata::Id => Value::Str(event_doc_id(ev)),
        Metadata::Index => Value::Str(
            index
                .map(|ix| ix.name())
                .unwrap_or_else(|| EventIndex::of(&ev.doc).name()),
        ),
        Metadata::Version => Value::Long(1),
        Metadata::Source => Value::Str(serde_json::to_string(&ev.doc).unwrap_or_default()),
        Metadata::Score => Value::Double(0.0),
    }
}

// ---- commands ----

pub(crate) struct Exec<'a> {
    pub events: &'a [&'a Event],
    pub now: i64,
    pub src_text: &'a str,
    pub enrich: Option<&'a dyn crate::EnrichSource>,
}

impl<'a> Exec<'a> {
    fn event(&self, row: &Row) -> Option<&'a Event> {
        row.src.and_then(|i| self.events.get(i as usize).copied())
    }

    fn eval_rows(&self, f: &Frame, e: &Expr) -> Vec<Value> {
        f.rows
            .iter()
            .map(|r| {
                eval(
                    e,
                    &Env {
                        index: &f.index,
                        row: &r.vals,
                        aggs: &[],
                        event: self.event(r),
                        now: self.now,
                    },
                )
            })
            .collect()
    }

    pub fn run(&self, f: &mut Frame, cmd: &Command) -> Result<(), EsqlError> {
        match cmd {
            Command::Where(e) => {
                let keep = self.eval_rows(f, e);
                let mut it = keep.into_iter();
                f.rows
                    .retain(|_| matches!(it.next(), Some(Value::Bool(true))));
            }
            Command::Eval(assigns) => {
                for (name, e) in assigns {
                    let vals = self.eval_rows(f, e);
                    f.push_col(name, None, vals);
                }
            }
            Command::Stats { aggs, outputs, by } => self.stats(f, aggs, outputs, by),
            Command::Keep(patterns) => keep(f, patterns),
            Command::Drop(patterns) => {
                let drop: HashSet<usize> = (0..f.names.len())
                    .filter(|&i| patterns.iter().any(|p| p.matches(&f.names[i])))
                    .collect();
                f.remove_cols(&drop);
            }
            Command::Rename(pairs) => {
                for (old, new) in pairs {
                    let Some(&i) = f.index.get(&old.text) else {
                        continue;
                    };
                    if old.text == *new {
                        continue;
                    }
                    if let Some(&j) = f.index.get(new) {
                        f.remove_cols(&HashSet::from([j]));
                    }
                    let i = f.index.get(&old.text).copied().unwrap_or(i);
                    f.names[i] = new.clone();
                    f.reindex();
                }
            }
            Command::Sort(keys) => self.sort(f, keys),
            Command::Limit(n) => f.rows.truncate(*n),
            Command::MvExpand(name, _) => {
                if let Some(&i) = f.index.get(name) {
                    let rows = std::mem::take(&mut f.rows);
                    for r in rows {
                        match &r.vals[i] {
                            Value::Multi(items) => {
                                for it in items.clone() {
                                    let mut vals = r.vals.clone();
                                    vals[i] = it;
                                    f.rows.push(Row { vals, src: r.src });
                                }
                            }
                            _ => f.rows.push(r),
                        }
                    }
                }
            }
            Command::Dissect {
                input,
                pattern,
                append_separator,
            } => {
                let inputs = self.eval_rows(f, input);
                let mut cols: Vec<Vec<Value>> =
                    vec![Vec::with_capacity(inputs.len()); pattern.columns.len()];
                for v in &inputs {
                    let parsed = match v {
                        Value::Str(s) => pattern.parse(s, append_separator),
                        _ => None,
                    };
                    let parsed = parsed.unwrap_or_else(|| vec![Value::Null; pattern.columns.len()]);
                    for (c, x) in cols.iter_mut().zip(parsed) {
                        c.push(x);
                    }
                }
                for (name, vals) in pattern.columns.iter().zip(cols) {
                    f.push_col(name, Some(DataType::Keyword), vals);
                }
            }
            Command::Grok { input, grok } => {
                let inputs = self.eval_rows(f, input);
                let n = grok.columns.len();
                let mut cols: Vec<Vec<Value>> = vec![Vec::with_capacity(inputs.len()); n];
                for v in &inputs {
                    let parsed = match v {
                        Value::Str(s) => grok.captures(s),
                        _ => None,
                    };
                    let parsed = parsed.unwrap_or_else(|| vec![Value::Null; n]);
                    for (c, x) in cols.iter_mut().zip(parsed) {
                        c.push(x);
                    }
                }
                for (cap, vals) in grok.columns.iter().zip(cols) {
                    f.push_col(&cap.name, Some(cap.ty), vals);
                }
            }
            Command::Enrich(e) => self.enrich(f, e)?,
        }
        Ok(())
    }

    fn enrich(&self, f: &mut Frame, e: &crate::enrich::Enrich) -> Result<(), EsqlError> {
        let policy = e.policy.name();
        let src = match self.enrich {
            Some(s) if s.has(policy) => s,
            _ => {
                return Err(EsqlError::at(
                    ErrorKind::Unsupported,
                    self.src_text,
                    e.span.start,
                    format!(
                        "ENRICH {policy} has no data: it needs {}",
                        e.policy.database_hint()
                    ),
                ))
            }
        };
        let on = f.index.get(&e.on).copied();
        let mut cols: Vec<Vec<Value>> = vec![Vec::with_capacity(f.rows.len()); e.fields.len()];
        // Rows often repeat addresses; the source may cache too, but this saves the calls.
        let mut cache: HashMap<
            std::net::IpAddr,
            Option<serde_json::Map<String, serde_json::Value>>,
        > = HashMap::new();
        for r in &f.rows {
            let ips = on
                .map(|i| crate::enrich::match_ips(&r.vals[i]))
                .unwrap_or_default();
            let hits: Vec<_> = ips
                .iter()
                .filter_map(|ip| {
                    cache
                        .entry(*ip)
                        .or_insert_with(|| src.lookup(policy, *ip))
                        .clone()
                })
                .collect();
            for (c, (_, field)) in cols.iter_mut().zip(&e.fields) {
                let ty = e.policy.field_type(field).unwrap_or(DataType::Keyword);
                let vals = hits
                    .iter()
                    .map(|m| crate::enrich::field_value(m, field, ty))
                    .collect();
                c.push(crate::enrich::combine(vals));
            }
        }
        for ((name, field), vals) in e.fields.iter().zip(cols) {
            f.push_col(name, e.policy.field_type(field), vals);
        }
        Ok(())
    }

    fn sort(&self, f: &mut Frame, keys: &[SortKey]) {
        let mut keyed: Vec<(Vec<Value>, Row)> = std::mem::take(&mut f.rows)
            .into_iter()
            .map(|r| {
                let k = keys
                    .iter()
                    .map(|k| {
                        let v = eval(
                            &k.expr,
                            &Env {
                                index: &f.index,
                                row: &r.vals,
                                aggs: &[],
                                event: self.event(&r),
                                now: self.now,
                            },
                        );
                        // Multi-values sort by their minimum ascending, maximum descending.
                        match v {
                            Value::Multi(items) => {
                                let pick = if k.desc { "mv_max" } else { "mv_min" };
                                scalar(pick, &[Value::Multi(items)], 0)
                            }
                            other => other,
                        }
                    })
                    .collect();
                (k, r)
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for (k, (x, y)) in keys.iter().zip(a.iter().zip(b)) {
                let o = match (x.is_null(), y.is_null()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => {
                        if k.nulls_first {
                            std::cmp::Ordering::Less
                        } else {
                            std::cmp::Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if k.nulls_first {
                            std::cmp::Ordering::Greater
                        } else {
                            std::cmp::Ordering::Less
                        }
                    }
                    (false, false) => {
                        let o = compare(x, y).unwrap_or(std::cmp::Ordering::Equal);
                        if k.desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        f.rows = keyed.into_iter().map(|(_, r)| r).collect();
    }

    fn stats(
        &self,
        f: &mut Frame,
        aggs: &[AggCall],
        outputs: &[(String, Expr)],
        by: &[(String, Expr)],
    ) {
        // Group rows; a multi-valued key puts the row in one group per value.
        let mut group_index: HashMap<Vec<Key>, usize> = HashMap::new();
        let mut groups: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
        if by.is_empty() {
            groups.push((Vec::new(), (0..f.rows.len()).collect()));
        } else {
            for (ri, r) in f.rows.iter().enumerate() {
                let env = Env {
                    index: &f.index,
                    row: &r.vals,
                    aggs: &[],
                    event: self.event(r),
                    now: self.now,
                };
                let keys: Vec<Value> = by.iter().map(|(_, e)| eval(e, &env)).collect();
                let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
                for k in &keys {
                    let choices: Vec<Value> = if k.is_null() {
                        vec![Value::Null]
                    } else {
                        k.items().to_vec()
                    };
                    let mut next = Vec::with_capacity(combos.len() * choices.len());
                    for c in &combos {
                        for ch in &choices {
                            let mut c2 = c.clone();
                            c2.push(ch.clone());
                            next.push(c2);
                        }
                    }
                    combos = next;
                }
                for combo in combos {
                    let hk: Vec<Key> = combo.iter().map(Key::of).collect();
                    let gi = *group_index.entry(hk).or_insert_with(|| {
                        groups.push((combo.clone(), Vec::new()));
                        groups.len() - 1
                    });
                    groups[gi].1.push(ri);
                }
            }
        }
        let empty_env = Env {
            index: &f.index,
            row: &[],
            aggs: &[],
            event: None,
            now: self.now,
        };
        let by_index: HashMap<String, usize> = by
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        let mut out_rows = Vec::with_capacity(groups.len());
        for (key_vals, members) in &groups {
            let mut agg_vals = Vec::with_capacity(aggs.len());
            for a in aggs {
                let rows: Vec<&Row> = members
                    .iter()
                    .map(|&i| &f.rows[i])
                    .filter(|r| match &a.filter {
                        None => true,
                        Some(c) => matches!(
                            eval(
                                c,
                                &Env {
                                    index: &f.index,
                                    row: &r.vals,
                                    aggs: &[],
                                    event: self.event(r),
                                    now: self.now
                                }
                            ),
                            Value::Bool(true)
                        ),
                    })
                    .collect();
                if a.func == "count" && matches!(a.args.first(), None | Some(Expr::CountStar)) {
                    agg_vals.push(Value::Long(rows.len() as i64));
                    continue;
                }
                let eval_arg = |e: &Expr, r: &Row| {
                    eval(
                        e,
                        &Env {
                            index: &f.index,
                            row: &r.vals,
                            aggs: &[],
                            event: self.event(r),
                            now: self.now,
                        },
                    )
                };
                let vals: Vec<Value> = rows.iter().map(|r| eval_arg(&a.args[0], r)).collect();
                let (sort_keys, params): (Vec<Value>, Vec<Value>) = match a.func.as_str() {
                    "first" | "last" | "weighted_avg" => (
                        rows.iter().map(|r| eval_arg(&a.args[1], r)).collect(),
                        Vec::new(),
                    ),
                    _ => (
                        Vec::new(),
                        a.args[1..].iter().map(|p| eval(p, &empty_env)).collect(),
                    ),
                };
                agg_vals.push(aggregate(&a.func, &vals, &sort_keys, &params));
            }
            let mut row = Vec::with_capacity(outputs.len() + by.len());
            for (_, e) in outputs {
                row.push(eval(
                    e,
                    &Env {
                        index: &by_index,
                        row: key_vals,
                        aggs: &agg_vals,
                        event: None,
                        now: self.now,
                    },
                ));
            }
            row.extend(key_vals.iter().cloned());
            out_rows.push(Row {
                vals: row,
                src: None,
            });
        }
        let mut nf = Frame::new();
        nf.names = outputs
            .iter()
            .map(|(n, _)| n.clone())
            .chain(by.iter().map(|(n, _)| n.clone()))
            .collect();
        nf.types = outputs
            .iter()
            .map(|_| None)
            .chain(by.iter().map(|(_, e)| match e {
                Expr::Col { name, .. } => f.index.get(name).and_then(|&i| f.types[i]),
                _ => None,
            }))
            .collect();
        nf.rows = out_rows;
        // A later column of the same name shadows an earlier one.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, n) in nf.names.iter().enumerate() {
            last.insert(n, i);
        }
        let keep: Vec<usize> = (0..nf.names.len())
            .filter(|i| last.get(nf.names[*i].as_str()) == Some(i))
            .collect();
        if keep.len() != nf.names.len() {
            nf.select(&keep);
        } else {
            nf.reindex();
        }
        *f = nf;
    }
}

/// KEEP: columns in pattern order; when several patterns match a column, an exact name beats
/// a partial wildcard, which beats `*`, and among equals the rightmost wins.
fn keep(f: &mut Frame, patterns: &[NamePattern]) {
    let rank = |p: &NamePattern| {
        if !p.is_wildcard() {
            2
        } else if p.text == "*" {
            0
        } else {
            1
        }
    };
    let mut assigned: Vec<Option<usize>> = vec![None; f.names.len()];
    for (ci, name) in f.names.iter().enumerate() {
        for (pi, p) in patterns.iter().enumerate() {
            if p.matches(name) {
                assigned[ci] = match assigned[ci] {
                    Some(prev) if rank(&patterns[prev]) > rank(p) => Some(prev),
                    _ => Some(pi),
                };
            }
        }
    }
    // Exact names not present become null columns (fields absent from these documents).
    for p in patterns {
        if !p.is_wildcard() && !f.index.contains_key(&p.text) {
            let n = f.rows.len();
            f.push_col(&p.text, None, vec![Value::Null; n]);
            assigned.push(Some(
                patterns.iter().position(|q| q.text == p.text).unwrap_or(0),
            ));
        }
    }
    let mut order = Vec::new();
    for pi in 0..patterns.len() {
        for (ci, a) in assigned.iter().enumerate() {
            if *a == Some(pi) {
                order.push(ci);
            }
        }
    }
    f.select(&order);
}

/// Converts the final frame to the public table.
pub(crate) fn into_table(f: Frame) -> Table {
    let columns = f
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let ty = f.types[i].unwrap_or_else(|| {
                f.rows
                    .iter()
                    .map(|r| r.vals[i].data_type())
                    .find(|t| *t != DataType::Null)
                    .unwrap_or(DataType::Null)
            });
            Column {
                name: n.clone(),
                ty,
            }
        })
        .collect();
    let mut rows = Vec::with_capacity(f.rows.len());
    let mut row_events = Vec::with_capacity(f.rows.len());
    for r in f.rows {
        rows.push(r.vals);
        row_events.push(r.src.map(|s| s as usize));
    }
    Table {
        columns,
        rows,
        row_events,
    }
}

pub(crate) fn unknown_column(src: &str, name: &str, span: Span) -> EsqlError {
    EsqlError::at(
        ErrorKind::Verification,
        src,
        span.start,
        format!("Unknown column [{name}]"),
    )
}

pub(crate) fn new_frame_row(names: Vec<String>, vals: Vec<Value>) -> Frame {
    let mut f = Frame::new();
    f.types = vec![None; names.len()];
    f.names = names;
    f.rows.push(Row { vals, src: None });
    f.reindex();
    f
}

pub(crate) fn run_all(
    exec: &Exec,
    mut f: Frame,
    cmds: &[Command],
    ctx: &ExecContext,
) -> Result<Frame, EsqlError> {
    for c in cmds {
        exec.run(&mut f, c)?;
    }
    if !cmds.iter().any(|c| matches!(c, Command::Limit(_))) {
        if let Some(n) = ctx.default_limit {
            f.rows.truncate(n);
        }
    }
    Ok(f)
}

pub(crate) type Events<'a> = Vec<&'a Event>;

pub(crate) fn deref_events(events: &[SharedEvent]) -> Events<'_> {
    events.iter().map(|e| e.as_ref()).collect()
}
