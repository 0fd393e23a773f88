//! Dotted field paths over nested JSON, with Elasticsearch's `_source` semantics.

use serde_json::{Map, Value};

/// Pushes every value reachable at `path` in `map` into `out`.
///
/// Elasticsearch treats `{"a": {"b": 1}}`, `{"a.b": 1}` and `{"a": [{"b": 1}]}` alike for the
/// field `a.b`, so every split of the path into a key and a remainder is tried. Arrays are
/// flattened (recursively); `null`s are skipped because they are not indexed. An object at the
/// end of the path is returned as is (callers use it for `exists` on object/flattened fields).
pub fn collect_map<'a, E: Extend<&'a Value>>(map: &'a Map<String, Value>, path: &str, out: &mut E) {
    if let Some(v) = map.get(path) {
        push_leaf(v, out);
    }
    // Try every prefix ending at a dot: "a.b.c" -> ("a", "b.c"), ("a.b", "c").
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            let (head, rest) = (&path[..i], &path[i + 1..]);
            if let Some(v) = map.get(head) {
                descend(v, rest, out);
            }
        }
    }
}

fn descend<'a, E: Extend<&'a Value>>(v: &'a Value, rest: &str, out: &mut E) {
    match v {
        Value::Object(m) => collect_map(m, rest, out),
        Value::Array(items) => {
            for it in items {
                descend(it, rest, out);
            }
        }
        _ => {}
    }
}

pub(crate) fn push_leaf<'a, E: Extend<&'a Value>>(v: &'a Value, out: &mut E) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for it in items {
                push_leaf(it, out);
            }
        }
        other => out.extend(std::iter::once(other)),
    }
}

/// Sets `path` inside `map`, creating (or replacing non-object values with) nested objects.
pub fn set_map(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let slot = map
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                set_map(inner, rest, value);
            }
        }
    }
}

/// Gets a value at a nested path (no dotted keys, no arrays): the ECS output shape.
pub fn get_nested<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => map.get(path),
        Some((head, rest)) => match map.get(head)? {
            Value::Object(inner) => get_nested(inner, rest),
            _ => None,
        },
    }
}

/// Removes a nested path; empty parent objects left behind are removed too.
pub fn remove_map(map: &mut Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => map.remove(path),
        Some((head, rest)) => {
            let inner = map.get_mut(head)?.as_object_mut()?;
            let out = remove_map(inner, rest);
            if inner.is_empty() {
                map.remove(head);
            }
            out
        }
    }
}

/// Flattens a document into `(dotted.path, leaf)` pairs, arrays kept whole as leaves.
pub fn flatten(map: &Map<String, Value>) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, map: &'a Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
        for (k, v) in map {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(m) if !m.is_empty() => walk(&p, m, out),
                _ => out.push((p, v)),
            }
        }
    }
    let mut out = Vec::new();
    walk("", map, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vals(doc: Value, path: &str) -> Vec<Value> {
        let mut out: Vec<&Value> = Vec::new();
        collect_map(doc.as_object().unwrap(), path, &mut out);
        out.into_iter().cloned().collect()
    }

    #[test]
    fn nested_dotted_and_arrays_are_equivalent() {
        assert_eq!(vals(json!({"a": {"b": 1}}), "a.b"), vec![json!(1)]);
        assert_eq!(vals(json!({"a.b": 1}), "a.b"), vec![json!(1)]);
        assert_eq!(
            vals(json!({"a": [{"b": 1}, {"b": [2, 3]}]}), "a.b"),
            vec![json!(1), json!(2), json!(3)]
        );
        assert_eq!(vals(json!({"a": {"b.c": "x"}}), "a.b.c"), vec![json!("x")]);
        assert!(vals(json!({"a": {"b": null}}), "a.b").is_empty());
        assert!(vals(json!({"a": 1}), "a.b").is_empty());
    }

    #[test]
    fn set_and_remove_build_nested_objects() {
        let mut m = Map::new();
        set_map(&mut m, "x.y.z", json!(1));
        set_map(&mut m, "x.w", json!(2));
        assert_eq!(
            Value::Object(m.clone()),
            json!({"x": {"y": {"z": 1}, "w": 2}})
        );
        assert_eq!(remove_map(&mut m, "x.y.z"), Some(json!(1)));
        assert_eq!(Value::Object(m.clone()), json!({"x": {"w": 2}}));
        let flat = flatten(&m);
        assert_eq!(flat, vec![("x.w".to_string(), &json!(2))]);
    }
}
