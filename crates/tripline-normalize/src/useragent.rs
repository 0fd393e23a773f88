//! `user_agent.*` as Elasticsearch's `user_agent` processor builds it from the ua-parser
//! (uap-core) rules: `name` (family, `Other` when nothing matches), `version`
//! (`major[.minor[.patch[.build]]]`), `os.{name,version,full}`, `device.name` (`Other` when no
//! device rule matches), `original`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

static REGEXES: &str = include_str!(concat!(env!("OUT_DIR"), "/uap-regexes.json"));

struct Parsers {
    ua: ua_parser::user_agent::Extractor<'static>,
    os: ua_parser::os::Extractor<'static>,
    dev: ua_parser::device::Extractor<'static>,
    rules: usize,
}

fn build() -> Result<Parsers, String> {
    let r: ua_parser::Regexes<'static> =
        serde_json::from_str(REGEXES).map_err(|e| e.to_string())?;
    let rules = r.user_agent_parsers.len() + r.os_parsers.len() + r.device_parsers.len();
    let ua = r
        .user_agent_parsers
        .into_iter()
        .try_fold(ua_parser::user_agent::Builder::new(), |b, p| b.push(p))
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let os = r
        .os_parsers
        .into_iter()
        .try_fold(ua_parser::os::Builder::new(), |b, p| b.push(p))
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let dev = r
        .device_parsers
        .into_iter()
        .try_fold(ua_parser::device::Builder::new(), |b, p| b.push(p))
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Parsers { ua, os, dev, rules })
}

fn parsers() -> Option<&'static Parsers> {
    static P: OnceLock<Option<Parsers>> = OnceLock::new();
    P.get_or_init(|| build().ok()).as_ref()
}

/// Number of uap-core rules loaded (0 when the rule set could not be embedded or compiled).
pub fn rule_count() -> usize {
    parsers().map_or(0, |p| p.rules)
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// `major[.minor[.patch[.build]]]`, each part only when the previous one is present.
fn dotted(parts: [Option<&str>; 4]) -> Option<String> {
    let mut out = String::from(parts[0]?);
    for p in &parts[1..] {
        match p {
            Some(p) => {
                out.push('.');
                out.push_str(p);
            }
            None => break,
        }
    }
    Some(out)
}

/// The `user_agent` object for a User-Agent string.
pub fn parse(ua: &str) -> Value {
    let mut m = Map::new();
    m.insert("original".into(), ua.into());
    let Some(p) = parsers() else {
        m.insert("name".into(), "Other".into());
        m.insert("device".into(), device("Other"));
        return Value::Object(m);
    };
    match p.ua.extract(ua) {
        Some(v) if !v.family.is_empty() => {
            m.insert("name".into(), v.family.as_ref().into());
            if let Some(ver) = dotted([
                nonempty(v.major),
                nonempty(v.minor),
                nonempty(v.patch),
                nonempty(v.patch_minor),
            ]) {
                m.insert("version".into(), ver.into());
            }
        }
        _ => {
            m.insert("name".into(), "Other".into());
        }
    }
    if let Some(o) = p.os.extract(ua) {
        if !o.os.is_empty() {
            let mut os = Map::new();
            os.insert("name".into(), o.os.as_ref().into());
            if let Some(ver) = dotted([
                nonempty(o.major.as_deref()),
                nonempty(o.minor.as_deref()),
                nonempty(o.patch.as_deref()),
                nonempty(o.patch_minor.as_deref()),
            ]) {
                os.insert("full".into(), format!("{} {}", o.os, ver).into());
                os.insert("version".into(), ver.into());
            }
            m.insert("os".into(), Value::Object(os));
        }
    }
    let dev = p
        .dev
        .extract(ua)
        .map(|d| d.device.into_owned())
        .filter(|d| !d.is_empty());
    m.insert("device".into(), device(dev.as_deref().unwrap_or("Other")));
    Value::Object(m)
}

fn device(name: &str) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), name.into());
    Value::Object(d)
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Value>> = RefCell::new(HashMap::new());
}

const CACHE_MAX: usize = 16_384;

/// [`parse`] with a per-thread cache (CloudTrail repeats a handful of agents).
pub fn parse_cached(ua: &str) -> Value {
    if let Some(v) = CACHE.with(|c| c.borrow().get(ua).cloned()) {
        return v;
    }
    let v = parse(ua);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(ua.to_string(), v.clone());
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_embedded() {
        assert!(
            rule_count() > 500,
            "uap-core regexes missing: {}",
            rule_count()
        );
    }

    #[test]
    fn browser_and_os() {
        let v = parse("Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0");
        assert_eq!(v["name"], "Firefox");
        assert_eq!(v["version"], "24.0");
        assert_eq!(v["os"]["name"], "Windows");
        assert_eq!(v["os"]["version"], "7");
        assert_eq!(v["os"]["full"], "Windows 7");
        assert_eq!(v["device"]["name"], "Other");
    }

    #[test]
    fn aws_tools() {
        let v = parse("aws-cli/1.16.248 Python/3.4.7 Linux/4.9.184-0.1.ac.235.83.329.metal1.x86_64 botocore/1.12.239");
        assert_eq!(v["name"], "aws-cli");
        assert_eq!(v["version"], "1.16.248");
        assert_eq!(v["os"]["full"], "Linux 4.9.184");
        assert_eq!(v["device"]["name"], "Spider");
        let v =
            parse("aws-cli/2.18.17 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1016-aws md/arch#x86_64");
        assert_eq!(v["os"], serde_json::json!({"name": "Linux"}));
    }

    #[test]
    fn unknown_agent() {
        let v = parse("ec2.amazonaws.com");
        assert_eq!(
            v,
            serde_json::json!({"original": "ec2.amazonaws.com", "name": "Other", "device": {"name": "Other"}})
        );
        assert_eq!(parse_cached("ec2.amazonaws.com"), v);
    }
}
