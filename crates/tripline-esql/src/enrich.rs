//! `ENRICH` over Tripline's built-in enrich policies.
//!
//! Elasticsearch's `ENRICH <policy> [ON <match_field>] [WITH [new_name =] field, ...]` joins
//! each row with the enrich index of a policy. Tripline has no enrich indices; instead it
//! serves two built-in policies from the MaxMind databases given to it (`--geoip-db`), through
//! an [`EnrichSource`] carried in [`crate::ExecContext::enrich`]:
//!
//! | policy  | match field (default `ON`) | enrich fields (type)                                   |
//! |---------|----------------------------|--------------------------------------------------------|
//! | `geoip` | `source.ip` (an ip)        | `city_name`, `country_iso_code`, `country_name`, `continent_name`, `region_name`, `region_iso_code` (keyword), `location` (geo_point) |
//! | `asn`   | `source.ip` (an ip)        | `as.number` (long), `as.organization.name` (keyword)   |
//!
//! The geoip fields are the leaves of ECS's `geo` field set (what the `geoip` ingest
//! processor writes under `source.geo`); the asn fields are ECS's `as` field set (written
//! under `source.as`), keeping the `as.` prefix so a bare `number` column cannot clash.
//!
//! - Without `WITH`, every field of the policy becomes a column, in the order above.
//! - The match column may be an `ip` or a string holding one; any other value, an absent
//!   value, an unparsable string or an address no database knows yields nulls. A
//!   multi-valued match column is looked up value by value (multi-valued results).
//! - The mode prefix (`_any:`, `_coordinator:`, `_remote:`) is accepted and has no effect:
//!   everything is local.
//! - An unknown policy or enrich field is a parse error; running a query whose policy has no
//!   database behind it is an [`crate::ErrorKind::Unsupported`] error.

use std::net::IpAddr;

use serde_json::{Map, Value as Json};

use crate::value::{DataType, Value};

/// Where `ENRICH` finds its data: Tripline implements it over its GeoIP/ASN databases.
pub trait EnrichSource: Send + Sync {
    /// Whether data for the policy (`"geoip"` or `"asn"`) is available.
    fn has(&self, policy: &str) -> bool;

    /// The policy's fields for an address, `None` when nothing matches. Keys are the policy's
    /// enrich field names, either dotted (`"as.number"`) or as nested objects
    /// (`{"as": {"number": ..}}`; the `as.` prefix may also be left out); `location` is an
    /// object `{"lat", "lon"}`, an array `[lon, lat]` or a `"POINT(lon lat)"` string.
    fn lookup(&self, policy: &str, ip: IpAddr) -> Option<Map<String, Json>>;
}

/// A built-in enrich policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrichPolicy {
    GeoIp,
    Asn,
}

const GEOIP_FIELDS: &[(&str, DataType)] = &[
    ("city_name", DataType::Keyword),
    ("country_iso_code", DataType::Keyword),
    ("country_name", DataType::Keyword),
    ("continent_name", DataType::Keyword),
    ("region_name", DataType::Keyword),
    ("region_iso_code", DataType::Keyword),
    ("location", DataType::GeoPoint),
];

const ASN_FIELDS: &[(&str, DataType)] = &[
    ("as.number", DataType::Long),
    ("as.organization.name", DataType::Keyword),
];

impl EnrichPolicy {
    pub const ALL: [EnrichPolicy; 2] = [EnrichPolicy::GeoIp, EnrichPolicy::Asn];

    pub fn from_name(name: &str) -> Option<EnrichPolicy> {
        EnrichPolicy::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name queries use (and [`EnrichSource`] receives).
    pub fn name(self) -> &'static str {
        match self {
            EnrichPolicy::GeoIp => "geoip",
            EnrichPolicy::Asn => "asn",
        }
    }

