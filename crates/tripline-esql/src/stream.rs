//! Streaming evaluation for scheduled rules: the query's leading row-local commands run once
//! per event, when it arrives, and only the rest of the query runs per scheduled run.
//!
//! A rule runs its query over overlapping windows, so an event is seen by many runs (a 24-hour
//! look-back run hourly: 24 times). Re-reading every buffered document's fields and re-running
//! the leading `WHERE`/`EVAL`/`GROK`… on each run is wasted work: those commands are per-row
//! and do not depend on the run, except through `NOW()`. [`Plan`] splits the query into
//! - a *prefix* run per event ([`crate::Query::event_rows`]): the leading
//!   `WHERE`/`EVAL`/`GROK`/`DISSECT`/`KEEP`/`DROP`/`MV_EXPAND` commands, with the `NOW()`
//!   conjuncts of its `WHERE`s taken out;
//! - *deferred* conditions: those `NOW()` conjuncts, applied per run to the buffered rows;
//! - the *rest*, run per run over the window's rows ([`crate::Query::execute_rows`]).
//!
//! Exactness: a row's values are computed from its own event only, so they are the same
//! whether computed alone or within a window. What can differ is which columns a frame has:
//! a window loads only the fields some of its events have, the per-event prefix loads every
//! field the query reads (absent ones as null columns). Reading a missing column and a null
//! one give the same null everywhere except `RENAME` (renaming a missing column is a no-op),
//! so queries with a `RENAME` before their first `STATS` are not streamed; nor are queries
//! whose columns are open (wildcard `KEEP`, no fixed field list), or that call `KQL()` after
//! the prefix (it reads the document). Null columns are invisible in results (rows render
//! without nulls). The per-run frame keeps only the columns the rest reads up to its first
//! `STATS` (all of them when it has none), so buffered rows stay small.

use std::collections::{HashMap, HashSet};

use tripline_doc::{Event, FieldTypes};

use crate::ast::{BinOp, Command, Expr, Metadata};
use crate::exec::{self, field_type, Frame, Row};
use crate::index::{EventIndex, CONSTANT_FIELDS};
use crate::value::{DataType, Value};

/// One buffered row: the values of [`Plan::live`] columns.
pub type StreamRow = Box<[Value]>;

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub prefix: Vec<Command>,
    pub deferred: Vec<Expr>,
    pub rest: Vec<Command>,
    /// The query's prefilter reaches past the prefix: consult it too.
    pub check_prefilter: bool,
    /// The frame every event is loaded into (all fields read, then metadata).
    pub load_names: Vec<String>,
    pub load_types: Vec<Option<DataType>>,
    pub wants_index: bool,
    /// Columns after the prefix, and which of them rows keep.
    pub names: Vec<String>,
    pub live: Vec<usize>,
    pub live_names: Vec<String>,
    pub live_types: Vec<Option<DataType>>,
    pub live_index: HashMap<String, usize>,
}

/// Top-level `AND` conjuncts.
pub(crate) fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(l, r) => {
            conjuncts(l, out);
            conjuncts(r, out);
        }
        other => out.push(other.clone()),
    }
}

fn and_all(mut parts: Vec<Expr>) -> Option<Expr> {
    let first = if parts.is_empty() {
        return None;
    } else {
        parts.remove(0)
    };
    Some(
        parts
            .into_iter()
            .fold(first, |acc, x| Expr::And(Box::new(acc), Box::new(x))),
    )
}

/// Columns a command (re)defines or removes, as far as later conditions are concerned.
fn writes(c: &Command) -> Option<Vec<String>> {
    Some(match c {
        Command::Where(_) => Vec::new(),
        Command::Eval(a) => a.iter().map(|(n, _)| n.clone()).collect(),
        Command::Grok { grok, .. } => grok.columns.iter().map(|c| c.name.clone()).collect(),
        Command::Dissect { pattern, .. } => pattern.columns.clone(),
        Command::MvExpand(n, _) => vec![n.clone()],
        _ => return None,
    })
}

