//! Actor / target / related entities (the pipeline's `actor_target_mapping` script): reads the
//! pruned record before any rename. A value of the wrong type where the script expects a
//! string or list makes the whole script fail, which the pipeline records as an error and
//! which leaves every entity field unset; [`collect`] returns `Err` then.

// One arm per service, one `if` chain per event name, as the pipeline script reads.
#![allow(clippy::collapsible_match)]

use serde_json::Value;

use crate::java::{java_cmp, tree_set};
use crate::jtree::{Obj, J};

type R<T> = Result<T, String>;

/// Sorted sets of strings, built the way the script's `TreeSet`s are.
#[derive(Default)]
struct Set(Vec<String>);

impl Set {
    /// `Set.add`: false when already present.
    fn add(&mut self, s: &str) -> bool {
        match self.0.binary_search_by(|e| java_cmp(e, s)) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, s.to_string());
                true
            }
        }
    }
}

struct Ctx<'r, 'a> {
    rec: &'r Obj<'a>,
    related: Set,
    target: Set,
    actor: Option<&'r J<'a>>,
}

fn cast_str<'r>(v: Option<&'r J>, what: &str) -> R<Option<&'r str>> {
    match v {
        None => Ok(None),
        Some(J::Str(s)) => Ok(Some(s)),
        Some(_) => Err(format!("cannot cast {what} to java.lang.String")),
    }
}

fn add_value(set: &mut Set, v: Option<&str>) -> bool {
    match v {
        None | Some("") => false,
        Some(s) => set.add(s),
    }
}

impl<'r, 'a> Ctx<'r, 'a> {
    fn get(&self, path: &str) -> Option<&'r J<'a>> {
        let parts: smallvec_like::Parts = smallvec_like::split(path);
        self.rec.path(parts.as_slice())
    }

    fn add_field(&mut self, to_target: bool, path: &str) -> R<()> {
        let v = cast_str(self.get(path), path)?;
        let set = if to_target {
            &mut self.target
        } else {
            &mut self.related
        };
        add_value(set, v);
        Ok(())
    }

    fn add_fields(&mut self, to_target: bool, paths: &[&str]) -> R<()> {
        for p in paths {
            self.add_field(to_target, p)?;
        }
        Ok(())
    }

    /// `addValues`: every element is cast to String, but once one add fails (null, empty or
    /// already present) the `&&` short-circuit skips the remaining adds.
    fn add_values(&mut self, to_target: bool, values: &[Option<&J>]) -> R<()> {
        let mut all = true;
        for v in values {
            let s = cast_str(*v, "list element")?;
            let set = if to_target {
                &mut self.target
            } else {
                &mut self.related
            };
            all = all && add_value(set, s);
        }
        Ok(())
    }

    /// `$(path, [])` used as a list: absent → empty; not a list → script error.
    fn list(&self, path: &str) -> R<&'r [J<'a>]> {
        match self.get(path) {
            None => Ok(&[]),
            Some(J::Arr(a)) => Ok(a),
            Some(_) => Err(format!("{path} is not a list")),
        }
    }
}

/// Field access on a list element (`i.groupId`): the element must be a map.
fn member<'r, 'a>(item: &'r J<'a>, key: &str) -> R<Option<&'r J<'a>>> {
    match item {
        J::Obj(o) => Ok(o.get(key)),
        _ => Err(format!("cannot access field [{key}] of a non-map value")),
    }
}

/// `a?.b`: null-safe navigation (a missing or non-map parent gives null; Painless would throw on
/// a non-map parent, but these are only used on optional sub-objects).
fn opt_member<'r, 'a>(item: Option<&'r J<'a>>, key: &str) -> R<Option<&'r J<'a>>> {
    match item {
        None => Ok(None),
        Some(i) => member(i, key),
    }
}

mod smallvec_like {
    /// Splits a dotted path without allocating for the common depths.
    pub(super) struct Parts<'p> {
        buf: [&'p str; 8],
        len: usize,
    }
    impl<'p> Parts<'p> {
        pub(super) fn as_slice(&self) -> &[&'p str] {
            &self.buf[..self.len]
        }
    }
    pub(super) fn split(path: &str) -> Parts<'_> {
        let mut p = Parts {
            buf: [""; 8],
            len: 0,
        };
        for s in path.split('.') {
            if p.len < 8 {
                p.buf[p.len] = s;
                p.len += 1;
            }
        }
        p
    }
}

