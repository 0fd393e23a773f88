//! ES|QL parser and in-memory evaluator, for the `esql` rule type and ad-hoc queries.
//!
//! ```text
//! let q = Query::parse("FROM logs-aws.cloudtrail-* | STATS c = COUNT(*) BY user.name")?;
//! let table = q.execute(&events, &ExecContext::at(now_ms))?;
//! ```
//!
//! Semantics follow Elasticsearch's ES|QL:
//! - `FROM` selects documents by index pattern ([`index`]): each event is in the data stream
//!   `logs-<dataset>-<namespace>` of its `data_stream.dataset` / `event.dataset` (CloudTrail
//!   documents: `logs-aws.cloudtrail-default`), Tripline's own alerts are in
//!   `.alerts-security.alerts-default`; a pattern that can select none of those (e.g.
//!   `metrics-*`) is a compile error ([`ErrorKind::UnknownIndex`]).
//!   Its columns are the documents' fields (typed by the field-type table; `keyword` and `text`
//!   both read the field's string value), plus the requested `METADATA` (`_id` = the event's
//!   `event.id`, an alert's `kibana.alert.uuid`, else `file#record`; `_index`; `_version` = 1;
//!   `_source`). The data stream's constant fields (`data_stream.*`, `event.dataset`,
//!   `event.module`) are filled in when a document lacks them, as their `constant_keyword`
//!   mapping would.
//! - Multi-valued fields stay multi-valued; single-valued functions and operators (comparisons,
//!   LIKE, IN, arithmetic) yield null on them, so `WHERE` drops such rows (ES|QL warns and does
//!   the same). Null propagates; `WHERE` keeps only rows whose condition is `true`.
//! - `COUNT_DISTINCT` is exact (Elasticsearch approximates it with HyperLogLog++ above the
//!   precision threshold, 3000 by default); `VALUES` is sorted for determinism.
//! - Without a `LIMIT`, results are capped at [`ExecContext::default_limit`] (1000, as ES|QL).
//! - `ENRICH` serves the built-in `geoip` and `asn` policies from [`ExecContext::enrich`]
//!   (see [`enrich`]).

pub mod ast;
pub mod enrich;
mod exec;
pub mod functions;
pub mod grok;
pub mod index;
pub mod lexer;
pub mod parser;
pub mod stream;
pub mod value;

use std::collections::HashSet;
use std::sync::Arc;

use tripline_doc::{Event, FieldTypes, SharedEvent};

pub use ast::{Command, Expr, Metadata, Source};
pub use enrich::{EnrichPolicy, EnrichSource};
pub use exec::event_doc_id;
pub use index::{EventIndex, IndexPatterns, ALERTS_INDEX, CLOUDTRAIL_INDEX};
pub use stream::StreamRow;
pub use value::{DataType, Value};

use ast::{NamePattern, Span};

/// What went wrong, for callers that report or count failures by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The text does not parse.
    Syntax,
    /// It parses but is invalid (unknown column, wrong arity, nested aggregates).
    Verification,
    /// Valid ES|QL that needs a capability Tripline lacks (LOOKUP JOIN, a function, an enrich
    /// policy other than the built-in ones, or ENRICH without its database).
    Unsupported,
    /// The FROM pattern selects no data Tripline serves.
    UnknownIndex,
    /// The query inside `KQL("...")` failed to compile.
    Kql,
}

/// An error with its 1-based position in the query text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct EsqlError {
    pub kind: ErrorKind,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl EsqlError {
    pub(crate) fn at(kind: ErrorKind, src: &str, offset: usize, message: String) -> EsqlError {
        let (line, col) = lexer::line_col(src, offset);
        EsqlError {
            kind,
            line,
            col,
            message,
        }
    }

    pub(crate) fn syntax(src: &str, offset: usize, message: String) -> EsqlError {
        EsqlError::at(ErrorKind::Syntax, src, offset, message)
    }
}

