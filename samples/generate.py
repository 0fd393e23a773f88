#!/usr/bin/env python3
"""Writes samples/trail/: six hours of CloudTrail for account 111122223333 in us-east-1 and
us-west-2, in S3 delivery layout (AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/, one gzipped
{"Records": [...]} file per region and 5-minute interval), with legitimate activity, attacks
Tripline's rule pack detects, and look-alikes it must not flag. See samples/README.md.

Deterministic: running it again writes byte-identical files."""

import gzip
import hashlib
import io
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "rules", "builtin", "tests"))
from ctrecords import (ACCT, BASE, OTHER_ACCT, assume_role, console_login, iam_user, record, reset, role_session,  # noqa: E402
                       root, service, user_session)

reset()
R = []
H = 60  # minutes per hour; times below are minutes after 08:00 UTC
END = 6 * H


def add(*recs):
    R.extend(recs)


# ---------------------------------------------------------------- background and coverage
monitor = iam_user("monitor", "AKIAMONITOR000000001")
for m in range(0, END, 5):
    add(record(m, "ec2.amazonaws.com", "DescribeInstances", monitor, "198.51.100.20", seconds=17, params={"maxResults": 100}))
for m in range(0, END, 15):
    add(record(m, "ec2.amazonaws.com", "DescribeVolumes", monitor, "198.51.100.20", region="us-west-2", seconds=41))

# ---------------------------------------------------------------- legitimate activity
ops = iam_user("ops", "AKIAOPS0000000000001")
admin = iam_user("admin", "AKIAADMIN00000000001")
# ops engineer assumes OpsRole from the office several times a day
for i, m in enumerate([10, 55, 100, 150, 200, 260, 320]):
    key = f"ASIAOPSROLE000000{i:03d}"
    add(assume_role(m, ops, "OpsRole", "ops-cli", key, "198.51.100.40", seconds=3))
    s = role_session("OpsRole", "ops-cli", key, m)
    add(record(m + 1, "iam.amazonaws.com", "ListRoles", s, "198.51.100.40"),
        record(m + 2, "ec2.amazonaws.com", "DescribeSecurityGroups", s, "198.51.100.40", region="us-west-2"),
        record(m + 3, "s3.amazonaws.com", "ListBuckets", s, "198.51.100.40"))
# a session created before the trail starts (unknown lineage, not an alert)
early = role_session("OpsRole", "ops-cli", "ASIAOPSEARLY00000001", -40)
add(record(8, "iam.amazonaws.com", "GetRole", early, "198.51.100.40", params={"roleName": "OpsRole"}))
# the ops session makes a bucket public (a real finding, made with a legitimate session)
s2 = role_session("OpsRole", "ops-cli", "ASIAOPSROLE000000002", 100)
add(record(110, "s3.amazonaws.com", "PutBucketPolicy", s2, "198.51.100.40", params={"bucketName": "marketing-site",
    "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::marketing-site/*"}]}}))
# look-alike: a bucket policy for a partner account only
add(record(112, "s3.amazonaws.com", "PutBucketPolicy", s2, "198.51.100.40", params={"bucketName": "partner-exchange",
    "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCT}:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::partner-exchange/*"}]}}))

# alice: console with MFA; keys refreshed by the console later in the session; enrols a
# device from the console (look-alike of the seed detection)
add(console_login(20, iam_user("alice", None), "198.51.100.50", True))
for m, key, created in [(21, "ASIAALICECONSOLE0001", 20), (25, "ASIAALICECONSOLE0001", 20), (140, "ASIAALICECONSOLE0002", 138), (145, "ASIAALICECONSOLE0002", 138)]:
    add(record(m, "iam.amazonaws.com", "ListUsers", user_session("alice", key, created, mfa=True), "198.51.100.50", console=True, ua="AWS Internal"))
add(record(30, "iam.amazonaws.com", "CreateVirtualMFADevice", user_session("alice", "ASIAALICECONSOLE0001", 20, mfa=True), "198.51.100.50",
           console=True, ua="AWS Internal", params={"virtualMFADeviceName": "alice-phone2"}))
add(record(31, "iam.amazonaws.com", "ListMFADevices", user_session("alice", "ASIAALICECONSOLE0001", 20, mfa=True), "198.51.100.50",
           console=True, ua="AWS Internal", params={"userName": "alice"}))
