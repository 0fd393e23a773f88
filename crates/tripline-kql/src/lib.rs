//! KQL (Kibana Query Language) parser and compiler to Tripline's IR, with Elasticsearch
//! semantics.
//!
//! API contract used by the engine:
//! - [`compile`]: KQL text → [`tripline_ir::Predicate`], resolving fields against the type table.
//! - [`compile_lucene`]: the Lucene `query_string` subset that rules with `language = "lucene"` use.
//! - [`parse`]: KQL text → [`Node`] (syntax only), for tools and tests.
//!
//! Translation follows Kibana's `kuery` → query DSL rules, then Elasticsearch's behaviour of
//! those queries per field type:
//! - `field:*` → `exists`;
//! - `field:value` → `term` on `keyword` fields (and unmapped ones: logs templates map dynamic
//!   strings as keywords), a `range` `gte=lte=value` on dates (so `2024-01-02` is that whole
//!   day), `match` (`match_phrase` when quoted) on everything else — analyzed token matching on
//!   `text`/`match_only_text`, exact on `constant_keyword`/`wildcard`/`flattened`, address or
//!   CIDR on `ip`, numeric equality on numbers;
//! - `field:va*ue` → `wildcard` (case-sensitive: the detection engine does not set
//!   `case_insensitive`) on `keyword`, else `query_string`, which splits at whitespace into
//!   OR-ed terms and, on text fields, tests each lowercased token;
//! - `field < v` → `range` (dates with Elasticsearch's rounding; keywords by byte order);
//! - a wildcard field name expands to every known field it matches, plus any matching path
//!   present in the document (dynamically mapped fields, flattened objects' leaves);
//! - a bare value queries every field: every leaf as a keyword, and every text field.
//!
//! Known approximation: `path:{ query }` (nested) evaluates its sub-query on the whole
//! document rather than within one nested object.

mod lucene;
mod parse;

use std::sync::Arc;

pub use lucene::compile_lucene;
pub use parse::{parse, Literal as KqlLiteral, Node, Part, RangeOp, Value};
use tripline_ir::eval::glob_match;
use tripline_ir::pattern::Wildcard;
use tripline_ir::{Bound, FieldRef, FieldType, FieldTypes, Literal, Predicate};

/// A KQL syntax error with its position (0-based byte offset into the query).
#[derive(Debug, Clone, thiserror::Error)]
#[error("at offset {offset}: {message}")]
pub struct KqlError {
    pub offset: usize,
    pub message: String,
}

/// Compiles a KQL query.
pub fn compile(query: &str, types: &FieldTypes) -> Result<Predicate, KqlError> {
    let ast = parse::parse(query)?;
    Ok(Compiler { types }.node(&ast, ""))
}

/// The field name a pattern-reference uses for "every field".
const ALL_FIELDS: &str = "*";

struct Compiler<'a> {
    types: &'a FieldTypes,
}