/// Column names a command reads.
fn reads(c: &Command, out: &mut HashSet<String>) -> bool {
    let mut add = |e: &Expr| out.extend(e.columns());
    match c {
        Command::Where(e) | Command::Dissect { input: e, .. } | Command::Grok { input: e, .. } => {
            add(e)
        }
        Command::Eval(a) => a.iter().for_each(|(_, e)| add(e)),
        Command::Stats { aggs, outputs, by } => {
            for a in aggs {
                a.args.iter().for_each(&mut add);
                if let Some(f) = &a.filter {
                    add(f);
                }
            }
            outputs.iter().chain(by).for_each(|(_, e)| add(e));
        }
        Command::Sort(keys) => keys.iter().for_each(|k| add(&k.expr)),
        Command::Keep(ps) | Command::Drop(ps) => {
            if ps.iter().any(|p| p.is_wildcard()) {
                return false;
            }
            out.extend(ps.iter().map(|p| p.text.clone()));
        }
        Command::Rename(pairs) => out.extend(pairs.iter().map(|(o, _)| o.text.clone())),
        Command::MvExpand(n, _) => {
            out.insert(n.clone());
        }
        Command::Enrich(e) => {
            out.insert(e.on.clone());
        }
        Command::Limit(_) => {}
    }
    true
}

fn uses_kql(c: &Command) -> bool {
    let mut found = false;
    let mut probe = |e: &Expr| found |= e.uses_kql();
    match c {
        Command::Where(e) | Command::Dissect { input: e, .. } | Command::Grok { input: e, .. } => {
            probe(e)
        }
        Command::Eval(a) => a.iter().for_each(|(_, e)| probe(e)),
        Command::Stats { aggs, outputs, by } => {
            for a in aggs {
                a.args.iter().for_each(&mut probe);
                a.filter.iter().for_each(&mut probe);
            }
            outputs.iter().chain(by).for_each(|(_, e)| probe(e));
        }
        Command::Sort(keys) => keys.iter().for_each(|k| probe(&k.expr)),
        _ => {}
    }
    found
}

impl Plan {
    /// The plan for a query, `None` when it cannot be streamed exactly (see the module docs).
    pub fn build(
        commands: &[Command],
        metadata: &[Metadata],
        needed: Option<&HashSet<String>>,
        row_local_len: usize,
        types: &FieldTypes,
    ) -> Option<Plan> {
        let needed = needed?;
        let first_stats = commands
            .iter()
            .position(|c| matches!(c, Command::Stats { .. }))
            .unwrap_or(commands.len());
        if commands[..first_stats]
            .iter()
            .any(|c| matches!(c, Command::Rename(_)))
        {
            return None;
        }
        let mut prefix = Vec::new();
        let mut deferred: Vec<Expr> = Vec::new();
        let mut deferred_cols: HashSet<String> = HashSet::new();
        let mut cut = 0;
        for c in commands.iter().take(row_local_len) {
            let ok = match c {
                Command::Where(e) => {
                    let mut parts = Vec::new();
                    conjuncts(e, &mut parts);
                    let (now, free): (Vec<Expr>, Vec<Expr>) =
                        parts.into_iter().partition(|p| p.uses_now());
                    for d in &now {
                        deferred_cols.extend(d.columns());
                    }
                    deferred.extend(now);
                    if let Some(w) = and_all(free) {
                        prefix.push(Command::Where(w));
                    }
                    cut += 1;
                    continue;
                }
                Command::Eval(a) => !a.iter().any(|(_, e)| e.uses_now()),
                Command::Keep(ps) | Command::Drop(ps) => {
                    // Deferred conditions must still find their columns after the prefix.
                    deferred.is_empty() && !ps.iter().any(|p| p.is_wildcard())
                }
                Command::Grok { .. } | Command::Dissect { .. } | Command::MvExpand(..) => true,
                _ => false,
            };
            let clobbers = writes(c)
                .map(|w| w.iter().any(|n| deferred_cols.contains(n)))
                .unwrap_or(true);
            if !ok || clobbers || c.uses_now_anywhere() {
                break;
            }
            prefix.push(c.clone());
            cut += 1;
        }
        let rest: Vec<Command> = commands[cut..].to_vec();
        if rest.iter().any(uses_kql) || deferred.iter().any(|d| d.uses_kql()) {
            return None;
        }
        // The prefilter covers the row-local prefix up to its last WHERE.
        let last_where = commands[..row_local_len]
            .iter()
            .rposition(|c| matches!(c, Command::Where(_)));
        let check_prefilter = last_where.is_some_and(|w| w >= cut);

        let mut load_names: Vec<String> = needed.iter().cloned().collect();
        load_names.sort();
        let mut load_types: Vec<Option<DataType>> =
            load_names.iter().map(|n| field_type(n, types)).collect();
        let wants_index = metadata.iter().any(|m| matches!(m, Metadata::Index))
            || load_names
                .iter()
                .any(|n| CONSTANT_FIELDS.contains(&n.as_str()));
        for m in metadata {
            load_names.push(m.name().to_string());
            load_types.push(Some(exec::metadata_type(*m)));
        }
        // The layout after the prefix: run it on an empty frame.
        let mut f = Frame::with_columns(load_names.clone(), load_types.clone());
        let run = exec::Exec {
            events: &[],
            now: 0,
            src_text: "",
            enrich: None,
        };
        for c in &prefix {
            run.run(&mut f, c).ok()?;
        }
        // Columns the rest can read before its rows become groups.
        let stats_at = rest.iter().position(|c| matches!(c, Command::Stats { .. }));
        let mut refs: HashSet<String> = deferred.iter().flat_map(|d| d.columns()).collect();
        let live: Vec<usize> = match stats_at {
            Some(s) if rest[..=s].iter().all(|c| reads(c, &mut refs)) => (0..f.names.len())
                .filter(|&i| refs.contains(&f.names[i]))
                .collect(),
            _ => (0..f.names.len()).collect(),
        };
        let live_names: Vec<String> = live.iter().map(|&i| f.names[i].clone()).collect();
        let live_types = live.iter().map(|&i| f.types[i]).collect();
        let live_index = live_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Some(Plan {
            prefix,
            deferred,
            rest,
            check_prefilter,
            load_names,
            load_types,
            wants_index,
            names: f.names,
            live,
            live_names,
            live_types,
            live_index,
        })
    }

