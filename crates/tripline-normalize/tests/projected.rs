//! `Normalizer::normalize_projected` gives, for every wanted field, exactly what the full
//! normalization gives: its result must equal the full document's projection, on the
//! in-repo records, hand-written edge cases (pipeline errors, digests, dotted keys, odd
//! types) and, when present, the Elastic pipeline's test inputs from the shared corpus.

use std::path::Path;
use std::sync::Arc;

use tripline_doc::projection::Projection;
use tripline_normalize::{FieldPlan, GeoIp, NormalizeOptions, Normalizer, Retain};

/// Records that exercise the skipped steps' neighbours and the error paths.
const EDGE: &[&str] = &[
    // userIdentity.type not a string: the service-actor and entity scripts fail.
    r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject","userIdentity":{"type":7,"arn":"arn:aws:iam::1:user/x"},"userAgent":"aws-cli/2.1 Python/3.8","sourceIPAddress":"89.160.20.112"}"#,
    // Bad creation date (date processor error), keyword sources of every kind.
    r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"PutBucketPolicy","eventSource":"s3.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/bob@example.com","sessionContext":{"attributes":{"creationDate":"yesterday","mfaAuthenticated":"true"},"sessionIssuer":{"arn":"arn:aws:iam::1:role/aws-service-role/ecs.amazonaws.com/R","userName":"R"}}},"requestParameters":{"bucketName":"b","a.b":{"c":1},"policy":{"Statement":[{"Effect":"Allow"}]}},"responseElements":{"x":null,"y":[1,2.5,"z"]},"additionalEventData":{"SignatureVersion":"SigV4","bytesTransferredIn":0.0},"serviceEventDetails":{"sourceIpAddress":"2001:db8::1"},"sourceIPAddress":"81.2.69.142","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36","tlsDetails":{"tlsVersion":"TLSv1.3","clientProvidedHostHeader":"example.org"},"resources":[{"ARN":"arn:aws:ec2:us-east-1:1:instance/i-0123456789abcdef0","accountId":"1","type":"AWS::EC2::Instance"}]}"#,
    // ConsoleLogin with a non-string outcome (categorization error).
    r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"ConsoleLogin","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root","accountId":"1"},"responseElements":{"ConsoleLogin":1},"additionalEventData":{"MFAUsed":"No","MobileVersion":"No","LoginTo":"https://console"}}"#,
    // A digest record.
    r#"{"awsAccountId":"1","digestStartTime":"2023-01-01T00:00:00Z","digestEndTime":"2023-01-01T01:00:00Z","digestS3Bucket":"b","digestS3Object":"o","previousDigestHashValue":"h","logFiles":[{"s3Object":"o1"}]}"#,
    // Invalid records: the errors must match too.
    r#"{"eventName":"X"}"#,
    r#"{"eventTime":"nope","eventName":"X"}"#,
    r#"[1]"#,
    r#"{"eventTime":"2024-01-01T00:00:00Z""#,
];

const PLANS: &[&[&str]] = &[
    &["event.action"],
    &[
        "event.action",
        "user.name",
        "source.ip",
        "aws.cloudtrail.user_identity.arn",
    ],
    &[
        "user_agent.original",
        "user_agent.name",
        "source.geo.country_iso_code",
    ],
    &["user_agent.original", "event.outcome"],
    &["user_agent.os.full"],
    &["source.as.organization.name", "source.geo.location"],
    &["event.kind", "error.message", "tags"],
    &[
        "aws.cloudtrail.request_parameters",
        "aws.cloudtrail.flattened.request_parameters.bucketName",
    ],
    &[
        "aws.cloudtrail.flattened.request_parameters.a.b.c",
        "aws.cloudtrail.flattened.response_elements.y",
    ],
    &[
        "aws.cloudtrail.flattened",
        "aws.cloudtrail.additional_eventdata",
    ],
    &[
        "related.entity",
        "actor.entity.id",
        "user.entity.id",
        "target.entity.id",
    ],
    &["user", "related", "event"],
    &["aws", "@timestamp"],
    &[
        "event.original",
        "cloud.account.id",
        "aws.cloudtrail.flattened.digest.end_time",
    ],
    &[
        "tls.version",
        "tls.client.server_name",
        "related.hosts",
        "host.target.id",
    ],
    &["no.such.field"],
    // Wanted fields with wanted fields below them.
    &[
        "aws.cloudtrail.flattened",
        "aws.cloudtrail.flattened.request_parameters.a.b.c",
        "aws.cloudtrail.flattened.request_parameters.a",
        "user",
        "user.name",
        "aws.cloudtrail.user_identity",
        "aws.cloudtrail.user_identity.arn",
        "aws.cloudtrail.resources",
        "aws.cloudtrail.resources.arn",
        "event.type",
        "source",
        "source.geo.location.lat",
    ],
    // What Elastic's AWS rules read, roughly.
    &[
        "aws.cloudtrail.user_identity.arn",
        "event.action",
        "user_agent.original",
        "source.ip",
        "aws.cloudtrail.request_parameters",
        "event.outcome",
        "aws.cloudtrail.user_identity.type",
        "aws.cloudtrail.user_identity.access_key_id",
        "cloud.account.id",
        "user.name",
        "event.provider",
        "cloud.region",
        "event.ingested",
        "data_stream.dataset",
        "aws.cloudtrail.response_elements",
        "source.as.organization.name",
        "aws.cloudtrail.resources.arn",
        "source.geo",
        "source.address",
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
        "aws.cloudtrail.resources.type",
        "source.as.number",
        "aws.cloudtrail.user_identity.invoked_by",
        "event.type",
        "aws.cloudtrail.error_code",
        "user.id",
        "aws.cloudtrail.flattened.request_parameters",
        "tls.client.server_name",
        "event.dataset",
        "aws.cloudtrail.session_credential_from_console",
        "data_stream.namespace",
        "user.target.name",
        "target.id",
        "aws.cloudtrail.resources.account_id",
        "user_agent.name",
        "aws.cloudtrail.recipient_account_id",
        "aws.cloudtrail.error_message",
        "aws.cloudtrail.additional_eventdata",
        "aws.cloudtrail.console_login.additional_eventdata.mfa_used",
        "aws.cloudtrail.flattened.response_elements",
        "@timestamp",
        "event.category",
    ],
];