/// Options for [`Query::parse_with`].
#[derive(Clone)]
pub struct ParseOptions<'a> {
    /// Field types (for column types and for `KQL()`).
    pub types: &'a FieldTypes,
    /// Accept FROM patterns that can select no index Tripline has (every event given to
    /// [`Query::execute`] is then read as if it matched); for syntax checks.
    pub allow_any_index: bool,
}

impl Default for ParseOptions<'static> {
    fn default() -> Self {
        ParseOptions {
            types: FieldTypes::builtin(),
            allow_any_index: false,
        }
    }
}

/// Execution parameters.
#[derive(Clone)]
pub struct ExecContext {
    /// What `NOW()` returns (epoch ms): the scheduled run's time for rules.
    pub now_ms: i64,
    /// Implicit `LIMIT` when the query has none (ES|QL's default is 1000); `None` = no cap.
    pub default_limit: Option<usize>,
    /// The data behind `ENRICH` ([`enrich`]); `None` = ENRICH fails at execution.
    pub enrich: Option<Arc<dyn EnrichSource>>,
}

impl std::fmt::Debug for ExecContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecContext")
            .field("now_ms", &self.now_ms)
            .field("default_limit", &self.default_limit)
            .field("enrich", &self.enrich.is_some())
            .finish()
    }
}

impl ExecContext {
    pub fn at(now_ms: i64) -> ExecContext {
        ExecContext {
            now_ms,
            default_limit: Some(1000),
            enrich: None,
        }
    }

    /// With `ENRICH` served from `source`.
    pub fn with_enrich(mut self, source: Option<Arc<dyn EnrichSource>>) -> ExecContext {
        self.enrich = source;
        self
    }
}

/// One output column.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: DataType,
}

/// A query result: ordered, typed columns and rows of values.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// For each row, the index (into the `events` given to `execute`) of the event it comes
    /// from, when the row is one event's (no STATS on the way); `None` for aggregated rows.
    pub row_events: Vec<Option<usize>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn get(&self, row: usize, name: &str) -> Option<&Value> {
        self.rows.get(row)?.get(self.column(name)?)
    }

    /// One row as a JSON object (column → value; nulls omitted, multi-values as arrays,
    /// dates as ES renders them): the shape of an NDJSON result line and of alert fields.
    pub fn row_object(&self, row: usize) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let Some(r) = self.rows.get(row) {
            for (c, v) in self.columns.iter().zip(r) {
                if !v.is_null() {
                    m.insert(c.name.clone(), v.to_json());
                }
            }
        }
        m
    }

    /// NDJSON: one object per row.
    pub fn to_ndjson(&self) -> String {
        let mut out = String::new();
        for i in 0..self.rows.len() {
            out.push_str(&serde_json::Value::Object(self.row_object(i)).to_string());
            out.push('\n');
        }
        out
    }

    /// Elasticsearch's `_query` response body: `{"columns": [{name, type}], "values": [[...]]}`.
    pub fn to_es_response(&self) -> serde_json::Value {
        serde_json::json!({
            "columns": self.columns,
            "values": self.rows.iter().map(|r| r.iter().map(|v| v.to_json()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        })
    }
}

/// A parsed, verified query.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    source: Source,
    commands: Vec<Command>,
    /// Source fields the query can read; `None` = every field (wildcard KEEP, open output).
    needed: Option<HashSet<String>>,
    types: Arc<FieldTypes>,
    /// Which events the FROM reads; `None` = all given (ROW, or an unservable pattern
    /// accepted with `allow_any_index`).
    indices: Option<IndexPatterns>,
    /// The row-local prefix without its NOW()-dependent conditions (see [`Query::prefilter`]),
    /// `None` when it filters nothing.
    prefilter_cmds: Option<Vec<Command>>,
    /// Source fields the prefilter reads (`None` = all).
    prefilter_fields: Option<HashSet<String>>,
    /// Leading conditions checked straight on the document (see [`stream::Quick`]).
    quick: Vec<stream::Quick>,
    /// How the query streams (see [`stream`]); `None` = it needs whole events per run.
    plan: Option<Arc<stream::Plan>>,
}