    /// The column matched when `ON` is left out.
    pub fn match_field(self) -> &'static str {
        "source.ip"
    }

    /// Enrich fields and their types, in output order.
    pub fn fields(self) -> &'static [(&'static str, DataType)] {
        match self {
            EnrichPolicy::GeoIp => GEOIP_FIELDS,
            EnrichPolicy::Asn => ASN_FIELDS,
        }
    }

    pub fn field_type(self, field: &str) -> Option<DataType> {
        self.fields()
            .iter()
            .find(|(n, _)| *n == field)
            .map(|&(_, t)| t)
    }

    /// What the user must supply for the policy to have data.
    pub fn database_hint(self) -> &'static str {
        match self {
            EnrichPolicy::GeoIp => "a MaxMind City or Country database (--geoip-db)",
            EnrichPolicy::Asn => "a MaxMind ASN or ISP database (--geoip-db)",
        }
    }
}

/// The parsed `ENRICH` command.
#[derive(Debug, Clone)]
pub struct Enrich {
    pub policy: EnrichPolicy,
    /// The match column (`ON`, else the policy's match field).
    pub on: String,
    pub on_span: crate::ast::Span,
    /// `(output column, policy field)` pairs, in output order.
    pub fields: Vec<(String, &'static str)>,
    /// Position of the command (for execution errors).
    pub span: crate::ast::Span,
}

/// The addresses a match-column value names (strings are parsed; anything else has none).
pub(crate) fn match_ips(v: &Value) -> Vec<IpAddr> {
    match v {
        Value::Ip(ip) => vec![*ip],
        Value::Str(s) => s.trim().parse().ok().into_iter().collect(),
        Value::Multi(items) => items.iter().flat_map(match_ips).collect(),
        _ => Vec::new(),
    }
}

/// One field of a lookup result: dotted key first, then a nested path, then (for `as.*`)
/// the same path without the prefix.
fn get<'a>(m: &'a Map<String, Json>, field: &str) -> Option<&'a Json> {
    fn nested<'a>(m: &'a Map<String, Json>, path: &str) -> Option<&'a Json> {
        if let Some(v) = m.get(path) {
            return Some(v);
        }
        let (head, rest) = path.split_once('.')?;
        match m.get(head)? {
            Json::Object(inner) => nested(inner, rest),
            _ => None,
        }
    }
    nested(m, field).or_else(|| nested(m, field.strip_prefix("as.")?))
}

/// Converts a looked-up JSON value to the field's type (null when it does not fit).
pub(crate) fn field_value(m: &Map<String, Json>, field: &str, ty: DataType) -> Value {
    let Some(j) = get(m, field) else {
        return Value::Null;
    };
    match ty {
        DataType::Long => match j {
            Json::Number(n) => n
                .as_i64()
                .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok()))
                .map_or(Value::Null, Value::Long),
            Json::String(s) => s.trim().parse().map_or(Value::Null, Value::Long),
            _ => Value::Null,
        },
        DataType::GeoPoint => {
            geo_point(j).map_or(Value::Null, |(lon, lat)| Value::GeoPoint(lon, lat))
        }
        _ => match j {
            Json::String(s) => Value::Str(s.clone()),
            Json::Number(n) => Value::Str(n.to_string()),
            Json::Bool(b) => Value::Str(b.to_string()),
            _ => Value::Null,
        },
    }
}

/// `(lon, lat)` from the shapes Elasticsearch accepts for a geo_point.
fn geo_point(j: &Json) -> Option<(f64, f64)> {
    let (lon, lat) = match j {
        Json::Object(o) => (o.get("lon")?.as_f64()?, o.get("lat")?.as_f64()?),
        Json::Array(a) if a.len() == 2 => (a[0].as_f64()?, a[1].as_f64()?),
        Json::String(s) => {
            let inner = s
                .trim()
                .strip_prefix("POINT")?
                .trim()
                .strip_prefix('(')?
                .strip_suffix(')')?;
            let mut it = inner.split_whitespace();
            let lon = it.next()?.parse().ok()?;
            let lat = it.next()?.parse().ok()?;
            (lon, lat)
        }
        _ => return None,
    };
    let ok = lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat);
    ok.then_some((lon, lat))
}

