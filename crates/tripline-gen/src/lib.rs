//! Deterministic (seeded) generator of realistic CloudTrail records, and a writer that lays
//! them out as CloudTrail delivers them to S3 (for benchmarks and differential tests).
//!
//! The records look like a busy organisation's trail: a few accounts; IAM users with
//! long-term keys; roles assumed by users and by AWS services, whose temporary `ASIA` keys
//! are issued by a matching `AssumeRole` / `GetSessionToken` event before they are used;
//! console sign-ins followed by console activity; a weighted mix of services and API calls
//! (S3 data events, EC2/IAM/KMS/SSM/Lambda/... management events, some denied); deep
//! `userIdentity.sessionContext`; occasionally a large `requestParameters` (policy documents);
//! and, every [`GenConfig::attack_every`] records, one attack scenario (IAM persistence,
//! trail tampering, snapshot exfiltration, secret harvesting, console brute force).
//! Records average about 1.1 KB of JSON.
//!
//! ```no_run
//! use tripline_gen::{GenConfig, Generator, write_s3_corpus};
//! let cfg = GenConfig { records: 10_000, ..GenConfig::default() };
//! for rec in Generator::new(&cfg).take(3) { println!("{rec}"); }
//! let summary = write_s3_corpus(std::path::Path::new("/tmp/corpus"), &cfg).unwrap();
//! println!("{} files, {} records", summary.files, summary.records);
//! ```

mod rng;

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub use rng::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    /// Total records (attack events included).
    pub records: u64,
    /// Records per delivery file, drawn uniformly in this range per file.
    pub min_per_file: usize,
    pub max_per_file: usize,
    /// Number of AWS accounts (one organisation).
    pub accounts: usize,
    /// Time of the first record, epoch seconds.
    pub start_epoch_secs: i64,
    /// Mean gap between background records, milliseconds.
    pub mean_gap_ms: f64,
    /// An attack scenario starts every this many records (0: none).
    pub attack_every: u64,
    /// gzip level of the written files (CloudTrail's files compress like level 6).
    pub gzip_level: u32,
    /// Longest span of event time in one delivery file, seconds: CloudTrail delivers a file
    /// about every 5 minutes per account and region, so quiet regions get small files rather
    /// than files spanning hours (0: no limit, files end only on `max_per_file`).
    pub max_file_span_secs: i64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            records: 100_000,
            min_per_file: 1_000,
            max_per_file: 5_000,
            accounts: 3,
            start_epoch_secs: 1_709_251_200, // 2024-03-01T00:00:00Z
            mean_gap_ms: 40.0,
            attack_every: 50_000,
            gzip_level: 6,
            max_file_span_secs: 300,
        }
    }
}

const REGIONS: &[(&str, u32)] = &[
    ("us-east-1", 50),
    ("eu-west-1", 20),
    ("us-west-2", 15),
    ("ap-southeast-2", 10),
    ("eu-central-1", 5),
];

const SERVICE_PRINCIPALS: &[&str] = &[
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "glue.amazonaws.com",
    "states.amazonaws.com",
];

const SDK_AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.10.213-201.855.amzn2.x86_64 exe/x86_64.amzn.2 prompt/off command/s3.cp",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.6 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.1",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.209 md/arch#x86_64 lang/python#3.11.6 Botocore/1.34.51",
    "aws-sdk-java/2.25.6 Linux/5.10.210 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc.",
    "terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.1 (go1.21.6; linux; amd64)",
];

const CONSOLE_AGENT: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";

const ATTACKER_IPS: &[&str] = &[
    "185.220.101.47",
    "45.137.21.9",
    "193.32.162.70",
    "91.219.236.18",
];

/// API calls of background activity: (eventSource, eventName, readOnly, weight).
const CALLS: &[(&str, &str, bool, u32)] = &[
    ("s3.amazonaws.com", "GetObject", true, 110),
    ("s3.amazonaws.com", "PutObject", false, 40),
    ("s3.amazonaws.com", "ListObjects", true, 15),
    ("s3.amazonaws.com", "HeadObject", true, 20),
    ("s3.amazonaws.com", "GetBucketAcl", true, 15),
    ("ec2.amazonaws.com", "DescribeInstances", true, 60),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", true, 20),
    ("ec2.amazonaws.com", "DescribeVolumes", true, 15),
    ("ec2.amazonaws.com", "CreateTags", false, 8),
    ("ec2.amazonaws.com", "RunInstances", false, 3),
    (
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
        2,
    ),
    ("kms.amazonaws.com", "Decrypt", true, 80),
    ("kms.amazonaws.com", "GenerateDataKey", true, 40),
    ("sts.amazonaws.com", "GetCallerIdentity", true, 25),
    ("iam.amazonaws.com", "ListRoles", true, 8),
    ("iam.amazonaws.com", "GetRole", true, 10),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", true, 6),
    ("iam.amazonaws.com", "PutRolePolicy", false, 1),
    ("iam.amazonaws.com", "CreatePolicyVersion", false, 1),
    ("logs.amazonaws.com", "CreateLogStream", false, 25),
    ("logs.amazonaws.com", "DescribeLogGroups", true, 10),
    ("lambda.amazonaws.com", "Invoke", false, 20),
    ("lambda.amazonaws.com", "GetFunction", true, 6),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        false,
        1,
    ),
    ("ssm.amazonaws.com", "GetParameter", true, 25),
    ("ssm.amazonaws.com", "UpdateInstanceInformation", false, 20),
    ("secretsmanager.amazonaws.com", "GetSecretValue", true, 8),
    ("dynamodb.amazonaws.com", "DescribeTable", true, 10),
    ("monitoring.amazonaws.com", "GetMetricData", true, 15),
    ("ecr.amazonaws.com", "GetAuthorizationToken", true, 6),
    ("cloudtrail.amazonaws.com", "LookupEvents", true, 3),
    ("rds.amazonaws.com", "DescribeDBInstances", true, 5),
    ("config.amazonaws.com", "PutEvaluations", false, 5),
    (
        "elasticloadbalancing.amazonaws.com",
        "DescribeTargetHealth",
        true,
        8,
    ),
];

