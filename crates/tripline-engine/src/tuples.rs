//! Value tuples over multi-valued fields, as Elastic's new_terms and threshold rules count
//! them: every combination of the fields' values is a tuple. Both caps keep one pathological
//! event (thousands of values) from exploding state; hitting one is counted.

use tripline_doc::Event;

/// Most distinct values taken from one field of one event.
pub const MAX_VALUES_PER_FIELD: usize = 64;
/// Most tuples produced by one event.
pub const MAX_TUPLES_PER_EVENT: usize = 1024;

/// The distinct values of a field, rendered as keywords (numbers and booleans as strings).
pub fn distinct_values(ev: &Event, path: &str, truncated: &mut u64) -> Vec<String> {
    let mut vals: Vec<String> = Vec::new();
    for v in ev.doc.values(path) {
        if let Some(s) = tripline_ir::eval::value_as_string(v) {
            let s = s.into_owned();
            if !vals.contains(&s) {
                if vals.len() >= MAX_VALUES_PER_FIELD {
                    *truncated += 1;
                    break;
                }
                vals.push(s);
            }
        }
    }
    vals
}

/// Every combination of the event's values for `paths`, in field order; empty when a field
/// has no value. With no paths, one empty tuple (a rule grouping by nothing).
pub fn combinations(ev: &Event, paths: &[String], truncated: &mut u64) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for path in paths {
        let vals = distinct_values(ev, path, truncated);
        if vals.is_empty() {
            return Vec::new();
        }
        let mut next = Vec::with_capacity(out.len() * vals.len());
        'outer: for prefix in &out {
            for v in &vals {
                if next.len() >= MAX_TUPLES_PER_EVENT {
                    *truncated += 1;
                    break 'outer;
                }
                let mut t = prefix.clone();
                t.push(v.clone());
                next.push(t);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tripline_doc::{Document, Origin};

    fn ev(v: serde_json::Value) -> Event {
        Event {
            doc: Document(v.as_object().unwrap().clone()),
            timestamp: 0,
            origin: Origin {
                file: "t".into(),
                record: 1,
                line: None,
            },
            seq: 0,
        }
    }

    #[test]
    fn every_combination_of_multi_valued_fields() {
        let e = ev(serde_json::json!({"a": ["x", "y", "x"], "b": [1, 2]}));
        let mut t = 0;
        let got = combinations(&e, &["a".into(), "b".into()], &mut t);
        assert_eq!(
            got,
            vec![
                vec!["x", "1"],
                vec!["x", "2"],
                vec!["y", "1"],
                vec!["y", "2"]
            ]
        );
        assert!(combinations(&e, &["a".into(), "missing".into()], &mut t).is_empty());
        assert_eq!(combinations(&e, &[], &mut t), vec![Vec::<String>::new()]);
        assert_eq!(t, 0);
    }
}
