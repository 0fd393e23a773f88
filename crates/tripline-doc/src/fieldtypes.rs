//! The field-type table: which Elasticsearch type each ECS / integration field has.
//!
//! Rule semantics depend on it (keyword fields match exactly, text fields by token, ip fields
//! by address or CIDR, numbers and dates by range). The table is data (`data/field-types.tsv`,
//! generated from the ECS and integration field definitions by `cargo xtask gen-field-types`),
//! embedded in the binary and loadable from a file to extend it.

use std::collections::HashMap;

/// An Elasticsearch field type, reduced to what changes query semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Keyword,
    ConstantKeyword,
    Wildcard,
    Text,
    MatchOnlyText,
    Ip,
    Long,
    Integer,
    Short,
    Byte,
    UnsignedLong,
    Float,
    HalfFloat,
    ScaledFloat,
    Double,
    Date,
    DateNanos,
    Boolean,
    Flattened,
    Object,
    Nested,
    GeoPoint,
    Binary,
}

impl FieldType {
    pub fn parse(s: &str) -> Option<FieldType> {
        use FieldType::*;
        Some(match s {
            "keyword" => Keyword,
            "constant_keyword" => ConstantKeyword,
            "wildcard" => Wildcard,
            "text" => Text,
            "match_only_text" => MatchOnlyText,
            "ip" => Ip,
            "long" => Long,
            "integer" => Integer,
            "short" => Short,
            "byte" => Byte,
            "unsigned_long" => UnsignedLong,
            "float" => Float,
            "half_float" => HalfFloat,
            "scaled_float" => ScaledFloat,
            "double" => Double,
            "date" => Date,
            "date_nanos" => DateNanos,
            "boolean" => Boolean,
            "flattened" => Flattened,
            "object" | "group" => Object,
            "nested" => Nested,
            "geo_point" => GeoPoint,
            "binary" => Binary,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        use FieldType::*;
        match self {
            Keyword => "keyword",
            ConstantKeyword => "constant_keyword",
            Wildcard => "wildcard",
            Text => "text",
            MatchOnlyText => "match_only_text",
            Ip => "ip",
            Long => "long",
            Integer => "integer",
            Short => "short",
            Byte => "byte",
            UnsignedLong => "unsigned_long",
            Float => "float",
            HalfFloat => "half_float",
            ScaledFloat => "scaled_float",
            Double => "double",
            Date => "date",
            DateNanos => "date_nanos",
            Boolean => "boolean",
            Flattened => "flattened",
            Object => "object",
            Nested => "nested",
            GeoPoint => "geo_point",
            Binary => "binary",
        }
    }

    /// Keyword-family types: exact, case-sensitive string matching.
    pub fn is_keyword_like(self) -> bool {
        matches!(
            self,
            FieldType::Keyword
                | FieldType::ConstantKeyword
                | FieldType::Wildcard
                | FieldType::Flattened
        )
    }

    /// Analyzed text types: matched token by token, case-insensitively.
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Text | FieldType::MatchOnlyText)
    }

    pub fn is_numeric(self) -> bool {
        use FieldType::*;
        matches!(
            self,
            Long | Integer | Short | Byte | UnsignedLong | Float | HalfFloat | ScaledFloat | Double
        )
    }

    pub fn is_date(self) -> bool {
        matches!(self, FieldType::Date | FieldType::DateNanos)
    }
}

/// Name → type, with Elasticsearch's lookup rules for sub-fields of flattened fields and
/// multi-fields (`x.keyword`, `x.text`, `x.caseless`).
#[derive(Debug, Clone, Default)]
pub struct FieldTypes {
    types: HashMap<String, FieldType>,
    /// Multi-field children, e.g. `user_agent.original.text` → Text.
    multi: HashMap<String, FieldType>,
}

/// The table shipped with Tripline.
pub const BUILTIN_TABLE: &str = include_str!("../data/field-types.tsv");