    /// Runs the prefix on one event (already known to be selected by the FROM).
    pub fn event_rows(&self, ev: &Event, metadata: &[Metadata], src_text: &str) -> Vec<StreamRow> {
        let index = self.wants_index.then(|| EventIndex::of(&ev.doc));
        let n_fields = self.load_names.len() - metadata.len();
        let mut vals = Vec::with_capacity(self.load_names.len());
        for (n, ty) in self.load_names[..n_fields].iter().zip(&self.load_types) {
            vals.push(exec::load_value(ev, n, *ty, index.as_ref()));
        }
        for m in metadata {
            vals.push(exec::metadata_value(ev, *m, index.as_ref()));
        }
        let mut f = Frame::with_columns(self.load_names.clone(), self.load_types.clone());
        f.rows.push(Row { vals, src: Some(0) });
        let events = [ev];
        let run = exec::Exec {
            events: &events,
            now: ev.timestamp,
            src_text,
            enrich: None,
        };
        for c in &self.prefix {
            if run.run(&mut f, c).is_err() {
                return Vec::new();
            }
            if f.rows.is_empty() {
                return Vec::new();
            }
        }
        debug_assert_eq!(f.names, self.names);
        f.rows
            .into_iter()
            .map(|mut r| {
                self.live
                    .iter()
                    .map(|&i| std::mem::take(&mut r.vals[i]))
                    .collect()
            })
            .collect()
    }
}

impl Command {
    /// Whether any expression of the command calls `NOW()`.
    pub(crate) fn uses_now_anywhere(&self) -> bool {
        match self {
            Command::Where(e)
            | Command::Dissect { input: e, .. }
            | Command::Grok { input: e, .. } => e.uses_now(),
            Command::Eval(a) => a.iter().any(|(_, e)| e.uses_now()),
            Command::Stats { aggs, outputs, by } => {
                aggs.iter().any(|a| {
                    a.args.iter().any(Expr::uses_now)
                        || a.filter.as_ref().is_some_and(Expr::uses_now)
                }) || outputs.iter().chain(by).any(|(_, e)| e.uses_now())
            }
            Command::Sort(keys) => keys.iter().any(|k| k.expr.uses_now()),
            _ => false,
        }
    }
}