/// Collapses per-address values into one cell (ES|QL: one match → its value, several →
/// multi-valued, none → null).
pub(crate) fn combine(mut vals: Vec<Value>) -> Value {
    vals.retain(|v| !v.is_null());
    match vals.len() {
        0 => Value::Null,
        1 => vals.pop().unwrap_or(Value::Null),
        _ => Value::Multi(vals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(j: Json) -> Map<String, Json> {
        match j {
            Json::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn fields_dotted_nested_and_unprefixed() {
        let nested = obj(json!({"number": 29518, "organization": {"name": "Bredband2 AB"}}));
        assert_eq!(
            field_value(&nested, "as.number", DataType::Long),
            Value::Long(29518)
        );
        assert_eq!(
            field_value(&nested, "as.organization.name", DataType::Keyword),
            Value::Str("Bredband2 AB".into())
        );
        let dotted = obj(json!({"as.number": "7", "as": {"organization": {"name": "X"}}}));
        assert_eq!(
            field_value(&dotted, "as.number", DataType::Long),
            Value::Long(7)
        );
        assert_eq!(
            field_value(&dotted, "as.organization.name", DataType::Keyword),
            Value::Str("X".into())
        );
        assert_eq!(
            field_value(&dotted, "city_name", DataType::Keyword),
            Value::Null
        );
    }

    #[test]
    fn geo_point_shapes_and_bounds() {
        let m = obj(
            json!({"a": {"lat": 58.4, "lon": 15.6}, "b": [15.6, 58.4], "c": "POINT (15.6 58.4)", "d": {"lat": 95.0, "lon": 1.0}, "e": "x"}),
        );
        for f in ["a", "b", "c"] {
            assert_eq!(
                field_value(&m, f, DataType::GeoPoint),
                Value::GeoPoint(15.6, 58.4),
                "{f}"
            );
        }
        assert_eq!(field_value(&m, "d", DataType::GeoPoint), Value::Null);
        assert_eq!(field_value(&m, "e", DataType::GeoPoint), Value::Null);
    }

    #[test]
    fn match_values() {
        assert_eq!(
            match_ips(&Value::Str(" 10.0.0.1 ".into())),
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert!(match_ips(&Value::Str("not-an-ip".into())).is_empty());
        assert!(match_ips(&Value::Long(5)).is_empty());
        let multi = Value::Multi(vec![
            Value::Ip("::1".parse().unwrap()),
            Value::Str("1.2.3.4".into()),
        ]);
        assert_eq!(match_ips(&multi).len(), 2);
        assert_eq!(combine(vec![Value::Null, Value::Long(1)]), Value::Long(1));
        assert_eq!(combine(vec![Value::Null]), Value::Null);
    }

    // ---- end to end, over a fake source ----

    use std::sync::Arc;
    use tripline_doc::{Document, Event, Origin, SharedEvent};

    use crate::{ErrorKind, ExecContext, Query, Table};

    /// Knows 81.2.69.142 (geo + as) and 1.128.0.1 (as only); counts lookups.
    struct Fake {
        policies: &'static [&'static str],
        calls: std::sync::atomic::AtomicUsize,
    }

    impl EnrichSource for Fake {
        fn has(&self, policy: &str) -> bool {
            self.policies.contains(&policy)
        }

        fn lookup(&self, policy: &str, ip: IpAddr) -> Option<Map<String, Json>> {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let j = match (policy, ip.to_string().as_str()) {
                ("geoip", "81.2.69.142") => {
                    json!({"city_name": "London", "country_iso_code": "GB", "country_name": "United Kingdom",
                    "continent_name": "Europe", "region_name": "England", "region_iso_code": "GB-ENG", "location": {"lat": 51.5142, "lon": -0.0931}})
                }
                ("asn", "81.2.69.142") => {
                    json!({"number": 20712, "organization": {"name": "Andrews & Arnold Ltd"}})
                }
                ("asn", "1.128.0.1") => {
                    json!({"as.number": 1221, "as.organization.name": "Telstra"})
                }
                _ => return None,
            };
            Some(obj(j))
        }
    }

    fn fake(policies: &'static [&'static str]) -> Arc<Fake> {
        Arc::new(Fake {
            policies,
            calls: Default::default(),
        })
    }

    fn events(ips: &[Json]) -> Vec<SharedEvent> {
        ips.iter()
            .enumerate()
            .map(|(i, ip)| {
                let mut doc = json!({"event": {"dataset": "aws.cloudtrail", "id": format!("e{i}")}, "user": {"name": format!("u{i}")}});
                if !ip.is_null() {
                    doc["source"] = json!({"ip": ip});
                }
                Arc::new(Event {
                    doc: Document(obj(doc)),
                    timestamp: 0,
                    origin: Origin {
                        file: "t".into(),
                        record: i as u64,
                        line: None,
                    },
                    seq: i as u64,
                })
            })
            .collect()
    }

    fn run_with(
        q: &str,
        evs: &[SharedEvent],
        src: Option<Arc<Fake>>,
    ) -> Result<Table, crate::EsqlError> {
        let src = src.map(|s| s as Arc<dyn EnrichSource>);
        Query::parse(q)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .execute(evs, &ExecContext::at(0).with_enrich(src))
    }

    fn col(t: &Table, name: &str) -> Vec<Json> {
        let i = t
            .column(name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns));
        t.rows.iter().map(|r| r[i].to_json()).collect()
    }

    #[test]
    fn geoip_without_with_adds_every_field() {
        let evs = events(&[
            json!("81.2.69.142"),
            json!("10.0.0.1"),
            Json::Null,
            json!("bogus"),
        ]);
        let t = run_with(
            "FROM logs-aws.cloudtrail-* | KEEP user.name, source.ip | ENRICH geoip ON source.ip",
            &evs,
            Some(fake(&["geoip"])),
        )
        .unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        let mut expect = vec!["user.name", "source.ip"];
        expect.extend(EnrichPolicy::GeoIp.fields().iter().map(|(n, _)| *n));
        assert_eq!(names, expect);
        let loc = t.columns.iter().find(|c| c.name == "location").unwrap();
        assert_eq!(loc.ty, DataType::GeoPoint);
        assert_eq!(
            col(&t, "city_name"),
            vec![json!("London"), Json::Null, Json::Null, Json::Null]
        );
        assert_eq!(col(&t, "region_iso_code")[0], json!("GB-ENG"));
        assert_eq!(
            t.get(0, "location"),
            Some(&Value::GeoPoint(-0.0931, 51.5142))
        );
    }

    #[test]
    fn with_renames_and_default_on_and_mode_prefix() {
        let evs = events(&[json!("81.2.69.142"), json!("1.128.0.1")]);
        for q in [
            "FROM logs-* | ENRICH _any:asn WITH src_asn = as.number, as.organization.name | KEEP user.name, src_asn, as.organization.name",
            "FROM logs-* | ENRICH `asn` ON source.ip WITH src_asn = as.number, as.organization.name | KEEP user.name, src_asn, as.organization.name",
            "FROM logs-* | ENRICH \"_coordinator:asn\" WITH src_asn = as.number, as.organization.name | KEEP user.name, src_asn, as.organization.name",
        ] {
            let t = run_with(q, &evs, Some(fake(&["asn"]))).unwrap();
            assert_eq!(t.columns.len(), 3, "{q}");
            assert_eq!(col(&t, "src_asn"), vec![json!(20712), json!(1221)], "{q}");
            assert_eq!(col(&t, "as.organization.name"), vec![json!("Andrews & Arnold Ltd"), json!("Telstra")], "{q}");
            assert_eq!(t.columns[1].ty, DataType::Long);
        }
    }

    #[test]
    fn enriched_columns_feed_later_commands() {
        let evs = events(&[
            json!("81.2.69.142"),
            json!("1.128.0.1"),
            json!("81.2.69.142"),
            Json::Null,
        ]);
        let src = fake(&["geoip", "asn"]);
        let t = run_with(
            "FROM logs-* | ENRICH geoip WITH country_iso_code | ENRICH asn WITH n = as.number \
             | STATS c = COUNT(*) BY country_iso_code, n | SORT c DESC",
            &evs,
            Some(src.clone()),
        )
        .unwrap();
        assert_eq!(col(&t, "c"), vec![json!(2), json!(1), json!(1)]);
        assert_eq!(
            col(&t, "country_iso_code"),
            vec![json!("GB"), Json::Null, Json::Null]
        );
        // Repeated addresses are looked up once per command: 2 distinct addresses × 2 policies.
        assert_eq!(src.calls.load(std::sync::atomic::Ordering::Relaxed), 4);
        let t = run_with(
            "FROM logs-* | ENRICH geoip ON source.ip WITH country_name | WHERE country_name == \"United Kingdom\" | KEEP user.name",
            &evs,
            Some(src),
        )
        .unwrap();
        assert_eq!(col(&t, "user.name"), vec![json!("u0"), json!("u2")]);
    }

    #[test]
    fn computed_and_multivalued_match_columns() {
        let evs = events(&[json!(["81.2.69.142", "1.128.0.1"]), json!("10.1.1.1")]);
        let t = run_with(
            "FROM logs-* | ENRICH asn WITH as.number | EVAL x = TO_IP(\"1.128.0.1\") | ENRICH asn ON x WITH y = as.number | KEEP as.number, y",
            &evs,
            Some(fake(&["asn"])),
        )
        .unwrap();
        assert_eq!(col(&t, "as.number"), vec![json!([20712, 1221]), Json::Null]);
        assert_eq!(col(&t, "y"), vec![json!(1221), json!(1221)]);
    }

    #[test]
    fn same_named_columns_are_replaced_rightmost_wins() {
        let evs = events(&[json!("81.2.69.142")]);
        let t = run_with(
            "FROM logs-* | EVAL city_name = \"old\", x = 1 | KEEP city_name, x, source.ip \
             | ENRICH geoip WITH x = city_name, x = country_name, city_name",
            &evs,
            Some(fake(&["geoip"])),
        )
        .unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["source.ip", "x", "city_name"]);
        assert_eq!(col(&t, "x"), vec![json!("United Kingdom")]);
        assert_eq!(col(&t, "city_name"), vec![json!("London")]);
    }

    #[test]
    fn errors() {
        let parse_err = |q: &str| Query::parse(q).unwrap_err();
        let e = parse_err("FROM logs-* | ENRICH languages_policy ON x");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(
            e.message
                .contains("unknown enrich policy [languages_policy]"),
            "{e}"
        );
        assert_eq!((e.line, e.col), (1, 22));
        let e = parse_err("FROM logs-* | ENRICH geoip WITH as.number");
        assert_eq!(e.kind, ErrorKind::Verification);
        assert!(
            e.message
                .contains("enrich field [as.number] not found in enrich policy [geoip]"),
            "{e}"
        );
        let e = parse_err("FROM logs-* | ENRICH _some:geoip");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!(parse_err("FROM logs-* | ENRICH").kind, ErrorKind::Syntax);
        // The match column must exist once the columns are fixed.
        let e = parse_err("FROM logs-* | KEEP user.name | ENRICH geoip");
        assert!(e.message.contains("source.ip"), "{e}");
        assert!(
            Query::parse("FROM logs-* | KEEP source.ip | ENRICH geoip | KEEP city_name").is_ok()
        );

        let evs = events(&[json!("81.2.69.142")]);
        let q = "FROM logs-* | ENRICH geoip";
        let e = run_with(q, &evs, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("City or Country database"), "{e}");
        let e = run_with(q, &evs, Some(fake(&["asn"]))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(
            Query::parse(q).unwrap().enrich_policies(),
            vec![EnrichPolicy::GeoIp]
        );
    }

    #[test]
    fn enrich_stops_the_prefilter_but_not_the_query() {
        let q = Query::parse("FROM logs-* | WHERE user.name != \"u9\" | ENRICH geoip WITH c = country_iso_code | WHERE c == \"GB\"").unwrap();
        let evs = events(&[json!("10.0.0.1")]);
        // Without the enrich data the prefilter cannot decide on `c`, so it keeps the event.
        assert!(q.prefilter(&evs[0]));
        let t = q
            .execute(
                &evs,
                &ExecContext::at(0).with_enrich(Some(fake(&["geoip"]))),
            )
            .unwrap();
        assert!(t.rows.is_empty());
    }
}