/// Services whose calls are recorded in us-east-1 whatever region the caller uses.
fn global(source: &str) -> bool {
    matches!(source, "iam.amazonaws.com" | "signin.amazonaws.com")
}

#[derive(Clone)]
struct Account {
    id: String,
}

#[derive(Clone)]
struct User {
    account: usize,
    name: String,
    principal_id: String,
    key: String,
    ip: String,
    agent: &'static str,
}

#[derive(Clone)]
struct Role {
    account: usize,
    name: String,
    role_id: String,
}

/// Who got a temporary credential, and from what.
#[derive(Clone)]
enum Issuer {
    User(usize),
    Service(&'static str),
}

#[derive(Clone)]
struct Session {
    /// None: a GetSessionToken session of the issuing user.
    role: Option<usize>,
    issuer: Issuer,
    name: String,
    key: String,
    created_ms: i64,
    expires_ms: i64,
    ip: String,
    agent: &'static str,
    console: bool,
    mfa: bool,
}

/// The generator: an iterator of records in time order, deterministic for a seed.
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
    t_ms: i64,
    accounts: Vec<Account>,
    users: Vec<User>,
    roles: Vec<Role>,
    sessions: Vec<Session>,
    /// Scenario events waiting for their time: (time, record).
    pending: VecDeque<(i64, Value)>,
    emitted: u64,
    attacks: u64,
    call_weights: u32,
}