/// What the script writes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Entities {
    pub related: Vec<String>,
    pub target: Vec<String>,
    pub user_target: Vec<String>,
    pub host_target: Vec<String>,
    pub host_target_id: Vec<String>,
    pub service_target: Vec<String>,
    pub entity_target: Vec<String>,
    /// Legacy `actor.entity.id` value and which of `service`/`user`/`host`/`` (generic
    /// `entity.id`) gets the classified id, and that id.
    pub actor: Option<(Value, &'static str, Value)>,
}

const USER_TYPES: &[&str] = &[
    "user",
    "role",
    "assumed-role",
    "federated-user",
    "instance-profile",
    "mfa",
    "serialNumber",
];
const HOST_TYPES: &[&str] = &["instance"];
const SERVICE_TYPES: &[&str] = &[
    "stack",
    "stack-set",
    "trail",
    "configuration-recorder",
    "file-system",
    "mount-target",
    "rule",
    "detector",
    "key",
    "function",
    "log-group",
    "log-stream",
    "alarm",
    "db",
    "cluster",
    "global-cluster",
    "trust-anchor",
    "resolver-query-log-config",
    "secret",
    "parameter",
    "document",
    "session",
    "webacl",
    "rulegroup",
    "ipset",
    "topic",
    "model",
    "loadbalancer",
    "table",
    "group",
    "policy",
    "security-group",
    "network-interface",
    "vpc",
    "subnet",
    "network-acl",
    "dhcp-options",
];
const HOST_ID_PREFIXES: &[&str] = &["i-"];
const SERVICE_ID_PREFIXES: &[&str] = &[
    "sg-", "sgr-", "eni-", "vpc-", "subnet-", "acl-", "rtb-", "igw-", "nat-", "vpce-", "tgw-",
    "pcx-",
];

fn resource_type(part: &str) -> &str {
    match part.find('/') {
        Some(i) if i > 0 => &part[..i],
        _ => part,
    }
}

fn is_service_linked(s: &str) -> bool {
    s.contains("/AWSServiceRoleFor") || s.contains("/aws-service-role/")
}