impl FieldTypes {
    /// The embedded table (ECS + the AWS and other cloud integrations' fields).
    pub fn builtin() -> &'static FieldTypes {
        static TABLE: std::sync::OnceLock<FieldTypes> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            FieldTypes::parse_tsv(BUILTIN_TABLE).expect("embedded field-type table is valid")
        })
    }

    /// Parses `name<TAB>type[<TAB>multi-field-suffix=type,...]` lines; `#` starts a comment.
    pub fn parse_tsv(text: &str) -> Result<FieldTypes, FieldTypeError> {
        let mut t = FieldTypes::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.split('\t');
            let name = cols.next().unwrap_or_default();
            let ty = cols.next().ok_or(FieldTypeError::Line {
                line: i + 1,
                reason: "missing type column".into(),
            })?;
            let ty = FieldType::parse(ty).ok_or_else(|| FieldTypeError::Line {
                line: i + 1,
                reason: format!("unknown type {ty:?}"),
            })?;
            t.types.insert(name.to_string(), ty);
            if let Some(multi) = cols.next() {
                for entry in multi.split(',').filter(|s| !s.is_empty()) {
                    let (suffix, mty) =
                        entry.split_once('=').ok_or_else(|| FieldTypeError::Line {
                            line: i + 1,
                            reason: format!("bad multi-field entry {entry:?}"),
                        })?;
                    let mty = FieldType::parse(mty).ok_or_else(|| FieldTypeError::Line {
                        line: i + 1,
                        reason: format!("unknown type {mty:?}"),
                    })?;
                    t.multi.insert(format!("{name}.{suffix}"), mty);
                }
            }
        }
        Ok(t)
    }

    /// Adds or overrides one field.
    pub fn insert(&mut self, name: &str, ty: FieldType) {
        self.types.insert(name.to_string(), ty);
    }

    /// The type of a field: its own entry, a multi-field child, or a keyword when it lies
    /// under a flattened field (Elasticsearch indexes flattened leaves as keywords).
    /// `None` for fields the table does not know.
    pub fn get(&self, name: &str) -> Option<FieldType> {
        if let Some(t) = self.types.get(name) {
            return Some(*t);
        }
        if let Some(t) = self.multi.get(name) {
            return Some(*t);
        }
        let mut end = name.len();
        while let Some(dot) = name[..end].rfind('.') {
            if let Some(FieldType::Flattened) = self.types.get(&name[..dot]) {
                return Some(FieldType::Keyword);
            }
            end = dot;
        }
        None
    }

    /// The path of the value a multi-field reads: `user_agent.original.text` reads
    /// `user_agent.original` in `_source`. Identity for other fields.
    pub fn source_path<'a>(&self, name: &'a str) -> &'a str {
        if self.multi.contains_key(name) && !self.types.contains_key(name) {
            if let Some(dot) = name.rfind('.') {
                return &name[..dot];
            }
        }
        name
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// All known field names (for "unknown field" warnings and wildcard field names).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types
            .keys()
            .map(|s| s.as_str())
            .chain(self.multi.keys().map(|s| s.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FieldTypeError {
    #[error("field-type table line {line}: {reason}")]
    Line { line: usize, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_rules() {
        let t = FieldTypes::parse_tsv(
            "# c\nsource.ip\tip\naws.cloudtrail.flattened.request_parameters\tflattened\nuser_agent.original\tkeyword\ttext=match_only_text\n",
        )
        .unwrap();
        assert_eq!(t.get("source.ip"), Some(FieldType::Ip));
        assert_eq!(
            t.get("aws.cloudtrail.flattened.request_parameters.bucketName"),
            Some(FieldType::Keyword)
        );
        assert_eq!(
            t.get("user_agent.original.text"),
            Some(FieldType::MatchOnlyText)
        );
        assert_eq!(
            t.source_path("user_agent.original.text"),
            "user_agent.original"
        );
        assert_eq!(t.source_path("source.ip"), "source.ip");
        assert_eq!(t.get("nope"), None);
        assert!(FieldTypes::parse_tsv("x\tbogus\n").is_err());
    }

    #[test]
    fn builtin_table_loads() {
        let t = FieldTypes::builtin();
        assert_eq!(t.get("source.ip"), Some(FieldType::Ip));
        assert_eq!(t.get("event.action"), Some(FieldType::Keyword));
    }
}
