//! The bits of Java behaviour the pipeline's output depends on: `String.hashCode`, `HashMap`
//! iteration order, `Map`/`List`/`Double` `toString`, and `String.compareTo` (TreeSet order).

use std::cmp::Ordering;
use std::fmt::Write;

use crate::jtree::{Num, Obj, J};

/// `String.hashCode()`: over UTF-16 code units, `31*h + c` with int overflow.
pub(crate) fn string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for u in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u as i32);
    }
    h
}

/// Bucket table size of a `HashMap` after `n` distinct insertions into `new HashMap<>()`:
/// 16, doubled whenever the size exceeds 3/4 of it.
pub(crate) fn hashmap_capacity(n: usize) -> usize {
    let mut cap = 16usize;
    while n > cap / 4 * 3 {
        cap *= 2;
    }
    cap
}

fn bucket(key: &str, cap: usize) -> usize {
    let h = string_hash(key) as u32;
    ((h ^ (h >> 16)) as usize) & (cap - 1)
}

/// Indices of `keys` (given in insertion order) in the order a `HashMap` holding them iterates:
/// by bucket, insertion order within a bucket (resizes keep it).
pub(crate) fn hashmap_order<'k>(
    keys: impl Iterator<Item = &'k str>,
    built_with: usize,
) -> Vec<usize> {
    let cap = hashmap_capacity(built_with);
    let mut idx: Vec<(usize, usize)> = keys.enumerate().map(|(i, k)| (bucket(k, cap), i)).collect();
    idx.sort_by_key(|&(b, _)| b); // stable
    idx.into_iter().map(|(_, i)| i).collect()
}

/// `Double.toString(d)` (JDK 19+: shortest digits that round-trip).
pub(crate) fn double_to_string(d: f64, out: &mut String) {
    if d.is_nan() {
        out.push_str("NaN");
        return;
    }
    if d.is_infinite() {
        out.push_str(if d > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if d == 0.0 {
        out.push_str(if d.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Shortest round-trip digits and decimal exponent from Rust's formatter.
    let sci = format!("{:e}", d.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    if d < 0.0 {
        out.push('-');
    }
    let a = d.abs();
    if (1e-3..1e7).contains(&a) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        let _ = write!(out, "E{exp}");
    }
}

fn num_to_string(n: Num, out: &mut String) {
    match n {
        Num::I(i) => {
            let _ = write!(out, "{i}");
        }
        Num::U(u) => {
            let _ = write!(out, "{u}");
        }
        Num::F(f) => double_to_string(f, out),
    }
}

/// `Object.toString()` of the value the JSON processor built: `HashMap` → `{k=v, ...}` in bucket
/// order, `ArrayList` → `[a, b]`, strings bare.
pub(crate) fn to_java_string(j: &J, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => num_to_string(*n, out),
        J::Str(s) => out.push_str(s),
        J::Arr(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                to_java_string(v, out);
            }
            out.push(']');
        }
        J::Obj(o) => obj_to_java_string(o, out),
    }
}

fn obj_to_java_string(o: &Obj, out: &mut String) {
    out.push('{');
    let order = hashmap_order(o.entries.iter().map(|(k, _)| &**k), o.built_with);
    for (n, i) in order.into_iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        let (k, v) = &o.entries[i];
        out.push_str(k);
        out.push('=');
        to_java_string(v, out);
    }
    out.push('}');
}

pub(crate) fn java_string(j: &J) -> String {
    let mut s = String::new();
    to_java_string(j, &mut s);
    s
}

/// `String.compareTo`: UTF-16 code unit order (differs from byte order only around
/// supplementary characters).
pub(crate) fn java_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Sorts and de-duplicates like a `TreeSet<String>`.
pub(crate) fn tree_set(v: &mut Vec<String>) {
    v.sort_by(|a, b| java_cmp(a, b));
    v.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: f64) -> String {
        let mut s = String::new();
        double_to_string(x, &mut s);
        s
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(d(1.5), "1.5");
        assert_eq!(d(100.0), "100.0");
        assert_eq!(d(1e10), "1.0E10");
        assert_eq!(d(1.0e7), "1.0E7");
        assert_eq!(d(9999999.0), "9999999.0");
        assert_eq!(d(0.001), "0.001");
        assert_eq!(d(0.0001), "1.0E-4");
        assert_eq!(d(-2.5e-5), "-2.5E-5");
        assert_eq!(d(47.2513), "47.2513");
        assert_eq!(d(123456.789), "123456.789");
        assert_eq!(d(0.0), "0.0");
    }

    #[test]
    fn string_hash_matches_java() {
        // Known Java values.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("hello"), 99162322);
        assert_eq!(string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn hashmap_order_matches_java() {
        // Java: new HashMap with put(action), put(functionName), put(principal), put(statementId)
        // iterates principal, functionName, statementId, action.
        let keys = ["action", "functionName", "principal", "statementId"];
        let order = hashmap_order(keys.iter().copied(), 4);
        let got: Vec<&str> = order.into_iter().map(|i| keys[i]).collect();
        assert_eq!(got, ["principal", "functionName", "statementId", "action"]);
    }

    #[test]
    fn capacity_grows_past_three_quarters() {
        assert_eq!(hashmap_capacity(0), 16);
        assert_eq!(hashmap_capacity(12), 16);
        assert_eq!(hashmap_capacity(13), 32);
        assert_eq!(hashmap_capacity(24), 32);
        assert_eq!(hashmap_capacity(25), 64);
    }

    #[test]
    fn nested_rendering() {
        let j = J::parse(r#"{"a":{"b":[1,2.0,"x"]},"c":true}"#).unwrap();
        // "a" hashes to bucket 1, "c" to bucket 3.
        assert_eq!(java_string(&j), "{a={b=[1, 2.0, x]}, c=true}");
    }

    #[test]
    fn tree_set_orders_by_utf16() {
        let mut v = vec![
            "b".to_string(),
            "B".to_string(),
            "a".to_string(),
            "b".to_string(),
        ];
        tree_set(&mut v);
        assert_eq!(v, ["B", "a", "b"]);
        // U+FF61 sorts after U+1F600 in UTF-8 byte order but before it in UTF-16.
        let mut v = vec!["\u{1F600}".to_string(), "\u{FF61}".to_string()];
        tree_set(&mut v);
        assert_eq!(v, ["\u{1F600}", "\u{FF61}"]);
    }
}
