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

use crate::ast::{Command, Expr, Metadata};
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
        Command::Where(e)
        | Command::Dissect { input: e, .. }
        | Command::Grok { input: e, .. } => add(e),
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
        Command::Where(e)
        | Command::Dissect { input: e, .. }
        | Command::Grok { input: e, .. } => probe(e),
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
        let stats_at = rest
            .iter()
            .position(|c| matches!(c, Command::Stats { .. }));
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
    pub fn event_rows(
        &self,
        ev: &Event,
        metadata: &[Metadata],
        src_text: &str,
    ) -> Vec<StreamRow> {
        let index = self.wants_index.then(|| EventIndex::of(&ev.doc));
        let n_fields = self.load_names.len() - metadata.len();
        let mut vals = Vec::with_capacity(self.load_names.len());
        for (n, ty) in self.load_names[..n_fields]
            .iter()
            .zip(&self.load_types)
        {
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
                    out.push(Quick {
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
    out
}

impl Quick {
    /// False when the conjunct is not true for the event.
    pub fn passes(&self, ev: &Event) -> bool {
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
