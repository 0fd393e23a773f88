//! The record as the pipeline's scratch `json` object sees it: an ordered tree (key order as in
//! the input, needed to reproduce Java `HashMap` iteration order), already pruned of the values
//! the pipeline's first clean-up script deletes (`null`, `""`, `"-"`, `"none"`, and maps/lists
//! left empty), while remembering each object's original key count (a `HashMap` never shrinks,
//! so its bucket table size depends on the keys it held before pruning).
//!
//! Strings and keys borrow from the input where possible.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON number as Jackson would type it (integers print the same whatever their width).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    pub(crate) fn to_value(self) -> Value {
        match self {
            Num::I(i) => Value::from(i),
            Num::U(u) => Value::from(u),
            Num::F(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Obj<'a>),
}

/// An object: entries in insertion order, plus the number of distinct keys it was built with
/// (before pruning), which fixes its Java `HashMap` capacity.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Obj<'a> {
    pub entries: Vec<(Cow<'a, str>, J<'a>)>,
    pub built_with: usize,
}

impl<'a> Obj<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&J<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes a key (a `rename` out of the scratch object); capacity is unchanged, as in Java.
    pub(crate) fn remove(&mut self, key: &str) -> Option<J<'a>> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut J<'a>> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Value at a path of object keys (never through lists, like Painless' `$()`/`?.`).
    pub(crate) fn path(&self, path: &[&str]) -> Option<&J<'a>> {
        let (last, init) = path.split_last()?;
        let mut cur = self;
        for k in init {
            match cur.get(k)? {
                J::Obj(o) => cur = o,
                _ => return None,
            }
        }
        cur.get(last)
    }

    /// Removes the value at a path (a `rename` source). Parents are left in place, even when
    /// emptied, as the pipeline does (the final clean-up removes empty maps from the output,
    /// and the scratch object is dropped anyway).
    pub(crate) fn take_path(&mut self, path: &[&str]) -> Option<J<'a>> {
        let (last, init) = path.split_last()?;
        let mut cur = self;
        for k in init {
            match cur.get_mut(k)? {
                J::Obj(o) => cur = o,
                _ => return None,
            }
        }
        cur.remove(last)
    }
}

impl<'a> J<'a> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_obj(&self) -> Option<&Obj<'a>> {
        match self {
            J::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// Whether the first clean-up script deletes this value (children already pruned).
    pub(crate) fn pruned(&self) -> bool {
        match self {
            J::Null => true,
            J::Str(s) => matches!(&**s, "" | "-" | "none"),
            J::Arr(a) => a.is_empty(),
            J::Obj(o) => o.entries.is_empty(),
            _ => false,
        }
    }

    /// Output form.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Num(n) => n.to_value(),
            J::Str(s) => Value::String(s.to_string()),
            J::Arr(a) => Value::Array(a.iter().map(J::to_value).collect()),
            J::Obj(o) => {
                let mut m = serde_json::Map::new();
                for (k, v) in &o.entries {
                    m.insert(k.to_string(), v.to_value());
                }
                Value::Object(m)
            }
        }
    }

    /// Pruned, borrowed view of a serde_json value (key order = the map's order).
    pub(crate) fn from_value(v: &'a Value) -> J<'a> {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(if let Some(u) = n.as_u64() {
                Num::U(u)
            } else if let Some(i) = n.as_i64() {
                Num::I(i)
            } else {
                Num::F(n.as_f64().unwrap_or(0.0))
            }),
            Value::String(s) => J::Str(Cow::Borrowed(s)),
            Value::Array(a) => J::Arr(
                a.iter()
                    .map(J::from_value)
                    .filter(|j| !j.pruned())
                    .collect(),
            ),
            Value::Object(m) => {
                let mut entries = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let j = J::from_value(v);
                    if !j.pruned() {
                        entries.push((Cow::Borrowed(k.as_str()), j));
                    }
                }
                J::Obj(Obj {
                    entries,
                    built_with: m.len(),
                })
            }
        }
    }

    /// Parses JSON text into a pruned tree, keeping key order (serde_json's recursion limit
    /// guards against deep nesting).
    pub(crate) fn parse(text: &'a str) -> Result<J<'a>, serde_json::Error> {
        let mut scratch = Scratch {
            entries: Vec::with_capacity(64),
            items: Vec::with_capacity(16),
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let j = JSeed {
            scratch: &mut scratch,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(j)
    }
}

struct CowStr<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Entries of the objects and lists being parsed, as a stack shared by the nesting levels: each
/// level pushes onto it and, once complete, moves its own part into a vector of exactly its
/// size (one allocation per object or list, instead of a vector grown entry by entry).
#[derive(Default)]
struct Scratch<'de> {
    entries: Vec<(Cow<'de, str>, J<'de>)>,
    items: Vec<J<'de>>,
}

struct JSeed<'s, 'de> {
    scratch: &'s mut Scratch<'de>,
}

impl<'de> DeserializeSeed<'de> for JSeed<'_, 'de> {
    type Value = J<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(JVisitor {
            scratch: self.scratch,
        })
    }
}