impl Compiler<'_> {
    fn node(&self, n: &Node, prefix: &str) -> Predicate {
        match n {
            Node::MatchAll => Predicate::Const(true),
            Node::Or(xs) => or(xs.iter().map(|x| self.node(x, prefix)).collect()),
            Node::And(xs) => and(xs.iter().map(|x| self.node(x, prefix)).collect()),
            Node::Not(x) => match self.node(x, prefix) {
                Predicate::Const(b) => Predicate::Const(!b),
                p => Predicate::Not(Box::new(p)),
            },
            Node::Is { field: None, value } => self.all_fields(value),
            Node::Is {
                field: Some(f),
                value,
            } => {
                if f.is_lone_wildcard() && prefix.is_empty() {
                    return self.all_fields(value);
                }
                let fields = self.fields(f, prefix);
                or(fields.iter().map(|fr| self.is(fr, value)).collect())
            }
            Node::Range { field, op, value } => {
                let fields = self.fields(field, prefix);
                or(fields.into_iter().map(|fr| range(fr, *op, value)).collect())
            }
            Node::Nested { path, query } => {
                let p = format!("{prefix}{}.", path.text());
                self.node(query, &p)
            }
        }
    }

    /// The fields a field-name literal designates.
    fn fields(&self, f: &Value, prefix: &str) -> Vec<FieldRef> {
        if !f.is_wildcard() {
            let name = format!("{prefix}{}", f.text());
            return vec![FieldRef::resolve(&name, self.types)];
        }
        let pattern = format!("{}{}", escape_glob(prefix), f.wildcard_pattern());
        let mut names: Vec<&str> = self
            .types
            .names()
            .filter(|n| glob_match(&pattern, n))
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut out: Vec<FieldRef> = names
            .into_iter()
            .map(|n| FieldRef::resolve(n, self.types))
            .collect();
        // Paths only the document knows (dynamic mappings, flattened leaves).
        out.push(pattern_field(&pattern));
        out
    }

    /// Kibana's `is` function for one resolved field.
    fn is(&self, field: &FieldRef, value: &Value) -> Predicate {
        if value.is_lone_wildcard() {
            return Predicate::Exists(field.clone());
        }
        let ty = field.ty;
        if value.is_wildcard() {
            if is_keyword_field(ty) {
                return Predicate::Wildcard {
                    field: field.clone(),
                    pattern: Wildcard::new(&value.wildcard_pattern(), false),
                };
            }
            return query_string_wildcard(field, value);
        }
        let lit = match value.literal() {
            KqlLiteral::Str(s) => Literal::Str(s),
            KqlLiteral::Bool(b) => Literal::Bool(b),
            // `match: {field: null}` is rejected by Elasticsearch: such a clause finds nothing.
            KqlLiteral::Null => return Predicate::Const(false),
        };
        if ty.is_some_and(|t| t.is_date()) {
            let b = Bound {
                value: lit,
                inclusive: true,
            };
            return Predicate::Range {
                field: field.clone(),
                lower: Some(b.clone()),
                upper: Some(b),
            };
        }
        if is_keyword_field(ty) {
            return Predicate::Term {
                field: field.clone(),
                value: lit,
                case_insensitive: false,
            };
        }
        Predicate::Match {
            field: field.clone(),
            value: lit,
            phrase: value.quoted,
        }
    }

    /// A value with no field (or field `*`): `multi_match` / `query_string` over every field.
    fn all_fields(&self, value: &Value) -> Predicate {
        if value.is_lone_wildcard() {
            return Predicate::Const(true);
        }
        let any = pattern_field(ALL_FIELDS);
        let mut text_fields: Vec<&str> = self
            .types
            .names()
            .filter(|n| self.types.get(n).is_some_and(|t| t.is_text()))
            .collect();
        text_fields.sort_unstable();
        text_fields.dedup();
        let mut alts = Vec::new();
        if value.is_wildcard() {
            alts.push(query_string_wildcard(&any, value));
            for t in text_fields {
                alts.push(query_string_wildcard(
                    &FieldRef::resolve(t, self.types),
                    value,
                ));
            }
        } else {
            let lit = match value.literal() {
                KqlLiteral::Str(s) => Literal::Str(s),
                KqlLiteral::Bool(b) => Literal::Bool(b),
                KqlLiteral::Null => return Predicate::Const(false),
            };
            alts.push(Predicate::Term {
                field: any,
                value: lit.clone(),
                case_insensitive: false,
            });
            for t in text_fields {
                alts.push(Predicate::Match {
                    field: FieldRef::resolve(t, self.types),
                    value: lit.clone(),
                    phrase: value.quoted,
                });
            }
        }
        or(alts)
    }
}

/// Kibana's `isKeywordField`: exactly `keyword` (unmapped fields count as dynamic keywords).
fn is_keyword_field(ty: Option<FieldType>) -> bool {
    matches!(ty, None | Some(FieldType::Keyword))
}

fn pattern_field(pattern: &str) -> FieldRef {
    FieldRef {
        name: Arc::from(pattern),
        source: Arc::from(pattern),
        ty: None,
    }
}

fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A KQL wildcard sent as `query_string`: whitespace splits it into OR-ed terms; each term
/// with a `*` is a wildcard query (on text fields tested per token, lowercased), the others
/// are plain term / match queries. Types without wildcard support find nothing.
fn query_string_wildcard(field: &FieldRef, value: &Value) -> Predicate {
    let ty = field.ty;
    let supported = ty.is_none_or(|t| t.is_keyword_like() || t.is_text());
    if !supported {
        return Predicate::Const(false);
    }
    let text = ty.is_some_and(|t| t.is_text());
    let pattern = value.wildcard_pattern();
    let mut alts = Vec::new();
    for piece in pattern.split(char::is_whitespace).filter(|p| !p.is_empty()) {
        let w = Wildcard::new(piece, text);
        if let Some(lit) = w.literal_value() {
            alts.push(if text {
                Predicate::Match {
                    field: field.clone(),
                    value: Literal::Str(lit),
                    phrase: false,
                }
            } else {
                Predicate::Term {
                    field: field.clone(),
                    value: Literal::Str(lit),
                    case_insensitive: false,
                }
            });
        } else if w.matches_everything() {
            alts.push(Predicate::Exists(field.clone()));
        } else {
            alts.push(Predicate::Wildcard {
                field: field.clone(),
                pattern: w,
            });
        }
    }
    or(alts)
}

fn range(field: FieldRef, op: RangeOp, value: &Value) -> Predicate {
    let b = |inclusive| {
        Some(Bound {
            value: Literal::Str(value.text()),
            inclusive,
        })
    };
    let (lower, upper) = match op {
        RangeOp::Gt => (b(false), None),
        RangeOp::Gte => (b(true), None),
        RangeOp::Lt => (None, b(false)),
        RangeOp::Lte => (None, b(true)),
    };
    Predicate::Range {
        field,
        lower,
        upper,
    }
}

/// Disjunction with flattening, constant folding, and exact terms on one field merged into
/// a `terms` query (what rule indexing and evaluation like best).
fn or(items: Vec<Predicate>) -> Predicate {
    let mut flat = Vec::new();
    for p in items {
        match p {
            Predicate::Or(xs) => flat.extend(xs),
            Predicate::Const(false) => {}
            Predicate::Const(true) => return Predicate::Const(true),
            p => flat.push(p),
        }
    }
    let mut out: Vec<Predicate> = Vec::new();
    for p in flat {
        let (field, values) = match p {
            Predicate::Term {
                field,
                value,
                case_insensitive: false,
            } => (field, vec![value]),
            Predicate::Terms {
                field,
                values,
                case_insensitive: false,
            } => (field, values),
            other => {
                out.push(other);
                continue;
            }
        };
        let existing = out.iter_mut().find_map(|q| match q {
            Predicate::Terms {
                field: f,
                values: v,
                case_insensitive: false,
            } if *f == field => Some(v),
            _ => None,
        });
        match existing {
            Some(v) => {
                for x in values {
                    if !v.contains(&x) {
                        v.push(x);
                    }
                }
            }
            None => out.push(Predicate::Terms {
                field,
                values,
                case_insensitive: false,
            }),
        }
    }
    // Single-value `terms` read better as `term`.
    let out: Vec<Predicate> = out
        .into_iter()
        .map(|p| match p {
            Predicate::Terms {
                field,
                mut values,
                case_insensitive,
            } if values.len() == 1 => Predicate::Term {
                field,
                value: values.pop().expect("one"),
                case_insensitive,
            },
            p => p,
        })
        .collect();
    match out.len() {
        0 => Predicate::Const(false),
        1 => out.into_iter().next().expect("one"),
        _ => Predicate::Or(out),
    }
}

fn and(items: Vec<Predicate>) -> Predicate {
    let mut out = Vec::new();
    for p in items {
        match p {
            Predicate::And(xs) => out.extend(xs),
            Predicate::Const(true) => {}
            Predicate::Const(false) => return Predicate::Const(false),
            p => out.push(p),
        }
    }
    match out.len() {
        0 => Predicate::Const(true),
        1 => out.into_iter().next().expect("one"),
        _ => Predicate::And(out),
    }
}

#[cfg(test)]
mod tests;