pub(crate) fn collect(rec: &Obj) -> R<Entities> {
    let mut c = Ctx {
        rec,
        related: Set::default(),
        target: Set::default(),
        actor: None,
    };
    c.actor = c
        .get("userIdentity.arn")
        .or_else(|| c.get("userIdentity.onBehalfOf.userId"));
    c.add_fields(
        false,
        &[
            "userIdentity.accessKeyId",
            "userIdentity.arn",
            "userIdentity.userName",
            "userIdentity.sessionContext.sessionIssuer.arn",
            "userIdentity.sessionContext.sessionIssuer.userName",
        ],
    )?;
    let user_type = c.get("userIdentity.type");
    let user_type_str = user_type.and_then(J::as_str);
    if user_type_str == Some("IdentityCenterUser") {
        c.add_field(false, "userIdentity.onBehalfOf.identityStoreArn")?;
    }
    for f in c.list("resources")? {
        let arn = cast_str(member(f, "ARN")?, "ARN")?;
        add_value(&mut c.related, arn);
    }
    let source = cast_str(c.get("eventSource"), "eventSource")?;
    let name = cast_str(c.get("eventName"), "eventName")?;
    let src = source.unwrap_or("");
    let ev = name.unwrap_or("");
    let is = |n: &str| name == Some(n);
    let any = |ns: &[&str]| ns.iter().any(|n| name == Some(n));

    match src {
        "cloudformation.amazonaws.com" => {
            if is("CreateStackSet") {
                c.add_field(true, "responseElements.stackSetId")?;
            } else if is("CreateStack") {
                c.add_field(true, "responseElements.stackId")?;
            }
        }
        "cloudtrail.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.name",
                    "requestParameters.s3BucketName",
                    "responseElements.cloudWatchLogsLogGroupArn",
                    "responseElements.cloudWatchLogsRoleArn",
                    "responseElements.kmsKeyId",
                    "responseElements.snsTopicARN",
                    "responseElements.trailARN",
                    "responseElements.name",
                ],
            )?;
            if any(&["DeleteTrail", "StopLogging"]) {
                c.add_field(true, "requestParameters.name")?;
            } else if is("DescribeTrails") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "config.amazonaws.com" => {
            c.add_field(false, "requestParameters.configurationRecorderName")?;
            if any(&["StopConfigurationRecorder", "StartConfigurationRecorder"]) {
                c.add_field(true, "requestParameters.configurationRecorderName")?;
            }
        }
        "ec2-instance-connect.amazonaws.com" => {
            if any(&["SendSSHPublicKey", "SendSerialConsoleSSHPublicKey"]) {
                c.add_field(true, "requestParameters.instanceId")?;
            }
        }
        "ec2.amazonaws.com" => ec2(&mut c, name)?,
        "elasticfilesystem.amazonaws.com" => {
            if is("DeleteFileSystem") {
                c.add_field(true, "requestParameters.fileSystemId")?;
            } else if is("DeleteMountTarget") {
                c.add_field(true, "requestParameters.mountTargetId")?;
            }
        }
        "events.amazonaws.com" => {
            if is("DeleteRule") {
                c.add_field(true, "requestParameters.name")?;
            }
        }
        "guardduty.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.detectorId",
                    "responseElements.detectorId",
                ],
            )?;
            if is("CreateDetector") {
                c.add_field(true, "responseElements.detectorId")?;
            } else if is("DeleteDetector") {
                c.add_field(true, "requestParameters.detectorId")?;
            }
        }
        "iam.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.userName",
                    "requestParameters.serialNumber",
                    "requestParameters.accessKeyId",
                    "requestParameters.policyArn",
                    "requestParameters.roleName",
                    "requestParameters.policyName",
                    "requestParameters.serialNumber",
                    "responseElements.accessKey.userName",
                    "responseElements.accessKey.accessKeyId",
                    "responseElements.user.arn",
                    "responseElements.user.userId",
                    "responseElements.user.userName",
                    "responseElements.userId",
                    "responseElements.role.arn",
                    "responseElements.serialNumber",
                ],
            )?;
            if is("AttachGroupPolicy") {
                c.add_field(true, "requestParameters.groupName")?;
            } else if any(&[
                "AttachRolePolicy",
                "ListAttachedRolePolicies",
                "UpdateAssumeRolePolicy",
            ]) {
                c.add_field(true, "requestParameters.roleName")?;
            } else if is("AttachUserPolicy") {
                c.add_fields(
                    true,
                    &["requestParameters.policyArn", "requestParameters.userName"],
                )?;
            } else if is("CreateAccessKey") {
                c.add_fields(
                    true,
                    &[
                        "responseElements.accessKey.accessKeyId",
                        "requestParameters.userName",
                    ],
                )?;
            } else if any(&["CreateUser", "DeactivateMFADevice"]) {
                c.add_field(true, "requestParameters.userName")?;
            } else if is("DeleteVirtualMFADevice") {
                c.add_field(true, "requestParameters.serialNumber")?;
            } else if is("GetPolicy") {
                c.add_field(true, "requestParameters.policyArn")?;
            } else if is("CreatePolicy") {
                c.add_field(true, "responseElements.policy.arn")?;
            } else if any(&["ListRoles", "ListUsers"]) {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "kms.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.keyId",
                    "responseElements.keyId",
                    "responseElements.keyMetadata.arn",
                    "responseElements.keyMetadata.keyId",
                ],
            )?;
            if any(&["DisableKey", "ScheduleKeyDeletion"]) {
                resources_to_target(&mut c)?;
            }
        }
        "lambda.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.functionName",
                    "responseElements.functionArn",
                    "responseElements.functionName",
                    "responseElements.role",
                ],
            )?;
            let sgs: Vec<Option<&J>> = c
                .list("responseElements.vpcConfig.securityGroupIds")?
                .iter()
                .map(Some)
                .collect();
            c.add_values(false, &sgs)?;
            let subnets: Vec<Option<&J>> = c
                .list("responseElements.vpcConfig.subnetIds")?
                .iter()
                .map(Some)
                .collect();
            c.add_values(false, &subnets)?;
            if name.is_some() {
                // Lambda event names carry an API date (AddPermission20150331v2).
                if ev.contains("AddPermission") {
                    c.add_field(true, "requestParameters.functionName")?;
                } else if ev.contains("ListFunctions") {
                    c.add_field(true, "recipientAccountId")?;
                }
            }
        }
        "logs.amazonaws.com" => {
            if is("DeleteLogGroup") {
                c.add_field(true, "requestParameters.logGroupName")?;
            } else if is("DeleteLogStream") {
                c.add_field(true, "requestParameters.logStreamName")?;
            }
        }
        "monitoring.amazonaws.com" => {
            if is("DeleteAlarms") {
                for f in c.list("requestParameters.alarmNames")? {
                    let s = cast_str(Some(f), "alarm name")?;
                    add_value(&mut c.target, s);
                }
            }
        }
        "rds.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.dBInstanceIdentifier",
                    "requestParameters.dBInstanceArn",
                    "responseElements.dBInstanceIdentifier",
                    "responseElements.dbInstanceArn",
                    "responseElements.dBSubnetGroup.vpcId",
                    "responseElements.vpcSecurityGroups.vpcSecurityGroupId",
                ],
            )?;
            for i in c.list("responseElements.dBSubnetGroup.subnets")? {
                let s = cast_str(member(i, "subnetIdentifier")?, "subnetIdentifier")?;
                add_value(&mut c.related, s);
            }
            for i in c.list("responseElements.vpcSecurityGroups")? {
                let s = cast_str(member(i, "vpcSecurityGroupId")?, "vpcSecurityGroupId")?;
                add_value(&mut c.related, s);
            }
            if any(&["DeleteDBCluster", "ModifyDBCluster", "StopDBCluster"]) {
                c.add_field(true, "responseElements.dBClusterArn")?;
            } else if any(&[
                "DeleteDBInstance",
                "ModifyDBInstance",
                "RestoreDBInstanceFromDBSnapshot",
                "RestoreDBInstanceFromS3",
                "StopDBInstance",
            ]) {
                c.add_field(true, "responseElements.dBInstanceArn")?;
            } else if is("DeleteGlobalCluster") {
                c.add_field(true, "responseElements.globalClusterArn")?;
            } else if is("ModifyDBClusterSnapshotAttribute") {
                c.add_field(true, "responseElements.dBClusterSnapshotIdentifier")?;
            } else if is("ModifyDBSnapshotAttribute") {
                c.add_field(true, "responseElements.dBSnapshotIdentifier")?;
            } else if is("DescribeDBInstances") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "rolesanywhere.amazonaws.com" => {
            if is("CreateTrustAnchor") {
                c.add_field(true, "responseElements.trustAnchor.trustAnchorArn")?;
            }
        }
        "route53resolver.amazonaws.com" => {
            if is("DeleteResolverQueryLogConfig") {
                c.add_field(true, "responseElements.resolverQueryLogConfig.arn")?;
            }
        }
        "s3.amazonaws.com" => {
            c.add_field(false, "requestParameters.bucketName")?;
            if any(&[
                "CopyObject",
                "PutBucketLogging",
                "PutBucketVersioning",
                "PutObject",
                "GetBucketPolicy",
                "ListObjects",
                "HeadObject",
                "GetObject",
                "DeleteObject",
                "DeleteBucket",
            ]) {
                resources_to_target(&mut c)?;
            } else if is("PutBucketReplication") {
                resources_to_target(&mut c)?;
                c.add_field(
                    true,
                    "requestParameters.ReplicationConfiguration.Rule.Destination.Bucket",
                )?;
            } else if is("ListBuckets") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "secretsmanager.amazonaws.com" => {
            if is("BatchGetSecretValue") {
                for f in c.list("requestParameters.secretIdList")? {
                    let s = cast_str(Some(f), "secret id")?;
                    add_value(&mut c.target, s);
                }
            } else if is("GetSecretValue") {
                c.add_field(true, "requestParameters.secretId")?;
            }
        }
        "signin.amazonaws.com" => {
            if is("ConsoleLogin") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "ssm.amazonaws.com" => {
            if any(&[
                "GetParameter",
                "GetParameters",
                "CreateControlChannel",
                "OpenControlChannel",
            ]) {
                resources_to_target(&mut c)?;
            } else if is("StartSession") {
                c.add_field(true, "requestParameters.target")?;
            } else if is("CreateDocument") {
                c.add_field(true, "requestParameters.name")?;
            } else if any(&["TerminateSession", "OpenDataChannel"]) {
                c.add_field(true, "requestParameters.sessionId")?;
            } else if is("SendCommand") {
                let mut ids: Vec<Option<&J>> = c
                    .list("requestParameters.instanceIds")?
                    .iter()
                    .map(Some)
                    .collect();
                if ids.is_empty() {
                    for t in c.list("requestParameters.targets")? {
                        match member(t, "values")? {
                            Some(J::Arr(vs)) => ids.extend(vs.iter().map(Some)),
                            _ => return Err("SendCommand target without a values list".into()),
                        }
                    }
                }
                if ids.len() == 1 && matches!(ids[0], Some(J::Str(s)) if s == "*") {
                    // All instances: point at the account.
                    ids = vec![c.get("recipientAccountId")];
                }
                c.add_values(true, &ids)?;
            } else if is("ListInstanceAssociations") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "sts.amazonaws.com" => {
            c.add_fields(
                false,
                &[
                    "requestParameters.roleArn",
                    "sourceIdentity",
                    "additionalEventData.MFAIdentifier",
                    "responseElements.assumedRoleUser.arn",
                    "requestParameters.roleSessionName",
                    "responseElements.accessKeyId",
                ],
            )?;
            if is("AssumeRole") {
                c.actor = match user_type_str {
                    Some("AWSService") => c.get("userIdentity.invokedBy"),
                    Some("AssumedRole") => c.get("userIdentity.sessionContext.sessionIssuer.arn"),
                    _ => c.get("userIdentity.arn"),
                };
                c.add_field(true, "requestParameters.roleArn")?;
            } else if is("GetCallerIdentity") {
                c.add_field(true, "recipientAccountId")?;
                c.actor = c.get("userIdentity.arn");
            }
        }
        "wafv2.amazonaws.com" => {
            c.add_fields(false, &["requestParameters.id", "responseElements.summary"])?;
            if any(&["DeleteRuleGroup", "DeleteWebACL"]) {
                c.add_field(true, "requestParameters.id")?;
            }
        }
        "sns.amazonaws.com" => {
            if is("CreateTopic") {
                c.add_field(true, "responseElements.topicArn")?;
            } else if any(&["Subscribe", "Publish"]) {
                c.add_field(true, "requestParameters.topicArn")?;
            }
        }
        "bedrock.amazonaws.com" => {
            if is("Converse") {
                c.add_field(true, "requestParameters.modelId")?;
            }
        }
        "elasticloadbalancing.amazonaws.com" => {
            if is("DescribeLoadBalancers") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        "dynamodb.amazonaws.com" => {
            if is("ListTables") {
                c.add_field(true, "recipientAccountId")?;
            }
        }
        _ => {}
    }

    let mut out = Entities::default();
    let targets = std::mem::take(&mut c.target.0);
    if !targets.is_empty() {
        for t in &targets {
            classify_target(t, &mut out);
        }
        for v in [
            &mut out.user_target,
            &mut out.host_target,
            &mut out.service_target,
            &mut out.entity_target,
        ] {
            tree_set(v);
        }
        for h in &out.host_target {
            let parts: Vec<&str>;
            let id = if h.starts_with("arn:") {
                parts = h.split(':').collect();
                if parts.len() < 6 || parts[2] != "ec2" || !parts[5].starts_with("instance/") {
                    continue;
                }
                &parts[5]["instance/".len()..]
            } else {
                h.as_str()
            };
            if id.starts_with("i-") {
                out.host_target_id.push(id.to_string());
            }
        }
        tree_set(&mut out.host_target_id);
        for t in &targets {
            c.related.add(t);
        }
        out.target = targets;
    }

    if let Some(actor) = c.actor {
        let actor_str = crate::java::java_string(actor);
        let mut user_entity = actor;
        if user_type_str == Some("AssumedRole") {
            if let Some(role) = c.get("userIdentity.sessionContext.sessionIssuer.arn") {
                if role.as_str() != Some("") {
                    user_entity = role;
                }
            }
        }
        let class: Option<(&'static str, &J)> =
            if user_type_str == Some("AWSService") || is_service_linked(&actor_str) {
                Some(("service", actor))
            } else if matches!(user_type_str, Some("IAMUser" | "Root" | "AssumedRole")) {
                Some(("user", user_entity))
            } else if actor_str.starts_with("arn:") {
                let parts: Vec<&str> = actor_str.split(':').collect();
                if parts.len() >= 6 {
                    match resource_type(parts[5]) {
                        "user" | "role" | "assumed-role" | "federated-user" => {
                            Some(("user", user_entity))
                        }
                        "instance" => Some(("host", actor)),
                        _ => None,
                    }
                } else {
                    None
                }
            } else if actor_str.starts_with("i-") {
                Some(("host", actor))
            } else {
                None
            };
        let (kind, id) = class.unwrap_or(("", actor));
        out.actor = Some((actor.to_value(), kind, id.to_value()));
    }
    out.related = c.related.0;
    Ok(out)
}

fn resources_to_target(c: &mut Ctx) -> R<()> {
    for f in c.list("resources")? {
        let s = cast_str(member(f, "ARN")?, "ARN")?;
        add_value(&mut c.target, s);
    }
    Ok(())
}

fn ec2(c: &mut Ctx, name: Option<&str>) -> R<()> {
    c.add_fields(
        false,
        &[
            "requestParameters.groupId",
            "requestParameters.groupName",
            "requestParameters.roleName",
            "requestParameters.subnetId",
            "requestParameters.volumeId",
            "requestParameters.networkInterfaceId",
            "requestParameters.vpcId",
            "requestParameters.snapshotId",
            "responseElements.groupId",
            "responseElements.reservationId",
            "responseElements.vpc.vpcId",
            "responseElements.vpc.dhcpOptionsId",
            "responseElements.snapshotId",
            "responseElements.volumeId",
        ],
    )?;
    for i in c.list("responseElements.securityGroupRuleSet.items")? {
        let vals = [
            member(i, "groupId")?,
            opt_member(member(i, "referencedGroupInfo")?, "groupId")?,
            member(i, "securityGroupRuleId")?,
        ];
        c.add_values(false, &vals)?;
    }
    for i in c.list("responseElements.groupSet.items")? {
        let s = cast_str(member(i, "groupId")?, "groupId")?;
        add_value(&mut c.related, s);
    }
    for i in c.list("requestParameters.groupSet.items")? {
        let s = cast_str(member(i, "groupId")?, "groupId")?;
        add_value(&mut c.related, s);
    }
    for i in c.list("requestParameters.instancesSet.items")? {
        let s = cast_str(member(i, "instanceId")?, "instanceId")?;
        add_value(&mut c.related, s);
    }
    for inst in c.list("responseElements.instancesSet.items")? {
        let vals = [
            member(inst, "subnetId")?,
            member(inst, "vpcId")?,
            member(inst, "instanceId")?,
            member(inst, "imageId")?,
            opt_member(member(inst, "iamInstanceProfile")?, "arn")?,
        ];
        c.add_values(false, &vals)?;
        let Some(items) = opt_member(member(inst, "networkInterfaceSet")?, "items")? else {
            continue;
        };
        let J::Arr(nets) = items else {
            return Err("networkInterfaceSet.items is not a list".into());
        };
        for net in nets {
            let vals = [
                member(net, "networkInterfaceId")?,
                member(net, "vpcId")?,
                member(net, "subnetId")?,
            ];
            c.add_values(false, &vals)?;
            let Some(groups) = opt_member(member(net, "groupSet")?, "items")? else {
                continue;
            };
            let J::Arr(groups) = groups else {
                return Err("groupSet.items is not a list".into());
            };
            for g in groups {
                let s = cast_str(member(g, "groupId")?, "groupId")?;
                add_value(&mut c.related, s);
            }
        }
    }
    for i in c.list("requestParameters.revokedSecurityGroupRuleSet.items")? {
        let vals = [member(i, "securityGroupRuleId")?, member(i, "groupId")?];
        c.add_values(false, &vals)?;
    }
    let is = |n: &str| name == Some(n);
    if is("AuthorizeSecurityGroupIngress") || is("AuthorizeSecurityGroupEgress") {
        c.add_field(true, "requestParameters.groupId")?;
        for f in c.list("responseElements.securityGroupRuleSet.items")? {
            let s = cast_str(member(f, "securityGroupRuleId")?, "securityGroupRuleId")?;
            add_value(&mut c.target, s);
        }
    } else if is("CreateTrafficMirrorFilter") {
        c.add_field(
            true,
            "responseElements.CreateTrafficMirrorFilterResponse.trafficMirrorFilter.trafficMirrorFilterId",
        )?;
    } else if is("CreateTrafficMirrorFilterRule") {
        c.add_field(
            true,
            "responseElements.CreateTrafficMirrorFilterRuleResponse.trafficMirrorFilterRule.trafficMirrorFilterRuleId",
        )?;
    } else if is("CreateTrafficMirrorSession") {
        c.add_field(
            true,
            "responseElements.CreateTrafficMirrorSessionResponse.trafficMirrorSession.trafficMirrorSessionId",
        )?;
    } else if is("CreateTrafficMirrorTarget") {
        c.add_field(
            true,
            "responseElements.CreateTrafficMirrorTargetResponse.trafficMirrorTarget.trafficMirrorTargetId",
        )?;
    } else if is("DeleteFlowLogs") {
        c.add_field(
            true,
            "requestParameters.DeleteFlowLogsRequest.FlowLogId.content",
        )?;
    } else if is("DeleteNetworkAcl") {
        c.add_field(true, "requestParameters.networkAclId")?;
    } else if is("DeleteNetworkAclEntry") {
        c.add_field(true, "requestParameters.networkAclId")?;
        if let Some(rn) = c.get("requestParameters.ruleNumber") {
            let s = crate::java::java_string(rn);
            add_value(&mut c.target, Some(&s));
        }
    } else if is("GetPasswordData") {
        c.add_field(true, "requestParameters.instanceId")?;
    } else if is("ModifyImageAttribute") {
        c.add_field(true, "requestParameters.imageId")?;
    } else if is("ModifySnapshotAttribute") {
        c.add_field(true, "requestParameters.snapshotId")?;
    } else if [
        "DescribeSecurityGroups",
        "DescribeNetworkInterfaces",
        "DescribeRegions",
        "DescribeVpcs",
        "DescribeNetworkAcls",
        "DescribeVolumes",
    ]
    .iter()
    .any(|n| is(n))
    {
        c.add_field(true, "recipientAccountId")?;
    }
    Ok(())
}

fn classify_target(t: &str, out: &mut Entities) {
    if t.is_empty() {
        return;
    }
    if t.starts_with("arn:") {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() >= 6 {
            let rt = resource_type(parts[5]);
            let bucket = if is_service_linked(t) {
                &mut out.service_target
            } else if USER_TYPES.contains(&rt) {
                &mut out.user_target
            } else if HOST_TYPES.contains(&rt) {
                &mut out.host_target
            } else if SERVICE_TYPES.contains(&rt) || parts[2] == "s3" {
                &mut out.service_target
            } else {
                &mut out.entity_target
            };
            bucket.push(t.to_string());
            return;
        }
        // A short `arn:` string is not checked against the id prefixes (the script's
        // else-branch), so it is generic.
        out.entity_target.push(t.to_string());
        return;
    }
    if t.len() == 20 && t.starts_with("AKIA") {
        out.user_target.push(t.to_string());
    } else if HOST_ID_PREFIXES.iter().any(|p| t.starts_with(p)) {
        out.host_target.push(t.to_string());
    } else if SERVICE_ID_PREFIXES.iter().any(|p| t.starts_with(p)) {
        out.service_target.push(t.to_string());
    } else {
        out.entity_target.push(t.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Entities {
        let j = J::parse(text).unwrap();
        collect(j.as_obj().unwrap()).unwrap()
    }

    #[test]
    fn iam_user_policy_targets() {
        let e = run(
            r#"{"eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy",
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/alice","userName":"alice","accessKeyId":"AKIAEXAMPLEEXAMPLE12"},
            "requestParameters":{"userName":"bob","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}}"#,
        );
        assert_eq!(
            e.target,
            ["arn:aws:iam::aws:policy/AdministratorAccess", "bob"]
        );
        assert_eq!(
            e.service_target,
            ["arn:aws:iam::aws:policy/AdministratorAccess"]
        );
        assert_eq!(e.entity_target, ["bob"]);
        assert_eq!(
            e.related,
            [
                "AKIAEXAMPLEEXAMPLE12",
                "alice",
                "arn:aws:iam::1:user/alice",
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "bob"
            ]
        );
        let (legacy, kind, id) = e.actor.unwrap();
        assert_eq!(legacy, "arn:aws:iam::1:user/alice");
        assert_eq!(kind, "user");
        assert_eq!(id, "arn:aws:iam::1:user/alice");
    }

    #[test]
    fn assumed_role_actor_is_role_arn() {
        let e = run(
            r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject",
            "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/sess",
              "sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R","userName":"R"}}},
            "resources":[{"ARN":"arn:aws:s3:::b/k"},{"ARN":"arn:aws:s3:::b"}]}"#,
        );
        let (legacy, kind, id) = e.actor.unwrap();
        assert_eq!(legacy, "arn:aws:sts::1:assumed-role/R/sess");
        assert_eq!(
            (kind, id.as_str().unwrap()),
            ("user", "arn:aws:iam::1:role/R")
        );
        assert_eq!(e.service_target, ["arn:aws:s3:::b", "arn:aws:s3:::b/k"]);
    }

    #[test]
    fn ssm_send_command_all_instances_targets_account() {
        let e = run(
            r#"{"eventSource":"ssm.amazonaws.com","eventName":"SendCommand","recipientAccountId":"123456789012",
            "requestParameters":{"targets":[{"key":"InstanceIds","values":["*"]}]}}"#,
        );
        assert_eq!(e.target, ["123456789012"]);
        assert_eq!(e.entity_target, ["123456789012"]);
        let e = run(
            r#"{"eventSource":"ssm.amazonaws.com","eventName":"SendCommand",
            "requestParameters":{"instanceIds":["i-0123456789abcdef0","arn:aws:ec2:us-east-1:1:instance/i-0aaaaaaaaaaaaaaaa"]}}"#,
        );
        assert_eq!(e.host_target.len(), 2);
        assert_eq!(
            e.host_target_id,
            ["i-0123456789abcdef0", "i-0aaaaaaaaaaaaaaaa"]
        );
    }

    #[test]
    fn add_values_short_circuits() {
        // referencedGroupInfo is absent, so securityGroupRuleId is not added to related.
        let e = run(r#"{"eventSource":"ec2.amazonaws.com","eventName":"X",
            "responseElements":{"securityGroupRuleSet":{"items":[{"groupId":"sg-1","securityGroupRuleId":"sgr-1"}]}}}"#);
        assert_eq!(e.related, ["sg-1"]);
    }

    #[test]
    fn wrong_type_fails_the_script() {
        let j = J::parse(r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","requestParameters":{"userName":5}}"#).unwrap();
        assert!(collect(j.as_obj().unwrap()).is_err());
        let j = J::parse(
            r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","resources":{"ARN":"x"}}"#,
        )
        .unwrap();
        assert!(collect(j.as_obj().unwrap()).is_err());
    }

    #[test]
    fn service_actor() {
        let e = run(
            r#"{"eventSource":"sts.amazonaws.com","eventName":"AssumeRole",
            "userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"},
            "requestParameters":{"roleArn":"arn:aws:iam::1:role/x"}}"#,
        );
        let (legacy, kind, _) = e.actor.unwrap();
        assert_eq!(
            (legacy.as_str().unwrap(), kind),
            ("lambda.amazonaws.com", "service")
        );
        assert_eq!(e.user_target, ["arn:aws:iam::1:role/x"]);
    }
}