# admin housekeeping look-alikes
add(record(40, "iam.amazonaws.com", "AttachUserPolicy", admin, "198.51.100.10", params={"userName": "alice", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    record(41, "guardduty.amazonaws.com", "UpdateDetector", admin, "198.51.100.10", params={"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "findingPublishingFrequency": "FIFTEEN_MINUTES"}),
    record(42, "cloudtrail.amazonaws.com", "PutEventSelectors", admin, "198.51.100.10", params={"trailName": "management-events",
           "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": True, "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::payroll/"]}]}]}))

# web server instance: EC2 refreshes its role credentials every hour; it uses them from its
# elastic IP and through a VPC endpoint
INST = "i-0a1b2c3d4e5f67890"
for h in range(6):
    m = 5 + h * H
    key = f"ASIAWEBSERVER0000{h:03d}"
    add(assume_role(m, service("ec2.amazonaws.com"), "WebServer", INST, key, "ec2.amazonaws.com", ua="ec2.amazonaws.com", seconds=1))
    s = role_session("WebServer", INST, key, m, ec2=True)
    add(record(m + 1, "s3.amazonaws.com", "ListBuckets", s, "54.210.1.10", ua="aws-sdk-go-v2/1.25.0"),
        record(m + 20, "sqs.amazonaws.com", "GetQueueAttributes", s, "54.210.1.10", ua="aws-sdk-go-v2/1.25.0", params={"queueUrl": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs"}),
        record(m + 40, "kms.amazonaws.com", "Decrypt", s, "10.0.3.7", ua="aws-sdk-go-v2/1.25.0", vpce="vpce-0a1b2c3d4e5f67890"))

# a Lambda function: service-issued credentials, used from changing AWS addresses
for h in range(0, 6, 2):
    m = 7 + h * H
    key = f"ASIALAMBDAFN00000{h:03d}"
    add(assume_role(m, service("lambda.amazonaws.com"), "thumbnailer-role", "thumbnailer", key, "lambda.amazonaws.com", ua="lambda.amazonaws.com"))
    s = role_session("thumbnailer-role", "thumbnailer", key, m)
    for j in range(3):
        add(record(m + 1 + j * 10, "s3.amazonaws.com", "ListBuckets", s, f"3.91.{20 + h}.{100 + j * 17}", ua="aws-sdk-nodejs/3.540.0"))

# a partner account's role reads the shared bucket (issued in the partner's trail)
partner = role_session("PartnerSync", "nightly", "ASIAPARTNERSYNC00001", 50, account=OTHER_ACCT)
add(record(52, "s3.amazonaws.com", "GetBucketLocation", partner, "192.0.2.77", params={"bucketName": "partner-exchange"}))

# ---------------------------------------------------------------- attacks
# 1. bob signs in without MFA; his console session is later replayed from another network
bob = iam_user("bob", None)
add(console_login(60, bob, "198.51.100.51", False))
for m in [61, 63, 66, 70, 75, 80]:
    add(record(m, "iam.amazonaws.com", "GetAccountSummary", user_session("bob", "ASIABOBCONSOLE000001", 60), "198.51.100.51", console=True, ua="AWS Internal"))
for m, action in [(150, "ListUsers"), (152, "ListAccessKeys")]:
    add(record(m, "iam.amazonaws.com", action, user_session("bob", "ASIABOBCONSOLE000001", 60), "203.0.113.200", console=True, ua="AWS Internal"))

# 2. the web server's credentials leak (SSRF) and are used from outside AWS
stolen = role_session("WebServer", INST, "ASIAWEBSERVER0000003", 5 + 3 * H, ec2=True)
add(record(3 * H + 30, "sts.amazonaws.com", "GetCallerIdentity", stolen, "203.0.113.7", ua="aws-cli/2.15.30"),
    record(3 * H + 31, "s3.amazonaws.com", "ListBuckets", stolen, "203.0.113.7", ua="aws-cli/2.15.30"),
    record(3 * H + 33, "secretsmanager.amazonaws.com", "GetSecretValue", stolen, "203.0.113.7", ua="aws-cli/2.15.30", params={"secretId": "prod/db"}))

# 3. a forged OpsRole session that nothing issued: persistence and privilege escalation
forged = role_session("OpsRole", "ops-cli", "ASIAOPSFORGED0000001", 4 * H + 28)
t = 4 * H + 30
add(record(t, "iam.amazonaws.com", "ListUsers", forged, "203.0.113.66"),
    record(t + 1, "iam.amazonaws.com", "CreateUser", forged, "203.0.113.66", params={"userName": "svc-sync"}),
    record(t + 2, "iam.amazonaws.com", "CreateAccessKey", forged, "203.0.113.66", params={"userName": "svc-sync"},
           response={"accessKey": {"accessKeyId": "AKIASVCSYNC000000001", "status": "Active", "userName": "svc-sync"}}),
    record(t + 3, "iam.amazonaws.com", "AttachUserPolicy", forged, "203.0.113.66", params={"userName": "svc-sync", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    record(t + 4, "iam.amazonaws.com", "CreateVirtualMFADevice", forged, "203.0.113.66", params={"virtualMFADeviceName": "svc-sync"},
           response={"virtualMFADevice": {"serialNumber": f"arn:aws:iam::{ACCT}:mfa/svc-sync"}}),
    record(t + 5, "iam.amazonaws.com", "EnableMFADevice", forged, "203.0.113.66", params={"userName": "svc-sync", "serialNumber": f"arn:aws:iam::{ACCT}:mfa/svc-sync"}),
    record(t + 6, "iam.amazonaws.com", "DeactivateMFADevice", forged, "203.0.113.66", params={"userName": "alice", "serialNumber": f"arn:aws:iam::{ACCT}:mfa/alice"}),
    record(t + 7, "iam.amazonaws.com", "CreateOpenIDConnectProvider", forged, "203.0.113.66",
           params={"url": "https://idp.example.net", "clientIDList": ["sts.amazonaws.com"], "thumbprintList": ["0123456789abcdef0123456789abcdef01234567"]}))

# 4. root signs in without MFA and blinds the defences
add(console_login(5 * H, root(), "192.0.2.10", False))
rs = dict(root("ASIAROOTCONSOLE00001"), sessionContext={"attributes": {"creationDate": f"{BASE.strftime('%Y-%m-%d')}T13:00:00Z", "mfaAuthenticated": "false"}})
add(record(5 * H + 2, "cloudtrail.amazonaws.com", "StopLogging", rs, "192.0.2.10", console=True, ua="AWS Internal", region="us-west-2",
           params={"name": f"arn:aws:cloudtrail:us-west-2:{ACCT}:trail/regional-audit"}),
    record(5 * H + 4, "guardduty.amazonaws.com", "CreateFilter", rs, "192.0.2.10", console=True, ua="AWS Internal",
           params={"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "name": "suppress-all", "action": "ARCHIVE", "rank": 1,
                   "findingCriteria": {"criterion": {"severity": {"gte": 0}}}}))
# look-alike: the admin restarts logging
add(record(5 * H + 20, "cloudtrail.amazonaws.com", "StartLogging", admin, "198.51.100.10", region="us-west-2",
           params={"name": f"arn:aws:cloudtrail:us-west-2:{ACCT}:trail/regional-audit"}))

# ---------------------------------------------------------------- write the S3 layout
out_root = os.path.join(HERE, "trail")
shutil.rmtree(out_root, ignore_errors=True)
files = {}
for r in R:
    hh, mm = int(r["eventTime"][11:13]), int(r["eventTime"][14:16])
    slot_min = (hh * 60 + mm) // 5 * 5 + 5  # delivered at the end of its 5-minute window
    files.setdefault((r["awsRegion"], slot_min), []).append(r)
for (region, slot_min), recs in sorted(files.items()):
    recs.sort(key=lambda r: r["eventTime"])
    day = BASE.strftime("%Y/%m/%d")
    stamp = BASE.strftime("%Y%m%d") + f"T{slot_min // 60:02d}{slot_min % 60:02d}Z"
    uniq = hashlib.sha256(f"{region}{stamp}".encode()).hexdigest()[:16]
    d = os.path.join(out_root, "AWSLogs", ACCT, "CloudTrail", region, day)
    os.makedirs(d, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(json.dumps({"Records": recs}, separators=(",", ":")).encode())
    with open(os.path.join(d, f"{ACCT}_CloudTrail_{region}_{stamp}_{uniq}.json.gz"), "wb") as f:
        f.write(buf.getvalue())
print(f"{len(R)} records in {len(files)} files")
