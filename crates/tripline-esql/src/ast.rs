//! The parsed query.

use std::sync::Arc;

use crate::grok::{DissectPattern, Grok};
use crate::value::{DataType, Value};

/// Byte span in the query text (for error positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    CiEq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A LIKE / RLIKE pattern compiled once.
#[derive(Debug, Clone)]
pub enum Matcher {
    Like(tripline_ir::pattern::Wildcard),
    Regex(Arc<regex::Regex>),
}

impl Matcher {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Like(w) => w.matches(s),
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Expr {
    Lit(Value),
    Col {
        name: String,
        span: Span,
    },
    Call {
        name: String,
        args: Vec<Expr>,
        span: Span,
    },
    /// `COUNT(*)`.
    CountStar,
    /// Reference to the i-th aggregate computed by STATS (only inside STATS outputs).
    AggRef(usize),
    Neg(Box<Expr>),
    Bin {
        op: BinOp,
        l: Box<Expr>,
        r: Box<Expr>,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        matchers: Vec<Matcher>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Cast {
        expr: Box<Expr>,
        ty: DataType,
    },
    /// `KQL("...")`: a compiled KQL predicate evaluated against the row's source document.
    Kql {
        query: String,
        predicate: Arc<tripline_ir::Predicate>,
        span: Span,
    },
}

impl Expr {
    /// Visits every sub-expression (pre-order).
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Neg(e)
            | Expr::Not(e)
            | Expr::IsNull { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::Like { expr: e, .. } => e.walk(f),
            Expr::Bin { l, r, .. } | Expr::And(l, r) | Expr::Or(l, r) => {
                l.walk(f);
                r.walk(f);
            }
            Expr::In { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
            Expr::Lit(_)
            | Expr::Col { .. }
            | Expr::CountStar
            | Expr::AggRef(_)
            | Expr::Kql { .. } => {}
        }
    }

    /// Column names read by the expression.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Col { name, .. } = e {
                out.push(name.clone());
            }
        });
        out
    }

    pub fn uses_now(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let Expr::Call { name, .. } = e {
                if name == "now" {
                    found = true;
                }
            }
        });
        found
    }

    pub fn uses_kql(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(e, Expr::Kql { .. }) {
                found = true;
            }
        });
        found
    }
}

/// One aggregate function call inside STATS.
#[derive(Debug, Clone)]
pub struct AggCall {
    pub func: String,
    pub args: Vec<Expr>,
    /// `agg(...) WHERE cond`: only rows where `cond` is true feed this aggregate.
    pub filter: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct SortKey {
    pub expr: Expr,
    pub desc: bool,
    pub nulls_first: bool,
}

/// A column-name pattern (`a.b`, `Esql.*`, `*`).
#[derive(Debug, Clone)]
pub struct NamePattern {
    pub text: String,
    pub span: Span,
}

impl NamePattern {
    pub fn is_wildcard(&self) -> bool {
        self.text.contains('*')
    }

    pub fn matches(&self, name: &str) -> bool {
        if !self.is_wildcard() {
            return self.text == name;
        }
        tripline_ir::pattern::Wildcard::new(&self.text.replace('?', "\\?"), false).matches(name)
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    Where(Expr),
    Eval(Vec<(String, Expr)>),
    Stats {
        aggs: Vec<AggCall>,
        outputs: Vec<(String, Expr)>,
        by: Vec<(String, Expr)>,
    },
    Keep(Vec<NamePattern>),
    Drop(Vec<NamePattern>),
    Rename(Vec<(NamePattern, String)>),
    Sort(Vec<SortKey>),
    Limit(usize),
    MvExpand(String, Span),
    Dissect {
        input: Expr,
        pattern: Arc<DissectPattern>,
        append_separator: String,
    },
    Grok {
        input: Expr,
        grok: Arc<Grok>,
    },
    /// `ENRICH` with a built-in policy ([`crate::enrich`]).
    Enrich(Arc<crate::enrich::Enrich>),
}

impl Command {
    /// Commands that transform each row independently (and keep its source event).
    /// `ENRICH` is row-local too but is left out: it needs the execution's enrich source,
    /// which the per-event prefilter does not have.
    pub fn is_row_local(&self) -> bool {
        matches!(
            self,
            Command::Where(_)
                | Command::Eval(_)
                | Command::Keep(_)
                | Command::Drop(_)
                | Command::Rename(_)
                | Command::MvExpand(..)
                | Command::Dissect { .. }
                | Command::Grok { .. }
        )
    }
}

/// Metadata fields requestable with `METADATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    Id,
    Index,
    Version,
    Source,
    Score,
}

impl Metadata {
    pub fn name(self) -> &'static str {
        match self {
            Metadata::Id => "_id",
            Metadata::Index => "_index",
            Metadata::Version => "_version",
            Metadata::Source => "_source",
            Metadata::Score => "_score",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    From {
        patterns: Vec<String>,
        metadata: Vec<Metadata>,
        span: Span,
    },
    Row(Vec<(String, Expr)>),
}