fn records() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<String> = EDGE.iter().map(|s| s.to_string()).collect();
    let own = std::fs::read_to_string(root.join("tests/data/records.ndjson")).unwrap();
    out.extend(own.lines().filter(|l| !l.is_empty()).map(str::to_string));
    // The Elastic pipeline's test inputs, when the shared corpus is present.
    let dir = root.join("../../../shared/corpus/elastic-cloudtrail-pipeline");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
            }
        }
    }
    out
}

fn geoip() -> Option<Arc<GeoIp>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/maxmind-test-db");
    let files = [
        dir.join("GeoLite2-City-Test.mmdb"),
        dir.join("GeoLite2-ASN-Test.mmdb"),
    ];
    if !files.iter().all(|f| f.exists()) {
        return None;
    }
    GeoIp::open(&files).ok().map(Arc::new)
}

/// Every path (object keys joined by dots, down to non-objects) of a document.
fn paths(prefix: &str, m: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<String>) {
    for (k, v) in m {
        let p = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let serde_json::Value::Object(c) = v {
            paths(&p, c, out);
        }
        out.push(p);
    }
}

fn check(opts: NormalizeOptions) {
    let n = Normalizer::new(opts);
    let recs = records();
    // The fixed sets, and each single field any full document has (a field derived from
    // another one must come out right when only it is wanted).
    let mut plans: Vec<Vec<String>> = PLANS
        .iter()
        .map(|f| f.iter().map(|s| s.to_string()).collect())
        .collect();
    let mut singles = Vec::new();
    for text in &recs {
        if let Ok((d, _)) = n.normalize_json(text) {
            paths("", &d.0, &mut singles);
        }
    }
    singles.sort();
    singles.dedup();
    plans.extend(
        singles
            .into_iter()
            .filter(|f| !f.split('.').any(str::is_empty) && !f.contains('*'))
            .map(|f| vec![f]),
    );
    for fields in &plans {
        let p = Projection::new(fields.iter()).unwrap();
        let plan = FieldPlan::new(&p);
        for text in &recs {
            // As JSON text: key order counts too (`Map` equality ignores it).
            let full = n.normalize_json(text).map(|(d, ts)| {
                (
                    serde_json::to_string(&d.project(&p, text.clone())).unwrap(),
                    ts,
                )
            });
            let got = n
                .normalize_projected(text, &plan)
                .map(|(d, ts)| (serde_json::to_string(&d).unwrap(), ts));
            assert_eq!(got, full, "fields {fields:?}, record {text}");
        }
    }
}

#[test]
fn projected_equals_projection_of_full() {
    check(NormalizeOptions::default());
}

#[test]
fn projected_equals_projection_of_full_with_options() {
    check(NormalizeOptions {
        keep_original: true,
        geoip: geoip(),
        ingest_time: Some("2024-02-02T00:00:00.000Z".into()),
        retain: Retain::Minimal,
        ..Default::default()
    });
    check(NormalizeOptions {
        geoip: geoip(),
        retain: Retain::Keyword,
        actor_target_mapping: false,
        data_stream_fields: false,
        ..Default::default()
    });
}

/// The plan does skip work: a projection without user-agent fields has none, and one with
/// them has the parsed agent.
#[test]
fn unwanted_steps_leave_no_trace_wanted_ones_run() {
    let n = Normalizer::new(NormalizeOptions::default());
    let text = EDGE[1];
    let p = Projection::new(["user_agent.name", "event.action"]).unwrap();
    let (d, _) = n.normalize_projected(text, &FieldPlan::new(&p)).unwrap();
    assert_eq!(d.0["user_agent.name"], "Chrome");
    assert_eq!(d.0["event.action"], "PutBucketPolicy");
    assert_eq!(d.source(), Some(text));
}