impl Query {
    /// Parses and verifies a query against Tripline's built-in field types.
    pub fn parse(text: &str) -> Result<Query, EsqlError> {
        Query::parse_with(text, &ParseOptions::default())
    }

    pub fn parse_with(text: &str, opts: &ParseOptions) -> Result<Query, EsqlError> {
        let (source, commands) = parser::parse(text, opts.types)?;
        let mut indices = None;
        if let Source::From { patterns, span, .. } = &source {
            let p = IndexPatterns::new(patterns);
            if p.can_select_served() {
                indices = Some(p);
            } else if !opts.allow_any_index {
                return Err(EsqlError::at(
                    ErrorKind::UnknownIndex,
                    text,
                    span.start,
                    format!(
                        "index pattern [{}] selects no data Tripline has: events are queryable as the data \
                         streams logs-<dataset>-<namespace> of their data_stream.dataset (CloudTrail: {}) and \
                         Tripline's alerts as {}",
                        patterns.join(","),
                        CLOUDTRAIL_INDEX,
                        ALERTS_INDEX,
                    ),
                ));
            }
        }
        let needed = verify(text, &source, &commands)?;
        let mut q = Query {
            text: text.to_string(),
            source,
            commands,
            needed,
            types: Arc::new(opts.types.clone()),
            indices,
            prefilter_cmds: None,
            prefilter_fields: None,
            quick: Vec::new(),
            plan: None,
        };
        q.prefilter_cmds = q.build_prefilter();
        q.prefilter_fields = q.prefilter_cmds.as_ref().and_then(|c| prefix_fields(c));
        if matches!(q.source, Source::From { .. }) {
            let row_local = q.row_local_prefix().len();
            q.quick = stream::quick_checks(&q.commands[..row_local], q.metadata(), opts.types);
            q.plan = stream::Plan::build(
                &q.commands,
                q.metadata(),
                q.needed.as_ref(),
                row_local,
                opts.types,
            )
            .map(Arc::new);
        }
        Ok(q)
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// True when a STATS runs (rows are groups, not events).
    pub fn is_aggregating(&self) -> bool {
        self.commands
            .iter()
            .any(|c| matches!(c, Command::Stats { .. }))
    }

    /// The BY column names of the last STATS (the identity of an aggregated row).
    pub fn group_columns(&self) -> Vec<String> {
        self.commands
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::Stats { by, .. } => Some(by.iter().map(|(n, _)| n.clone()).collect()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Output columns that hold source `_id`s: `_id` itself and STATS outputs that are
    /// exactly `VALUES(_id)` (or FIRST/LAST/TOP of `_id`); they name an aggregated row's events.
    pub fn id_columns(&self) -> Vec<String> {
        let mut out = vec!["_id".to_string()];
        for c in &self.commands {
            if let Command::Stats { aggs, outputs, .. } = c {
                for (name, e) in outputs {
                    if let Expr::AggRef(i) = e {
                        let a = &aggs[*i];
                        let of_id =
                            matches!(a.args.first(), Some(Expr::Col { name, .. }) if name == "_id");
                        if of_id
                            && matches!(
                                a.func.as_str(),
                                "values" | "first" | "last" | "top" | "min" | "max"
                            )
                        {
                            out.push(name.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether the FROM reads this event (its index, see [`index`], matches the patterns).
    pub fn selects_event(&self, ev: &Event) -> bool {
        match &self.indices {
            Some(p) => p.selects_doc(&ev.doc),
            None => true,
        }
    }

    /// Whether the FROM selects the index `name` (e.g. [`ALERTS_INDEX`], [`CLOUDTRAIL_INDEX`]);
    /// true for everything when the query reads all events given.
    pub fn selects_index(&self, name: &str) -> bool {
        match (&self.source, &self.indices) {
            (Source::Row(_), _) => false,
            (_, Some(p)) => p.selects(name),
            (_, None) => true,
        }
    }

    /// Whether the query reads Tripline's alerts ([`ALERTS_INDEX`]).
    pub fn reads_alerts(&self) -> bool {
        self.indices
            .as_ref()
            .is_some_and(|p| p.selects(ALERTS_INDEX))
    }

    /// The built-in enrich policies the query's `ENRICH` commands use (in order, no repeats).
    pub fn enrich_policies(&self) -> Vec<EnrichPolicy> {
        let mut out = Vec::new();
        for c in &self.commands {
            if let Command::Enrich(e) = c {
                if !out.contains(&e.policy) {
                    out.push(e.policy);
                }
            }
        }
        out
    }

    /// Whether the query calls `NOW()` anywhere.
    pub fn uses_now(&self) -> bool {
        let mut found = false;
        self.walk_exprs(&mut |e| found |= e.uses_now());
        found
    }

    /// Source fields the query reads (`None` = it may read or output any field).
    pub fn fields(&self) -> Option<Vec<String>> {
        self.needed.as_ref().map(|s| {
            let mut v: Vec<String> = s.iter().cloned().collect();
            v.sort();
            v
        })
    }

    fn walk_exprs(&self, f: &mut dyn FnMut(&Expr)) {
        if let Source::Row(fields) = &self.source {
            fields.iter().for_each(|(_, e)| f(e));
        }
        for c in &self.commands {
            match c {
                Command::Where(e) => f(e),
                Command::Eval(a) => a.iter().for_each(|(_, e)| f(e)),
                Command::Stats { aggs, outputs, by } => {
                    for a in aggs {
                        a.args.iter().for_each(&mut *f);
                        if let Some(x) = &a.filter {
                            f(x);
                        }
                    }
                    outputs.iter().for_each(|(_, e)| f(e));
                    by.iter().for_each(|(_, e)| f(e));
                }
                Command::Sort(keys) => keys.iter().for_each(|k| f(&k.expr)),
                Command::Dissect { input, .. } | Command::Grok { input, .. } => f(input),
                _ => {}
            }
        }
    }

    fn metadata(&self) -> &[Metadata] {
        match &self.source {
            Source::From { metadata, .. } => metadata,
            Source::Row(_) => &[],
        }
    }

    /// Runs the query over `events` (all of them are the FROM's documents).
    pub fn execute(&self, events: &[SharedEvent], ctx: &ExecContext) -> Result<Table, EsqlError> {
        let evs = exec::deref_events(events);
        self.execute_refs(&evs, ctx)
    }

    /// Like [`Query::execute`], over borrowed events.
    pub fn execute_refs(&self, events: &[&Event], ctx: &ExecContext) -> Result<Table, EsqlError> {
        let exec = exec::Exec {
            events,
            now: ctx.now_ms,
            src_text: &self.text,
            enrich: ctx.enrich.as_deref(),
        };
        let frame = match &self.source {
            Source::From { metadata, .. } => {
                let offsets: Vec<u32> = (0..events.len() as u32)
                    .filter(|&i| self.selects_event(events[i as usize]))
                    .collect();
                let selected: Vec<&Event> = offsets.iter().map(|&i| events[i as usize]).collect();
                exec::load(
                    &selected,
                    &offsets,
                    metadata,
                    self.needed.as_ref(),
                    &self.types,
                )
            }
            Source::Row(fields) => {
                let mut names = Vec::new();
                let mut vals = Vec::new();
                let idx = std::collections::HashMap::new();
                for (n, e) in fields {
                    let v = exec::eval(
                        e,
                        &exec::Env {
                            index: &idx,
                            row: &[],
                            aggs: &[],
                            event: None,
                            now: ctx.now_ms,
                        },
                    );
                    names.push(n.clone());
                    vals.push(v);
                }
                exec::new_frame_row(names, vals)
            }
        };
        let _ = exec.src_text;
        let f = exec::run_all(&exec, frame, &self.commands, ctx)?;
        Ok(exec::into_table(f))
    }

    /// The row-local commands the query starts with (WHERE, EVAL, GROK, …, before any STATS,
    /// SORT or LIMIT): they decide per event whether it can contribute to any result.
    fn row_local_prefix(&self) -> &[Command] {
        let n = self
            .commands
            .iter()
            .take_while(|c| c.is_row_local())
            .count();
        &self.commands[..n]
    }

    /// Whether `ev` can contribute to a result: runs the query's row-local prefix on the event
    /// alone. Conditions that depend on `NOW()` are not applied (they depend on the run), so
    /// a `true` may still be filtered later; a `false` is definitive. Used by the rule engine
    /// to buffer only useful events.
    pub fn prefilter(&self, ev: &Event) -> bool {
        if !self.quick.iter().all(|q| q.passes(ev)) || !self.selects_event(ev) {
            return false;
        }
        self.prefilter_rest(ev)
    }

    /// [`Query::prefilter`] past its quick checks and index selection.
    fn prefilter_rest(&self, ev: &Event) -> bool {
        let Some(cmds) = &self.prefilter_cmds else {
            return true;
        };
        let events = [ev];
        let exec = exec::Exec {
            events: &events,
            now: ev.timestamp,
            src_text: &self.text,
            enrich: None,
        };
        let frame = exec::load(
            &events,
            &[0],
            self.metadata(),
            self.prefilter_fields.as_ref(),
            &self.types,
        );
        let ctx = ExecContext {
            now_ms: ev.timestamp,
            default_limit: None,
            enrich: None,
        };
        match exec::run_all(&exec, frame, cmds, &ctx) {
            Ok(f) => !f.rows.is_empty(),
            Err(_) => true,
        }
    }

    /// Whether [`Query::event_rows`] and [`Query::execute_rows`] can stand for
    /// [`Query::execute`] (see [`stream`]).
    pub fn is_streamable(&self) -> bool {
        self.plan.is_some()
    }

    /// The rows an event contributes to every run that sees it: the query's streamable prefix
    /// run on the event alone (empty when the event cannot contribute: the FROM does not
    /// select it or a leading condition drops it). `None` when the query does not stream.
    pub fn event_rows(&self, ev: &Event) -> Option<Vec<StreamRow>> {
        let plan = self.plan.as_ref()?;
        if !self.quick.iter().all(|q| q.passes(ev)) || !self.selects_event(ev) {
            return Some(Vec::new());
        }
        let rows = plan.event_rows(ev, self.metadata(), &self.text);
        if !rows.is_empty() && plan.check_prefilter && !self.prefilter_rest(ev) {
            return Some(Vec::new());
        }
        Some(rows)
    }

    /// Runs the rest of a streamable query over rows from [`Query::event_rows`], given in
    /// window order with a caller's index each (the table's `row_events` are those indexes).
    pub fn execute_rows<'a, I>(&self, rows: I, ctx: &ExecContext) -> Result<Table, EsqlError>
    where
        I: IntoIterator<Item = (usize, &'a [Value])>,
    {
        let Some(plan) = &self.plan else {
            return Err(EsqlError::at(
                ErrorKind::Unsupported,
                &self.text,
                0,
                "the query does not stream".into(),
            ));
        };
        let mut f = exec::Frame::with_columns(plan.live_names.clone(), plan.live_types.clone());
        for (src, vals) in rows {
            let keep = plan.deferred.iter().all(|d| {
                let env = exec::Env {
                    index: &plan.live_index,
                    row: vals,
                    aggs: &[],
                    event: None,
                    now: ctx.now_ms,
                };
                matches!(exec::eval(d, &env), Value::Bool(true))
            });
            if keep {
                f.rows.push(exec::Row {
                    vals: vals.to_vec(),
                    src: Some(src as u32),
                });
            }
        }
        let run = exec::Exec {
            events: &[],
            now: ctx.now_ms,
            src_text: &self.text,
            enrich: ctx.enrich.as_deref(),
        };
        let f = exec::run_all(&run, f, &plan.rest, ctx)?;
        Ok(exec::into_table(f))
    }

    fn build_prefilter(&self) -> Option<Vec<Command>> {
        if !matches!(self.source, Source::From { .. }) {
            return None;
        }
        let prefix = self.row_local_prefix();
        // Columns computed from NOW() taint the WHEREs that read them.
        let mut tainted: HashSet<String> = HashSet::new();
        let mut cmds = Vec::new();
        let mut filters = false;
        for c in prefix {
            match c {
                Command::Eval(a) => {
                    for (n, e) in a {
                        if e.uses_now() || e.columns().iter().any(|c| tainted.contains(c)) {
                            tainted.insert(n.clone());
                        }
                    }
                    cmds.push(c.clone());
                }
                Command::Where(e) => {
                    if let Some(kept) = without_now(e, &tainted) {
                        cmds.push(Command::Where(kept));
                        filters = true;
                    }
                }
                other => cmds.push(other.clone()),
            }
        }
        if !filters {
            return None;
        }
        // Trailing commands after the last WHERE cannot drop rows except MV_EXPAND of an
        // empty value, which keeps the row; cut them.
        while cmds.last().is_some_and(|c| !matches!(c, Command::Where(_))) {
            cmds.pop();
        }
        Some(cmds)
    }

    /// For rule indexing: when every row the query can produce comes from an event whose
    /// `field` is one of the returned values (from the leading WHERE clauses), returns them.
    pub fn required_values(&self, field: &str) -> Option<Vec<String>> {
        let mut best: Option<Vec<String>> = None;
        for c in self.row_local_prefix() {
            match c {
                Command::Where(e) => {
                    if let Some(v) = required_in(e, field) {
                        if best.as_ref().is_none_or(|b| v.len() < b.len()) {
                            best = Some(v);
                        }
                    }
                }
                // Once the column could be rewritten, later WHEREs no longer speak for the source.
                Command::Eval(a) if a.iter().any(|(n, _)| n == field) => break,
                Command::Rename(_)
                | Command::Dissect { .. }
                | Command::Grok { .. }
                | Command::MvExpand(..) => break,
                _ => {}
            }
        }
        best
    }
}

/// Source fields read by row-local commands (`None` when a wildcard KEEP/DROP needs all).
fn prefix_fields(cmds: &[Command]) -> Option<HashSet<String>> {
    let mut out = HashSet::new();
    for c in cmds {
        match c {
            Command::Where(e)
            | Command::Dissect { input: e, .. }
            | Command::Grok { input: e, .. } => out.extend(e.columns()),
            Command::Eval(a) => a.iter().for_each(|(_, e)| out.extend(e.columns())),
            Command::Keep(ps) | Command::Drop(ps) => {
                if ps.iter().any(|p| p.is_wildcard()) {
                    return None;
                }
                out.extend(ps.iter().map(|p| p.text.clone()));
            }
            Command::Rename(pairs) => out.extend(pairs.iter().map(|(o, _)| o.text.clone())),
            Command::MvExpand(n, _) => {
                out.insert(n.clone());
            }
            _ => {}
        }
    }
    Some(out)
}

/// The conjuncts of `e` that depend neither on NOW() nor on a tainted column.
fn without_now(e: &Expr, tainted: &HashSet<String>) -> Option<Expr> {
    match e {
        Expr::And(l, r) => match (without_now(l, tainted), without_now(r, tainted)) {
            (Some(a), Some(b)) => Some(Expr::And(Box::new(a), Box::new(b))),
            (a, b) => a.or(b),
        },
        other if other.uses_now() || other.columns().iter().any(|c| tainted.contains(c)) => None,
        other => Some(other.clone()),
    }
}

fn required_in(e: &Expr, field: &str) -> Option<Vec<String>> {
    match e {
        Expr::Bin {
            op: ast::BinOp::Eq,
            l,
            r,
        } => match (&**l, &**r) {
            (Expr::Col { name, .. }, Expr::Lit(Value::Str(s)))
            | (Expr::Lit(Value::Str(s)), Expr::Col { name, .. })
                if name == field =>
            {
                Some(vec![s.clone()])
            }
            _ => None,
        },
        Expr::In {
            expr,
            list,
            negated: false,
        } => match &**expr {
            Expr::Col { name, .. } if name == field => list
                .iter()
                .map(|x| match x {
                    Expr::Lit(Value::Str(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        Expr::And(l, r) => match (required_in(l, field), required_in(r, field)) {
            (Some(a), Some(b)) => Some(if a.len() <= b.len() { a } else { b }),
            (a, b) => a.or(b),
        },
        Expr::Or(l, r) => {
            let mut a = required_in(l, field)?;
            a.extend(required_in(r, field)?);
            a.sort();
            a.dedup();
            Some(a)
        }
        _ => None,
    }
}

/// Static column checking: every column read must exist at that point (source fields are
/// unknown until a KEEP or STATS fixes the columns). Returns the source fields needed.
fn verify(
    src: &str,
    source: &Source,
    cmds: &[Command],
) -> Result<Option<HashSet<String>>, EsqlError> {
    enum Open {
        All,
        Patterns(Vec<NamePattern>),
        Closed,
    }
    let mut known: HashSet<String> = HashSet::new();
    let mut open = Open::Closed;
    let mut dropped: Vec<NamePattern> = Vec::new();
    let mut needed: HashSet<String> = HashSet::new();
    let mut need_all = false;
    match source {
        Source::From { metadata, .. } => {
            open = Open::All;
            known.extend(metadata.iter().map(|m| m.name().to_string()));
        }
        Source::Row(fields) => {
            for (n, e) in fields {
                if let Some((name, span)) = first_col(e) {
                    return Err(exec::unknown_column(src, &name, span));
                }
                known.insert(n.clone());
            }
        }
    }
    let source_ok = |name: &str, open: &Open, dropped: &[NamePattern]| {
        let allowed = match open {
            Open::All => true,
            Open::Patterns(ps) => ps.iter().any(|p| p.matches(name)),
            Open::Closed => false,
        };
        allowed && !dropped.iter().any(|d| d.matches(name))
    };
    macro_rules! check {
        ($e:expr) => {{
            let mut err = None;
            $e.walk(&mut |x| {
                if let Expr::Col { name, span } = x {
                    if known.contains(name) {
                        return;
                    }
                    if source_ok(name, &open, &dropped) {
                        needed.insert(name.clone());
                    } else if err.is_none() {
                        err = Some(exec::unknown_column(src, name, *span));
                    }
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
        }};
    }
    // KQL() reads the source document, so it is only valid in WHERE before anything that
    // breaks the row ↔ document link (as in Elasticsearch).
    let mut row_local = true;
    for c in cmds {
        let mut kql_at = None;
        let in_where = matches!(c, Command::Where(_));
        let mut probe = |e: &Expr| {
            e.walk(&mut |x| {
                if let Expr::Kql { span, .. } = x {
                    kql_at.get_or_insert(*span);
                }
            })
        };
        match c {
            Command::Where(e)
            | Command::Dissect { input: e, .. }
            | Command::Grok { input: e, .. } => probe(e),
            Command::Eval(a) => a.iter().for_each(|(_, e)| probe(e)),
            Command::Stats { aggs, outputs, by } => {
                aggs.iter().for_each(|a| {
                    a.args.iter().for_each(&mut probe);
                    a.filter.iter().for_each(&mut probe);
                });
                outputs.iter().chain(by).for_each(|(_, e)| probe(e));
            }
            Command::Sort(keys) => keys.iter().for_each(|k| probe(&k.expr)),
            _ => {}
        }
        if let Some(span) = kql_at {
            if !(in_where && row_local) {
                return Err(EsqlError::at(
                    ErrorKind::Verification,
                    src,
                    span.start,
                    "KQL() can only be used in WHERE directly after the source command (before STATS, SORT, LIMIT) ".into(),
                ));
            }
        }
        row_local &= c.is_row_local();
        match c {
            Command::Where(e) => check!(e),
            Command::Eval(a) => {
                for (n, e) in a {
                    check!(e);
                    known.insert(n.clone());
                }
            }
            Command::Stats { aggs, outputs, by } => {
                for a in aggs {
                    for x in &a.args {
                        check!(x);
                    }
                    if let Some(x) = &a.filter {
                        check!(x);
                    }
                }
                for (_, e) in by {
                    check!(e);
                }
                known = outputs.iter().chain(by).map(|(n, _)| n.clone()).collect();
                open = Open::Closed;
                dropped.clear();
            }
            Command::Keep(ps) => {
                let mut next: HashSet<String> = known
                    .iter()
                    .filter(|k| ps.iter().any(|p| p.matches(k)))
                    .cloned()
                    .collect();
                for p in ps.iter().filter(|p| !p.is_wildcard()) {
                    if known.contains(&p.text) {
                        continue;
                    }
                    if source_ok(&p.text, &open, &dropped) {
                        needed.insert(p.text.clone());
                        next.insert(p.text.clone());
                    } else {
                        return Err(exec::unknown_column(src, &p.text, p.span));
                    }
                }
                let wild: Vec<NamePattern> =
                    ps.iter().filter(|p| p.is_wildcard()).cloned().collect();
                open = match open {
                    Open::Closed => Open::Closed,
                    _ if wild.is_empty() => Open::Closed,
                    _ => {
                        need_all = true;
                        Open::Patterns(wild)
                    }
                };
                known = next;
            }
            Command::Drop(ps) => {
                known.retain(|k| !ps.iter().any(|p| p.matches(k)));
                dropped.extend(ps.iter().cloned());
            }
            Command::Rename(pairs) => {
                for (old, new) in pairs {
                    if !known.remove(&old.text) {
                        if source_ok(&old.text, &open, &dropped) {
                            needed.insert(old.text.clone());
                        } else {
                            return Err(exec::unknown_column(src, &old.text, old.span));
                        }
                    }
                    dropped.push(old.clone());
                    known.insert(new.clone());
                }
            }
            Command::Sort(keys) => {
                for k in keys {
                    check!(&k.expr);
                }
            }
            Command::Limit(_) => {}
            Command::MvExpand(name, span) => {
                if !known.contains(name) {
                    if source_ok(name, &open, &dropped) {
                        needed.insert(name.clone());
                    } else {
                        return Err(exec::unknown_column(src, name, *span));
                    }
                }
            }
            Command::Dissect { input, pattern, .. } => {
                check!(input);
                known.extend(pattern.columns.iter().cloned());
            }
            Command::Grok { input, grok } => {
                check!(input);
                known.extend(grok.columns.iter().map(|c| c.name.clone()));
            }
            Command::Enrich(e) => {
                if !known.contains(&e.on) {
                    if source_ok(&e.on, &open, &dropped) {
                        needed.insert(e.on.clone());
                    } else {
                        return Err(exec::unknown_column(src, &e.on, e.on_span));
                    }
                }
                known.extend(e.fields.iter().map(|(n, _)| n.clone()));
            }
        }
    }
    // An output still open to source fields shows all of them.
    if !matches!(open, Open::Closed) {
        need_all = true;
    }
    Ok(if need_all { None } else { Some(needed) })
}

fn first_col(e: &Expr) -> Option<(String, Span)> {
    let mut found = None;
    e.walk(&mut |x| {
        if let Expr::Col { name, span } = x {
            if found.is_none() {
                found = Some((name.clone(), *span));
            }
        }
    });
    found
}

#[cfg(test)]
mod tests;
