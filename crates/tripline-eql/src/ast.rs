//! The parsed form of an EQL query, before field types are applied.

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped (`1 < x` is `x > 1`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub fn name(self) -> &'static str {
        match self {
            ArithOp::Add => "add",
            ArithOp::Sub => "subtract",
            ArithOp::Mul => "multiply",
            ArithOp::Div => "divide",
            ArithOp::Mod => "modulo",
        }
    }
}

/// An expression; `pos` fields are byte offsets into the query for error messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Lit, usize),
    Field {
        name: String,
        optional: bool,
        pos: usize,
    },
    /// A function call; `ci` is the `~` suffix.
    Call {
        name: String,
        ci: bool,
        args: Vec<Expr>,
        pos: usize,
    },
    Neg(Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `x : v`, `x : (v1, v2)`, `x !: v` — case-insensitive equality with wildcards.
    Seq {
        left: Box<Expr>,
        values: Vec<Expr>,
        negated: bool,
    },
    /// `x in (...)`, `x in~ (...)`, `x not in (...)`.
    In {
        left: Box<Expr>,
        values: Vec<Expr>,
        ci: bool,
        negated: bool,
    },
    /// `x like "p*"`, `x regex "r"` (and `~` forms), one or several patterns.
    Like {
        left: Box<Expr>,
        patterns: Vec<String>,
        ci: bool,
        regex: bool,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// `CATEGORY where CONDITION`; `category: None` is `any`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    pub category: Option<String>,
    pub condition: Expr,
}

/// One bracketed query of a sequence or sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub query: EventQuery,
    /// Per-stage join keys (appended to the sequence's `by`).
    pub by: Vec<Expr>,
    /// `with runs=N`: the stage repeats N times.
    pub runs: usize,
    /// `![ ... ]`: a missing-event stage.
    pub missing: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pipe {
    Head(usize),
    Tail(usize),
    /// `| filter COND` (the 7.x pipe, kept for the QA suite).
    Filter(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryBody {
    Event(EventQuery),
    Sequence {
        by: Vec<Expr>,
        maxspan_ms: Option<i64>,
        stages: Vec<Stage>,
        until: Option<Stage>,
    },
    Sample {
        by: Vec<Expr>,
        stages: Vec<Stage>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ast {
    pub body: QueryBody,
    pub pipes: Vec<Pipe>,
}