impl<'de> de::Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut scratch = Scratch::default();
        JSeed {
            scratch: &mut scratch,
        }
        .deserialize(d)
    }
}

struct JVisitor<'s, 'de> {
    scratch: &'s mut Scratch<'de>,
}

impl<'de> Visitor<'de> for JVisitor<'_, 'de> {
    type Value = J<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Num(Num::I(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::Num(Num::U(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<J<'de>, E> {
        Ok(J::Num(Num::F(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let base = self.scratch.items.len();
        while let Some(v) = seq.next_element_seed(JSeed {
            scratch: &mut *self.scratch,
        })? {
            if !v.pruned() {
                self.scratch.items.push(v);
            }
        }
        Ok(J::Arr(self.scratch.items.drain(base..).collect()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let base = self.scratch.entries.len();
        // Distinct keys seen, pruned or not (a repeated key keeps its first slot); the keys
        // seen but not among the entries (pruned ones) are kept apart to recognize repeats.
        let mut distinct = 0usize;
        let mut gone: Vec<Cow<'de, str>> = Vec::new();
        while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
            let v = map.next_value_seed(JSeed {
                scratch: &mut *self.scratch,
            })?;
            let entries = &mut self.scratch.entries;
            let pos = entries[base..].iter().position(|(ek, _)| *ek == k);
            if pos.is_some() || gone.contains(&k) {
                // Last value wins, in the first key's position.
                match (pos, v.pruned()) {
                    (Some(p), false) => entries[base + p].1 = v,
                    (Some(p), true) => {
                        entries.remove(base + p);
                        gone.push(k);
                    }
                    (None, false) => entries.push((k, v)),
                    (None, true) => {}
                }
                continue;
            }
            distinct += 1;
            if v.pruned() {
                gone.push(k);
            } else {
                entries.push((k, v));
            }
        }
        Ok(J::Obj(Obj {
            entries: self.scratch.entries.drain(base..).collect(),
            built_with: distinct,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_prunes_and_keeps_order() {
        let j = J::parse(
            r#"{"b":1,"a":null,"c":{"x":"-","y":"none"},"d":[null,"",{"z":[]}],"e":"ok"}"#,
        )
        .unwrap();
        let o = j.as_obj().unwrap();
        let keys: Vec<&str> = o.entries.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["b", "e"]);
        assert_eq!(o.built_with, 5);
    }

    #[test]
    fn from_value_matches_parse_content() {
        let text = r#"{"k":{"n":1.5,"m":-3,"s":"a\"b"},"l":[1,2]}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            J::from_value(&v).to_value(),
            J::parse(text).unwrap().to_value()
        );
    }

    #[test]
    fn repeated_keys_pruned_in_between() {
        // Pruned first, then set: a new slot at the end; set, then pruned: the slot goes, and
        // a third value comes back at the end. Distinct keys count once.
        let j =
            J::parse(r#"{"a":null,"b":{"x":[{"y":1},null]},"a":2,"c":3,"b":"","b":4}"#).unwrap();
        let o = j.as_obj().unwrap();
        let keys: Vec<&str> = o.entries.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["a", "c", "b"]);
        assert_eq!(o.built_with, 3);
        assert_eq!(o.entries[2].1, J::Num(Num::U(4)));
    }

    #[test]
    fn duplicate_key_keeps_first_position() {
        let j = J::parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        let o = j.as_obj().unwrap();
        assert_eq!(o.entries[0].0, "a");
        assert_eq!(o.entries[0].1, J::Num(Num::U(3)));
        assert_eq!(o.built_with, 2);
    }
}