impl Generator {
    pub fn new(cfg: &GenConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let accounts: Vec<Account> = (0..cfg.accounts.max(1))
            .map(|_| Account { id: rng.digits(12) })
            .collect();
        let first = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
            "mallory", "oscar",
        ];
        let mut users = Vec::new();
        for (i, n) in first.iter().enumerate() {
            let account = i % accounts.len();
            users.push(User {
                account,
                name: format!("{n}.{}", ["ops", "dev", "data", "sec"][i % 4]),
                principal_id: format!("AIDA{}", rng.upper_alnum(16)),
                key: format!("AKIA{}", rng.upper_alnum(16)),
                ip: format!("203.0.113.{}", 10 + i),
                agent: SDK_AGENTS[i % SDK_AGENTS.len()],
            });
        }
        for i in 0..4 {
            users.push(User {
                account: i % accounts.len(),
                name: format!("svc-deploy-{i}"),
                principal_id: format!("AIDA{}", rng.upper_alnum(16)),
                key: format!("AKIA{}", rng.upper_alnum(16)),
                ip: format!("198.51.100.{}", 20 + i),
                agent: SDK_AGENTS[4],
            });
        }
        let role_names = [
            "OrganizationAccountAccessRole",
            "AdminRole",
            "ReadOnly",
            "DataPipelineRole",
            "LambdaExecutionRole",
            "EC2AppRole",
            "EcsTaskRole",
            "GlueJobRole",
            "SecurityAudit",
            "DeployRole",
        ];
        let mut roles = Vec::new();
        for a in 0..accounts.len() {
            for n in role_names {
                roles.push(Role {
                    account: a,
                    name: n.to_string(),
                    role_id: format!("AROA{}", rng.upper_alnum(17)),
                });
            }
        }
        let call_weights = CALLS.iter().map(|c| c.3).sum();
        Generator {
            cfg: cfg.clone(),
            rng,
            t_ms: cfg.start_epoch_secs * 1000,
            accounts,
            users,
            roles,
            sessions: Vec::new(),
            pending: VecDeque::new(),
            emitted: 0,
            attacks: 0,
            call_weights,
        }
    }

    /// Attack scenarios started so far.
    pub fn attacks(&self) -> u64 {
        self.attacks
    }

    fn time(ms: i64) -> String {
        chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
    }

    fn region(&mut self) -> &'static str {
        let total: u32 = REGIONS.iter().map(|r| r.1).sum();
        let mut x = self.rng.below(total as u64) as u32;
        for (r, w) in REGIONS {
            if x < *w {
                return r;
            }
            x -= w;
        }
        REGIONS[0].0
    }

    /// The fields every record has.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        t_ms: i64,
        identity: Value,
        source: &str,
        name: &str,
        region: &str,
        ip: &str,
        agent: &str,
        read_only: bool,
        request: Value,
        response: Value,
    ) -> Value {
        let account = identity
            .get("accountId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.accounts[0].id.clone());
        let region = if global(source) { "us-east-1" } else { region };
        let mut r = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": Self::time(t_ms),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
            "requestParameters": request,
            "responseElements": response,
            "requestID": self.rng.uuid(),
            "eventID": self.rng.uuid(),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": account,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com")),
            },
        });
        if source == "s3.amazonaws.com"
            && matches!(
                name,
                "GetObject" | "PutObject" | "HeadObject" | "ListObjects"
            )
        {
            let bucket = r["requestParameters"]["bucketName"]
                .as_str()
                .unwrap_or("bucket")
                .to_string();
            let key = r["requestParameters"]["key"].as_str().map(str::to_string);
            let mut resources = vec![
                json!({"type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}"), "accountId": account}),
            ];
            if let Some(k) = key {
                resources.insert(
                    0,
                    json!({"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{k}")}),
                );
            }
            r["managementEvent"] = json!(false);
            r["eventCategory"] = json!("Data");
            r["resources"] = json!(resources);
            r["additionalEventData"] = json!({
                "SignatureVersion": "SigV4",
                "bytesTransferredIn": if name == "PutObject" { self.rng.below(2_000_000) } else { 0 },
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": self.rng.alnum(40),
                "bytesTransferredOut": if name == "GetObject" { self.rng.below(5_000_000) } else { 0 },
            });
        }
        r
    }

    fn user_identity(
        &self,
        u: usize,
        key: Option<&str>,
        session: Option<(&Session, bool)>,
    ) -> Value {
        let user = &self.users[u];
        let acct = &self.accounts[user.account].id;
        let mut id = json!({
            "type": "IAMUser",
            "principalId": user.principal_id,
            "arn": format!("arn:aws:iam::{acct}:user/{}", user.name),
            "accountId": acct,
            "userName": user.name,
        });
        if let Some(k) = key {
            id["accessKeyId"] = json!(k);
        }
        if let Some((s, _)) = session {
            id["sessionContext"] = json!({
                "attributes": {"creationDate": Self::time(s.created_ms), "mfaAuthenticated": s.mfa.to_string()}
            });
        }
        id
    }

    fn session_identity(&self, s: &Session) -> Value {
        match (s.role, &s.issuer) {
            (Some(r), _) => {
                let role = &self.roles[r];
                let acct = &self.accounts[role.account].id;
                let mut id = json!({
                    "type": "AssumedRole",
                    "principalId": format!("{}:{}", role.role_id, s.name),
                    "arn": format!("arn:aws:sts::{acct}:assumed-role/{}/{}", role.name, s.name),
                    "accountId": acct,
                    "accessKeyId": s.key,
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": role.role_id,
                            "arn": format!("arn:aws:iam::{acct}:role/{}", role.name),
                            "accountId": acct,
                            "userName": role.name,
                        },
                        "webIdFederationData": {},
                        "attributes": {"creationDate": Self::time(s.created_ms), "mfaAuthenticated": s.mfa.to_string()},
                    },
                });
                if let Issuer::Service(svc) = s.issuer {
                    if svc != "ec2.amazonaws.com" {
                        id["invokedBy"] = json!(svc);
                    } else {
                        id["sessionContext"]["ec2RoleDelivery"] = json!("2.0");
                    }
                }
                id
            }
            (None, Issuer::User(u)) => self.user_identity(*u, Some(&s.key), Some((s, true))),
            (None, Issuer::Service(_)) => json!({"type": "AWSService"}),
        }
    }

    fn credentials(&mut self, key: &str, expires_ms: i64) -> Value {
        json!({
            "accessKeyId": key,
            "sessionToken": self.rng.token(356),
            "expiration": chrono::DateTime::from_timestamp(expires_ms / 1000, 0)
                .map(|d| d.format("%b %-d, %Y, %-I:%M:%S %p").to_string())
                .unwrap_or_default(),
        })
    }

    /// Starts a temporary-credential session, returning the issuance event.
    fn new_session(&mut self, t_ms: i64) -> Value {
        let region = self.region();
        let key = format!("ASIA{}", self.rng.upper_alnum(16));
        let duration = 3_600_000 * (1 + self.rng.below(4) as i64);
        let kind = self.rng.below(10);
        if kind < 2 {
            // GetSessionToken by a user (MFA-backed CLI sessions).
            let u = self.rng.below(self.users.len() as u64) as usize;
            let user = self.users[u].clone();
            let s = Session {
                role: None,
                issuer: Issuer::User(u),
                name: user.name.clone(),
                key: key.clone(),
                created_ms: t_ms,
                expires_ms: t_ms + duration,
                ip: user.ip.clone(),
                agent: user.agent,
                console: false,
                mfa: true,
            };
            let creds = self.credentials(&key, s.expires_ms);
            let ident = self.user_identity(u, Some(&user.key), None);
            let req = json!({"durationSeconds": duration / 1000, "serialNumber": format!("arn:aws:iam::{}:mfa/{}", self.accounts[user.account].id, user.name), "tokenCode": "***"});
            let ev = self.record(
                t_ms,
                ident,
                "sts.amazonaws.com",
                "GetSessionToken",
                region,
                &user.ip,
                user.agent,
                true,
                req,
                json!({"credentials": creds}),
            );
            self.sessions.push(s);
            return ev;
        }
        let r = self.rng.below(self.roles.len() as u64) as usize;
        let role = self.roles[r].clone();
        let acct = self.accounts[role.account].id.clone();
        let (issuer, name, ip, agent, ident) = if kind < 6 {
            let svc = *self.rng.pick(SERVICE_PRINCIPALS);
            let name = if svc == "ec2.amazonaws.com" {
                format!("i-0{}", self.rng.hex(16))
            } else {
                format!("{}-{}", role.name, self.rng.hex(8))
            };
            (
                Issuer::Service(svc),
                name,
                svc.to_string(),
                svc,
                json!({"type": "AWSService", "invokedBy": svc}),
            )
        } else {
            let u = self.rng.below(self.users.len() as u64) as usize;
            let user = self.users[u].clone();
            let ident = self.user_identity(u, Some(&user.key), None);
            (
                Issuer::User(u),
                user.name.clone(),
                user.ip.clone(),
                user.agent,
                ident,
            )
        };
        let s = Session {
            role: Some(r),
            issuer,
            name: name.clone(),
            key: key.clone(),
            created_ms: t_ms,
            expires_ms: t_ms + duration,
            ip: if ip.ends_with(".amazonaws.com") {
                format!(
                    "10.{}.{}.{}",
                    self.rng.below(255),
                    self.rng.below(255),
                    self.rng.below(255)
                )
            } else {
                ip.clone()
            },
            agent,
            console: false,
            mfa: false,
        };
        let creds = self.credentials(&key, s.expires_ms);
        let req = json!({"roleArn": format!("arn:aws:iam::{acct}:role/{}", role.name), "roleSessionName": name, "durationSeconds": duration / 1000});
        let resp = json!({
            "credentials": creds,
            "assumedRoleUser": {"assumedRoleId": format!("{}:{}", role.role_id, name), "arn": format!("arn:aws:sts::{acct}:assumed-role/{}/{}", role.name, name)},
        });
        let mut ev = self.record(
            t_ms,
            ident,
            "sts.amazonaws.com",
            "AssumeRole",
            region,
            &ip,
            agent,
            true,
            req,
            resp,
        );
        ev["resources"] = json!([{"accountId": acct, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{acct}:role/{}", role.name)}]);
        ev["sharedEventID"] = json!(self.rng.uuid());
        self.sessions.push(s);
        ev
    }

    /// A console sign-in: the login event, and a console session used afterwards.
    fn console_login(&mut self, t_ms: i64) -> Value {
        let u = self.rng.below(12) as usize; // humans only
        let user = self.users[u].clone();
        let mfa = !self.rng.chance(0.2);
        let key = format!("ASIA{}", self.rng.upper_alnum(16));
        let ip = format!("198.18.{}.{}", self.rng.below(255), self.rng.below(255));
        self.sessions.push(Session {
            role: None,
            issuer: Issuer::User(u),
            name: user.name.clone(),
            key,
            created_ms: t_ms,
            expires_ms: t_ms + 12 * 3_600_000,
            ip: ip.clone(),
            agent: CONSOLE_AGENT,
            console: true,
            mfa,
        });
        let ident = self.user_identity(u, None, None);
        let mut ev = self.record(
            t_ms,
            ident,
            "signin.amazonaws.com",
            "ConsoleLogin",
            "us-east-1",
            &ip,
            CONSOLE_AGENT,
            false,
            Value::Null,
            json!({"ConsoleLogin": "Success"}),
        );
        ev["eventType"] = json!("AwsConsoleSignIn");
        ev["additionalEventData"] = json!({
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAIdentifier": if mfa { json!(format!("arn:aws:iam::{}:mfa/{}", self.accounts[user.account].id, user.name)) } else { Value::Null },
            "MFAUsed": if mfa { "Yes" } else { "No" },
        });
        if !mfa {
            ev["additionalEventData"]
                .as_object_mut()
                .map(|m| m.remove("MFAIdentifier"));
        }
        ev["readOnly"] = json!(false);
        ev
    }

    /// requestParameters / responseElements for a background call.
    fn params(&mut self, source: &str, name: &str, acct: &str, region: &str) -> (Value, Value) {
        let r = &mut self.rng;
        match (source, name) {
            ("s3.amazonaws.com", "ListObjects") => (
                json!({"bucketName": format!("data-{acct}-{region}"), "prefix": format!("logs/{}/", r.below(100)), "Host": format!("data-{acct}-{region}.s3.amazonaws.com")}),
                Value::Null,
            ),
            ("s3.amazonaws.com", "GetBucketAcl") => (
                json!({"bucketName": format!("data-{acct}-{region}"), "acl": "", "Host": "s3.amazonaws.com"}),
                Value::Null,
            ),
            ("s3.amazonaws.com", _) => (
                json!({"bucketName": format!("data-{acct}-{region}"), "key": format!("wh/p{:04}/{}.parquet", r.below(5000), r.hex(8)), "Host": format!("data-{acct}-{region}.s3.{region}.amazonaws.com")}),
                Value::Null,
            ),
            (_, "DescribeInstances") => (
                json!({"instancesSet": {"items": [{"instanceId": format!("i-0{}", r.hex(16))}]}, "filterSet": {}}),
                Value::Null,
            ),
            (_, "DescribeSecurityGroups") => (
                json!({"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {"items": [{"name": "vpc-id", "valueSet": {"items": [{"value": format!("vpc-0{}", r.hex(16))}]}}]}}),
                Value::Null,
            ),
            (_, "DescribeVolumes") => (
                json!({"volumeSet": {}, "filterSet": {}, "maxResults": 500}),
                Value::Null,
            ),
            (_, "CreateTags") => (
                json!({"resourcesSet": {"items": [{"resourceId": format!("i-0{}", r.hex(16))}]}, "tagSet": {"items": [{"key": "team", "value": "data"}, {"key": "env", "value": "prod"}]}}),
                json!({"requestId": r.uuid(), "_return": true}),
            ),
            (_, "RunInstances") => (
                json!({"instancesSet": {"items": [{"imageId": format!("ami-0{}", r.hex(16)), "minCount": 1, "maxCount": 1}]}, "instanceType": "m6i.large", "blockDeviceMapping": {}, "monitoring": {"enabled": false}, "disableApiTermination": false, "userData": "<sensitiveDataRemoved>", "iamInstanceProfile": {"name": "EC2AppRole"}}),
                json!({"requestId": r.uuid(), "reservationId": format!("r-0{}", r.hex(16)), "instancesSet": {"items": [{"instanceId": format!("i-0{}", r.hex(16)), "instanceState": {"code": 0, "name": "pending"}}]}}),
            ),
            (_, "AuthorizeSecurityGroupIngress") => (
                json!({"groupId": format!("sg-0{}", r.hex(16)), "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}),
                json!({"requestId": r.uuid(), "_return": true}),
            ),
            (_, "Decrypt") => (
                json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{acct}:function:etl-{}", r.below(20))}}),
                Value::Null,
            ),
            (_, "GenerateDataKey") => (
                json!({"keyId": format!("arn:aws:kms:{region}:{acct}:key/{}", r.uuid()), "keySpec": "AES_256"}),
                Value::Null,
            ),
            (_, "GetRole") | (_, "ListAttachedRolePolicies") => {
                (json!({"roleName": "DataPipelineRole"}), Value::Null)
            }
            (_, "PutRolePolicy") | (_, "CreatePolicyVersion") => {
                // The occasional large requestParameters: a policy document of many statements.
                let n = 10 + r.below(30);
                let stmts: Vec<Value> = (0..n)
                    .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"], "Resource": [format!("arn:aws:s3:::data-{acct}-{i}"), format!("arn:aws:s3:::data-{acct}-{i}/*")]}))
                    .collect();
                let doc = json!({"Version": "2012-10-17", "Statement": stmts}).to_string();
                if name == "PutRolePolicy" {
                    (
                        json!({"roleName": "DataPipelineRole", "policyName": "inline-data-access", "policyDocument": doc}),
                        Value::Null,
                    )
                } else {
                    (
                        json!({"policyArn": format!("arn:aws:iam::{acct}:policy/data-access"), "policyDocument": doc, "setAsDefault": true}),
                        json!({"policyVersion": {"versionId": format!("v{}", r.below(5) + 2), "isDefaultVersion": true}}),
                    )
                }
            }
            (_, "CreateLogStream") => (
                json!({"logGroupName": format!("/aws/lambda/etl-{}", r.below(20)), "logStreamName": format!("2024/03/01/[$LATEST]{}", r.hex(32))}),
                Value::Null,
            ),
            (_, "DescribeLogGroups") => (json!({"limit": 50}), Value::Null),
            (_, "Invoke") => (
                json!({"functionName": format!("arn:aws:lambda:{region}:{acct}:function:etl-{}", r.below(20))}),
                Value::Null,
            ),
            (_, "GetFunction") | (_, "UpdateFunctionCode20150331v2") => (
                json!({"functionName": format!("etl-{}", r.below(20))}),
                Value::Null,
            ),
            (_, "GetParameter") => (
                json!({"name": format!("/app/config/{}", ["db_host", "feature_flags", "api_url"][r.below(3) as usize]), "withDecryption": false}),
                Value::Null,
            ),
            (_, "UpdateInstanceInformation") => (
                json!({"instanceId": format!("i-0{}", r.hex(16)), "agentVersion": "3.3.40.0", "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023"}),
                Value::Null,
            ),
            (_, "GetSecretValue") => (
                json!({"secretId": format!("arn:aws:secretsmanager:{region}:{acct}:secret:prod/db-{}", r.alnum(6))}),
                Value::Null,
            ),
            (_, "DescribeTable") => (
                json!({"tableName": format!("orders-{}", r.below(4))}),
                Value::Null,
            ),
            (_, "GetMetricData") => (
                json!({"startTime": "Mar 1, 2024, 12:00:00 AM", "endTime": "Mar 1, 2024, 1:00:00 AM", "scanBy": "TimestampDescending"}),
                Value::Null,
            ),
            (_, "LookupEvents") => (
                json!({"maxResults": 50, "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}]}),
                Value::Null,
            ),
            (_, "DescribeTargetHealth") => (
                json!({"targetGroupArn": format!("arn:aws:elasticloadbalancing:{region}:{acct}:targetgroup/web/{}", r.hex(16))}),
                Value::Null,
            ),
            _ => (Value::Null, Value::Null),
        }
    }

    /// One background API call by an existing principal.
    fn background(&mut self, t_ms: i64) -> Value {
        // Expire old sessions; keep a working set alive.
        self.sessions.retain(|s| s.expires_ms > t_ms);
        if self.sessions.len() < 40 || self.rng.chance(0.01) {
            return self.new_session(t_ms);
        }
        if self.rng.chance(0.002) {
            return self.console_login(t_ms);
        }
        let mut x = self.rng.below(self.call_weights as u64) as u32;
        let mut call = CALLS[0];
        for c in CALLS {
            if x < c.3 {
                call = *c;
                break;
            }
            x -= c.3;
        }
        let (source, name, read_only, _) = call;
        let region = self.region();
        // 75% temporary sessions (roles, console, GetSessionToken), 25% long-term user keys.
        let (ident, ip, agent, console) = if self.rng.chance(0.75) {
            let i = self.rng.below(self.sessions.len() as u64) as usize;
            let s = self.sessions[i].clone();
            (self.session_identity(&s), s.ip.clone(), s.agent, s.console)
        } else {
            let u = self.rng.below(self.users.len() as u64) as usize;
            let user = self.users[u].clone();
            (
                self.user_identity(u, Some(&user.key), None),
                user.ip,
                user.agent,
                false,
            )
        };
        let acct = ident["accountId"].as_str().unwrap_or_default().to_string();
        let (req, resp) = self.params(source, name, &acct, region);
        let agent = if console { CONSOLE_AGENT } else { agent };
        let mut ev = self.record(
            t_ms, ident, source, name, region, &ip, agent, read_only, req, resp,
        );
        if console {
            ev["sessionCredentialFromConsole"] = json!("true");
        }
        if self.rng.chance(0.03) {
            ev["errorCode"] = json!("AccessDenied");
            ev["errorMessage"] = json!(format!(
                "User: {} is not authorized to perform: {}:{} because no identity-based policy allows the {}:{} action",
                ev["userIdentity"]["arn"].as_str().unwrap_or(""),
                source.trim_end_matches(".amazonaws.com"),
                name,
                source.trim_end_matches(".amazonaws.com"),
                name
            ));
            ev["responseElements"] = Value::Null;
        }
        ev
    }

    /// Queues one attack scenario starting at `t_ms` (events a few seconds apart).
    fn attack(&mut self, t_ms: i64) {
        self.attacks += 1;
        let ip = self.rng.pick(ATTACKER_IPS).to_string();
        let agent = if self.rng.chance(0.5) {
            "python-requests/2.31.0"
        } else {
            "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off"
        };
        let u = 12 + self.rng.below(4) as usize; // a leaked deploy key
        let user = self.users[u].clone();
        let acct = self.accounts[user.account].id.clone();
        let ident = self.user_identity(u, Some(&user.key), None);
        let region = "us-east-1";
        let scenario = self.attacks % 5;
        let mut steps: Vec<(&str, &str, bool, Value, Value)> = vec![(
            "sts.amazonaws.com",
            "GetCallerIdentity",
            true,
            Value::Null,
            Value::Null,
        )];
        match scenario {
            1 => {
                let backdoor = format!("support-{}", self.rng.alnum(5).to_lowercase());
                steps.push((
                    "iam.amazonaws.com",
                    "ListUsers",
                    true,
                    Value::Null,
                    Value::Null,
                ));
                steps.push((
                    "iam.amazonaws.com",
                    "CreateUser",
                    false,
                    json!({"userName": backdoor}),
                    json!({"user": {"userName": backdoor, "arn": format!("arn:aws:iam::{acct}:user/{backdoor}")}}),
                ));
                steps.push(("iam.amazonaws.com", "CreateAccessKey", false, json!({"userName": backdoor}), json!({"accessKey": {"userName": backdoor, "accessKeyId": format!("AKIA{}", self.rng.upper_alnum(16)), "status": "Active"}})));
                steps.push((
                    "iam.amazonaws.com",
                    "AttachUserPolicy",
                    false,
                    json!({"userName": backdoor, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
                    Value::Null,
                ));
                steps.push((
                    "iam.amazonaws.com",
                    "CreateLoginProfile",
                    false,
                    json!({"userName": backdoor, "passwordResetRequired": false}),
                    json!({"loginProfile": {"userName": backdoor}}),
                ));
            }
            2 => {
                let trail = format!("arn:aws:cloudtrail:{region}:{acct}:trail/org-trail");
                steps.push((
                    "cloudtrail.amazonaws.com",
                    "DescribeTrails",
                    true,
                    Value::Null,
                    Value::Null,
                ));
                steps.push((
                    "cloudtrail.amazonaws.com",
                    "PutEventSelectors",
                    false,
                    json!({"trailName": trail, "eventSelectors": [{"readWriteType": "ReadOnly", "includeManagementEvents": false}]}),
                    Value::Null,
                ));
                steps.push((
                    "cloudtrail.amazonaws.com",
                    "StopLogging",
                    false,
                    json!({"name": trail}),
                    Value::Null,
                ));
                steps.push((
                    "guardduty.amazonaws.com",
                    "DeleteDetector",
                    false,
                    json!({"detectorId": self.rng.hex(32)}),
                    Value::Null,
                ));
                steps.push((
                    "cloudtrail.amazonaws.com",
                    "DeleteTrail",
                    false,
                    json!({"name": trail}),
                    Value::Null,
                ));
            }
            3 => {
                let snap = format!("snap-0{}", self.rng.hex(16));
                steps.push((
                    "ec2.amazonaws.com",
                    "DescribeSnapshots",
                    true,
                    json!({"ownersSet": {"items": [{"owner": "self"}]}}),
                    Value::Null,
                ));
                steps.push(("ec2.amazonaws.com", "ModifySnapshotAttribute", false, json!({"snapshotId": snap, "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}}, "attributeType": "CREATE_VOLUME_PERMISSION"}), json!({"_return": true})));
                steps.push(("s3.amazonaws.com", "PutBucketPolicy", false, json!({"bucketName": format!("data-{acct}-us-east-1"), "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::data-{acct}-us-east-1/*")}]}}), Value::Null));
            }
            4 => {
                for _ in 0..8 {
                    let id = format!(
                        "arn:aws:secretsmanager:{region}:{acct}:secret:prod/{}",
                        self.rng.alnum(8)
                    );
                    steps.push((
                        "secretsmanager.amazonaws.com",
                        "GetSecretValue",
                        true,
                        json!({"secretId": id}),
                        Value::Null,
                    ));
                }
                steps.push((
                    "ssm.amazonaws.com",
                    "GetParameters",
                    true,
                    json!({"names": ["/prod/db/password", "/prod/api/key"], "withDecryption": true}),
                    Value::Null,
                ));
            }
            _ => {}
        }
        let mut t = t_ms;
        for (source, name, ro, req, resp) in steps {
            t += 1_000 + self.rng.below(20_000) as i64;
            let ev = self.record(
                t,
                ident.clone(),
                source,
                name,
                region,
                &ip,
                agent,
                ro,
                req,
                resp,
            );
            self.pending.push_back((t, ev));
        }
        if scenario == 0 {
            // Console brute force: failures then a success without MFA.
            let target = self.rng.below(12) as usize;
            for i in 0..6 {
                t += 2_000 + self.rng.below(5_000) as i64;
                let id = self.user_identity(target, None, None);
                let ok = i == 5;
                let mut ev = self.record(
                    t,
                    id,
                    "signin.amazonaws.com",
                    "ConsoleLogin",
                    region,
                    &ip,
                    CONSOLE_AGENT,
                    false,
                    Value::Null,
                    json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }}),
                );
                ev["eventType"] = json!("AwsConsoleSignIn");
                ev["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"});
                if !ok {
                    ev["errorMessage"] = json!("Failed authentication");
                }
                self.pending.push_back((t, ev));
            }
        }
    }
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.emitted >= self.cfg.records {
            return None;
        }
        self.emitted += 1;
        if let Some((t, _)) = self.pending.front() {
            if *t <= self.t_ms {
                return self.pending.pop_front().map(|(_, ev)| ev);
            }
        }
        if self.cfg.attack_every > 0
            && self.emitted % self.cfg.attack_every == self.cfg.attack_every / 2
        {
            self.attack(self.t_ms);
        }
        let gap = self.rng.exp(self.cfg.mean_gap_ms);
        self.t_ms += gap.round() as i64;
        let t = self.t_ms;
        Some(self.background(t))
    }
}

/// A delivery file being filled: its JSON so far, records in it, target count, first eventTime.
type OpenFile = (Vec<u8>, usize, usize, String);

/// Epoch seconds of a generated `eventTime` (`YYYY-MM-DDTHH:MM:SSZ`).
fn epoch_secs(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp())
}

/// What [`write_s3_corpus`] wrote.
#[derive(Debug, Clone, Default)]
pub struct CorpusSummary {
    pub files: u64,
    pub records: u64,
    pub bytes_compressed: u64,
    pub bytes_uncompressed: u64,
    pub attacks: u64,
    /// Every file written, in write order.
    pub paths: Vec<PathBuf>,
}

/// Writes `cfg.records` records under `dir` as CloudTrail delivers them:
/// `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz`,
/// each a gzipped `{"Records":[...]}` of `min_per_file..=max_per_file` records of one account
/// and region, spanning at most `max_file_span_secs` of event time (so a quiet region's file
/// ends early). Deterministic for a config.
pub fn write_s3_corpus(dir: &Path, cfg: &GenConfig) -> io::Result<CorpusSummary> {
    let mut gen = Generator::new(cfg);
    let mut name_rng = Rng::new(cfg.seed ^ 0x5eed_f11e);
    let mut summary = CorpusSummary::default();
    // Per (account, region): the open file's records and its target size.
    let mut open: BTreeMap<(String, String), OpenFile> = BTreeMap::new();
    let span = cfg.max_per_file.max(cfg.min_per_file) - cfg.min_per_file;
    for rec in gen.by_ref() {
        let acct = rec["recipientAccountId"]
            .as_str()
            .unwrap_or("000000000000")
            .to_string();
        let region = rec["awsRegion"].as_str().unwrap_or("us-east-1").to_string();
        let key = (acct, region);
        // The open file's time span is over: deliver it before this record starts a new one.
        if cfg.max_file_span_secs > 0 {
            let now = rec["eventTime"].as_str().and_then(epoch_secs);
            let expired = open
                .get(&key)
                .and_then(|f| epoch_secs(&f.3))
                .zip(now)
                .is_some_and(|(first, now)| now - first >= cfg.max_file_span_secs);
            if expired {
                if let Some(v) = open.remove(&key) {
                    flush(dir, &key, v, cfg, &mut name_rng, &mut summary)?;
                }
            }
        }
        let full = {
            let entry = open.entry(key.clone()).or_insert_with(|| {
                let target = cfg.min_per_file.max(1) + name_rng.below(span as u64 + 1) as usize;
                (
                    b"{\"Records\":[".to_vec(),
                    0,
                    target,
                    rec["eventTime"].as_str().unwrap_or("").to_string(),
                )
            });
            if entry.1 > 0 {
                entry.0.push(b',');
            }
            serde_json::to_writer(&mut entry.0, &rec).map_err(io::Error::other)?;
            entry.1 += 1;
            entry.1 >= entry.2
        };
        if full {
            if let Some(v) = open.remove(&key) {
                flush(dir, &key, v, cfg, &mut name_rng, &mut summary)?;
            }
        }
    }
    for (k, v) in std::mem::take(&mut open) {
        flush(dir, &k, v, cfg, &mut name_rng, &mut summary)?;
    }
    summary.attacks = gen.attacks();
    Ok(summary)
}

fn flush(
    dir: &Path,
    (acct, region): &(String, String),
    (mut body, n, _, first_time): OpenFile,
    cfg: &GenConfig,
    rng: &mut Rng,
    summary: &mut CorpusSummary,
) -> io::Result<()> {
    body.extend_from_slice(b"]}");
    // eventTime is YYYY-MM-DDTHH:MM:SSZ; file names carry the 5-minute window.
    let t = if first_time.len() >= 16 {
        first_time.as_str()
    } else {
        "1970-01-01T00:00:00Z"
    };
    let (y, m, d) = (&t[0..4], &t[5..7], &t[8..10]);
    let hhmm = format!(
        "{}{}{}",
        &t[11..13],
        &t[14..15],
        if &t[15..16] < "5" { "0" } else { "5" }
    );
    let sub = dir
        .join("AWSLogs")
        .join(acct)
        .join("CloudTrail")
        .join(region)
        .join(y)
        .join(m)
        .join(d);
    std::fs::create_dir_all(&sub)?;
    let path = sub.join(format!(
        "{acct}_CloudTrail_{region}_{y}{m}{d}T{hhmm}Z_{}.json.gz",
        rng.alnum(16)
    ));
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::new(cfg.gzip_level),
    );
    enc.write_all(&body)?;
    let gz = enc.finish()?;
    std::fs::write(&path, &gz)?;
    summary.files += 1;
    summary.records += n as u64;
    summary.bytes_compressed += gz.len() as u64;
    summary.bytes_uncompressed += body.len() as u64;
    summary.paths.push(path);
    Ok(())
}

#[cfg(test)]
mod tests;