/// A leading `WHERE` conjunct checked straight on the document: when it is not true the
/// event cannot produce a row, whatever else the query does. Reading a handful of fields
/// this way rejects most events without loading the query's whole frame.
#[derive(Debug, Clone)]
pub(crate) struct Quick {
    pub expr: Expr,
    pub cols: Vec<(String, Option<DataType>)>,
    pub index: HashMap<String, usize>,
    /// A string comparison on one string column, checked without building values.
    pub shape: Option<Shape>,
}

/// Conjunct shapes decided straight from the document's JSON strings.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// `col == "a"` / `col IN ("a", …)`, or their negations (`!=`, `NOT IN`).
    OneOf { lits: Vec<String>, negated: bool },
    /// `col IS [NOT] NULL`.
    Null { negated: bool },
}

fn str_lit(e: &Expr) -> Option<String> {
    match e {
        Expr::Lit(Value::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn shape_of(e: &Expr, col: &str) -> Option<Shape> {
    let is_col = |x: &Expr| matches!(x, Expr::Col { name, .. } if name == col);
    match e {
        Expr::Bin { op, l, r } if matches!(op, BinOp::Eq | BinOp::Neq) => {
            let lit = if is_col(l) {
                str_lit(r)?
            } else if is_col(r) {
                str_lit(l)?
            } else {
                return None;
            };
            Some(Shape::OneOf {
                lits: vec![lit],
                negated: *op == BinOp::Neq,
            })
        }
        Expr::In {
            expr,
            list,
            negated,
        } if is_col(expr) => Some(Shape::OneOf {
            lits: list.iter().map(str_lit).collect::<Option<Vec<_>>>()?,
            negated: *negated,
        }),
        Expr::IsNull { expr, negated } if is_col(expr) => Some(Shape::Null { negated: *negated }),
        _ => None,
    }
}

/// The quick conjuncts of a row-local prefix (see [`Quick`]).
pub(crate) fn quick_checks(
    prefix: &[Command],
    metadata: &[Metadata],
    types: &FieldTypes,
) -> Vec<Quick> {
    let meta: HashSet<&str> = metadata.iter().map(|m| m.name()).collect();
    let mut written: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for c in prefix {
        match c {
            Command::Where(e) => {
                let mut parts = Vec::new();
                conjuncts(e, &mut parts);
                for p in parts {
                    let cols: Vec<String> = {
                        let mut v = p.columns();
                        v.sort();
                        v.dedup();
                        v
                    };
                    if p.uses_now()
                        || cols
                            .iter()
                            .any(|c| written.contains(c) || meta.contains(c.as_str()))
                    {
                        continue;
                    }
                    let index = cols
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.clone(), i))
                        .collect();
                    // String columns only: their values are the JSON strings as they are.
                    let shape = match cols.as_slice() {
                        [c] if matches!(
                            field_type(c, types),
                            None | Some(DataType::Keyword) | Some(DataType::Text)
                        ) =>
                        {
                            shape_of(&p, c)
                        }
                        _ => None,
                    };
                    out.push(Quick {
                        shape,
                        expr: p,
                        cols: cols
                            .into_iter()
                            .map(|n| {
                                let t = field_type(&n, types);
                                (n, t)
                            })
                            .collect(),
                        index,
                    });
                }
            }
            other => match writes(other) {
                Some(w) if !matches!(other, Command::MvExpand(..)) => written.extend(w),
                _ => break,
            },
        }
    }
    // Cheap and selective checks first (all must hold, so the order is free).
    out.sort_by_key(|q| match (&q.shape, q.cols.first().map(|c| c.0.as_str())) {
        (Some(Shape::OneOf { negated: false, .. }), Some("event.provider" | "event.action")) => 0,
        (Some(Shape::OneOf { .. }), _) => 1,
        (Some(Shape::Null { .. }), _) => 2,
        _ => 3,
    });
    out
}

impl Quick {
    /// False when the conjunct is not true for the event.
    pub fn passes(&self, ev: &Event) -> bool {
        if let (Some(shape), Some((col, _))) = (&self.shape, self.cols.first()) {
            if let Some(b) = self.passes_shape(shape, col, ev) {
                return b;
            }
        }
        self.passes_eval(ev)
    }

    /// The shape's answer, `None` when the values are not plain strings (then [`eval`] decides).
    fn passes_shape(&self, shape: &Shape, col: &str, ev: &Event) -> Option<bool> {
        let vals = ev.doc.values(col);
        let constant;
        // What the column holds: no value, one string, or several values (a multi-value,
        // which single-valued comparisons read as null).
        let one: Option<&str> = match vals.as_slice() {
            [] => {
                constant = if CONSTANT_FIELDS.contains(&col) {
                    EventIndex::of(&ev.doc).constant(col).map(str::to_string)
                } else {
                    None
                };
                constant.as_deref()
            }
            [serde_json::Value::String(s)] => Some(s.as_str()),
            [_] => return None,
            _ => {
                // Several values: non-null; comparisons give null.
                return Some(match shape {
                    Shape::Null { negated } => *negated,
                    Shape::OneOf { .. } => false,
                });
            }
        };
        Some(match (shape, one) {
            (Shape::Null { negated }, v) => v.is_some() == *negated,
            (Shape::OneOf { .. }, None) => false,
            (Shape::OneOf { lits, negated }, Some(v)) => {
                lits.iter().any(|l| l.as_str() == v) != *negated
            }
        })
    }

    fn passes_eval(&self, ev: &Event) -> bool {
        let mut ix: Option<EventIndex> = None;
        let row: Vec<Value> = self
            .cols
            .iter()
            .map(|(n, ty)| {
                let v = exec::load_value(ev, n, *ty, None);
                if v.is_null() && CONSTANT_FIELDS.contains(&n.as_str()) {
                    let ix = ix.get_or_insert_with(|| EventIndex::of(&ev.doc));
                    return ix
                        .constant(n)
                        .map(|c| Value::Str(c.to_string()))
                        .unwrap_or(Value::Null);
                }
                v
            })
            .collect();
        let env = exec::Env {
            index: &self.index,
            row: &row,
            aggs: &[],
            event: Some(ev),
            now: ev.timestamp,
        };
        matches!(exec::eval(&self.expr, &env), Value::Bool(true))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use tripline_doc::{Document, Event, Origin, SharedEvent};

    use crate::{ExecContext, Query};

    fn ev(seq: u64, t: i64, doc: serde_json::Value) -> SharedEvent {
        let mut d = Document(doc.as_object().cloned().unwrap_or_default());
        d.set("@timestamp", json!(tripline_doc::time::format_millis(t)));
        Arc::new(Event {
            doc: d,
            timestamp: t,
            origin: Origin {
                file: "f".into(),
                record: seq + 1,
                line: None,
            },
            seq,
        })
    }

    fn events() -> Vec<SharedEvent> {
        let base = 1_714_557_600_000; // 2024-05-01T10:00:00Z
        let users = ["alice", "bob", "carol"];
        let actions = ["GetObject", "PutObject", "ListBuckets", "CreateUser"];
        (0..60u64)
            .map(|i| {
                let mut d = json!({
                    "event": {"action": actions[(i % 4) as usize], "provider": "s3.amazonaws.com",
                              "outcome": if i % 5 == 0 { "failure" } else { "success" }, "id": format!("id{i}")},
                    "aws": {"cloudtrail": {"request_parameters": format!("{{bucketName=b{}, key=k{i}}}", i % 3)}},
                });
                // Some fields only on some events: windows then lack whole columns.
                if i % 3 != 0 {
                    d["user"] = json!({"name": users[(i % 3) as usize]});
                }
                if i % 7 == 0 {
                    d["related"] = json!({"user": ["x", "y"]});
                }
                if i == 4 {
                    d["data_stream"] = json!({"dataset": "other.logs"});
                }
                ev(i, base + i as i64 * 20_000, d)
            })
            .collect()
    }

    /// The streamed split gives the same table as executing the whole query on the events.
    #[test]
    fn streamed_rows_match_whole_query() {
        let queries = [
            "FROM logs-aws.cloudtrail-* METADATA _id | WHERE event.outcome == \"success\" AND @timestamp >= NOW() - 10 minutes | KEEP _id, user.name, event.action",
            "FROM logs-aws.cloudtrail-* | WHERE event.action IN (\"GetObject\", \"PutObject\") | GROK aws.cloudtrail.request_parameters \"bucketName=%{NOTSPACE:bucket},\" | STATS c = COUNT(*), u = VALUES(user.name), a = COUNT_DISTINCT(event.action) BY bucket | SORT bucket",
            "FROM logs-* METADATA _id, _index | EVAL x = CONCAT(event.action, \"!\") | WHERE user.name IS NOT NULL | MV_EXPAND related.user | STATS n = COUNT(*), ids = VALUES(_id) BY related.user, _index",
            "FROM logs-aws.cloudtrail-* | WHERE data_stream.dataset == \"aws.cloudtrail\" | EVAL recent = @timestamp >= NOW() - 5 minutes | STATS r = SUM(CASE(recent, 1, 0)), m = MAX(@timestamp) BY user.name | WHERE m >= NOW() - 2 minutes",
            "FROM logs-aws.cloudtrail-* | KEEP event.action, user.name | WHERE user.name == \"bob\" | LIMIT 3",
            "FROM logs-aws.cloudtrail-* | DISSECT aws.cloudtrail.request_parameters \"{bucketName=%{b}, key=%{k}}\" | WHERE b == \"b1\" | STATS ks = VALUES(k) BY user.name",
        ];
        let evs = events();
        for text in queries {
            let q = Query::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(q.is_streamable(), "{text}");
            let rows: Vec<_> = evs
                .iter()
                .map(|e| q.event_rows(e).unwrap_or_default())
                .collect();
            // Several windows, including ones where some columns are absent from every event.
            for (lo, hi) in [(0, 60), (0, 1), (3, 9), (20, 50), (59, 60)] {
                let now = evs[hi - 1].timestamp + 60_000;
                let ctx = ExecContext::at(now);
                let want = q.execute(&evs[lo..hi], &ctx).unwrap();
                let selected: Vec<(usize, &[crate::Value])> = (lo..hi)
                    .flat_map(|i| rows[i].iter().map(move |r| (i - lo, &r[..])))
                    .collect();
                let got = q.execute_rows(selected, &ctx).unwrap();
                assert_eq!(got.to_ndjson(), want.to_ndjson(), "{text} [{lo}, {hi})");
                assert_eq!(got.row_events, want.row_events, "{text} [{lo}, {hi})");
            }
        }
    }

    #[test]
    fn quick_checks_reject_like_the_prefilter() {
        let q = Query::parse(
            "FROM logs-aws.cloudtrail-* | WHERE event.outcome == \"success\" AND user.name IS NOT NULL | EVAL y = 1 | WHERE y == 1 AND event.action LIKE \"Get*\" | KEEP event.action",
        )
        .unwrap();
        // Three leading conjuncts; the one after EVAL reads an unwritten column too.
        assert_eq!(q.quick.len(), 3);
        for e in events() {
            let expect = e.doc.str("event.outcome") == Some("success")
                && e.doc.exists("user.name")
                && e.doc.str("event.action") == Some("GetObject")
                && e.doc.str("data_stream.dataset").is_none();
            assert_eq!(q.prefilter(&e), expect, "{:?}", e.doc);
            assert_eq!(
                q.event_rows(&e).map(|r| !r.is_empty()),
                Some(expect),
                "{:?}",
                e.doc
            );
        }
    }

    #[test]
    fn queries_that_do_not_stream() {
        for text in [
            // Renaming before STATS depends on which columns a window has.
            "FROM logs-* | RENAME user.name AS u | STATS c = COUNT(*) BY u",
            // Open columns.
            "FROM logs-* | WHERE event.action == \"x\"",
            "FROM logs-* | KEEP event.*",
            // KQL after the prefix reads the document.
            "FROM logs-* | EVAL n = NOW() | WHERE KQL(\"event.action: x\") | KEEP event.action",
        ] {
            let q = Query::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(!q.is_streamable(), "{text}");
            assert!(q.event_rows(&events()[0]).is_none());
        }
    }
}
