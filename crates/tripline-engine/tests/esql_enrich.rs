//! ES|QL rules with `ENRICH`: the compile context's enrich source reaches execution, and a
//! rule whose policy has no data behind it does not compile.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tripline_doc::{time, Document, Event, Origin};
use tripline_engine::{compile_rule, CompileContext, CompileError};
use tripline_esql::EnrichSource;
use tripline_rules::Rule;

/// An ASN table of one network (203.0.113.0/24 → AS 64500), with no geo data.
struct AsnOnly;

impl EnrichSource for AsnOnly {
    fn has(&self, policy: &str) -> bool {
        policy == "asn"
    }

    fn lookup(&self, policy: &str, ip: IpAddr) -> Option<Map<String, Value>> {
        let IpAddr::V4(v4) = ip else { return None };
        if policy != "asn" || v4.octets()[..3] != [203, 0, 113] {
            return None;
        }
        json!({"number": 64500, "organization": {"name": "Example Hosting"}})
            .as_object()
            .cloned()
    }
}

fn rule(query: &str) -> Arc<Rule> {
    let text = format!(
        "[metadata]\ncreation_date = \"2024/01/01\"\n[rule]\nname = \"t\"\nrule_id = \"r1\"\ndescription = \"d\"\n\
         risk_score = 21\nseverity = \"low\"\ntype = \"esql\"\nlanguage = \"esql\"\nfrom = \"now-9m\"\n\
         interval = \"5m\"\nquery = '''\n{query}\n'''\n"
    );
    Arc::new(Rule::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}")))
}

fn event(seq: u64, at: &str, ip: &str) -> Arc<Event> {
    let doc = json!({
        "@timestamp": at,
        "data_stream": {"dataset": "aws.cloudtrail", "namespace": "default", "type": "logs"},
        "event": {"action": "ConsoleLogin", "id": format!("e{seq}"), "dataset": "aws.cloudtrail"},
        "user": {"name": format!("user{seq}")},
        "source": {"ip": ip},
    });
    Arc::new(Event {
        timestamp: time::parse_millis(at).unwrap(),
        doc: Document(doc.as_object().cloned().unwrap_or_default()),
        origin: Origin {
            file: "f".into(),
            record: seq + 1,
            line: None,
        },
        seq,
    })
}

const QUERY: &str = "FROM logs-aws.cloudtrail-* METADATA _id \
    | ENRICH asn ON source.ip WITH src_asn = as.number, as.organization.name \
    | WHERE src_asn == 64500 | KEEP _id, user.name, src_asn, as.organization.name";

#[test]
fn enrich_rule_alerts_on_enriched_columns() {
    let ctx = CompileContext {
        enrich: Some(Arc::new(AsnOnly)),
        ..CompileContext::default()
    };
    let mut det = compile_rule(&rule(QUERY), &ctx).unwrap_or_else(|e| panic!("{e}"));
    let events = [
        event(0, "2024-05-01T10:00:00Z", "203.0.113.7"),
        event(1, "2024-05-01T10:01:00Z", "198.51.100.1"),
        event(2, "2024-05-01T10:02:00Z", "not an ip"),
    ];
    let mut out = Vec::new();
    for e in &events {
        det.on_event(e, &mut out);
    }
    det.finish(&mut out);
    assert_eq!(out.len(), 1, "{:?}", det.stats());
    let fields = out[0].fields.as_ref().unwrap();
    assert_eq!(fields["user.name"], json!("user0"));
    assert_eq!(fields["src_asn"], json!(64500));
    assert_eq!(fields["as.organization.name"], json!("Example Hosting"));
    assert_eq!(out[0].events[0].seq, 0);
}

#[test]
fn enrich_without_its_database_does_not_compile() {
    let e = compile_rule(&rule(QUERY), &CompileContext::default())
        .err()
        .unwrap();
    assert!(matches!(e, CompileError::Unsupported(_)), "{e}");
    assert!(e.to_string().contains("ASN"), "{e}");
    let ctx = CompileContext {
        enrich: Some(Arc::new(AsnOnly)),
        ..CompileContext::default()
    };
    let geo = rule("FROM logs-aws.cloudtrail-* | ENRICH geoip | KEEP city_name");
    let e = compile_rule(&geo, &ctx).err().unwrap();
    assert!(e.to_string().contains("City or Country"), "{e}");
    let unknown = rule("FROM logs-aws.cloudtrail-* | ENRICH hosts_policy ON host.name");
    assert!(matches!(
        compile_rule(&unknown, &ctx).err().unwrap(),
        CompileError::Unsupported(_)
    ));
}
