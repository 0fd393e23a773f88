"""Helpers that write raw CloudTrail records (as AWS delivers them) for Tripline's rule tests
and sample trails. Deterministic: ids derive from a counter, times from a base time."""

import datetime as _dt
import hashlib

ACCT = "111122223333"
OTHER_ACCT = "444455556666"
BASE = _dt.datetime(2024, 5, 1, 8, 0, 0, tzinfo=_dt.timezone.utc)

_counter = [0]


def reset():
    _counter[0] = 0


def ts(minutes, seconds=0):
    t = BASE + _dt.timedelta(minutes=minutes, seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(seed):
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def record(minutes, source, name, identity, ip, region="us-east-1", params=None, response=None,
           additional=None, error=None, read_only=None, ua="aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
           seconds=0, console=None, category="Management", resources=None, account=ACCT, vpce=None, extra=None):
    _counter[0] += 1
    n = _counter[0]
    r = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": ts(minutes, seconds),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": response,
        "requestID": _uuid(f"req-{n}"),
        "eventID": _uuid(f"evt-{n}"),
        "readOnly": bool(read_only) if read_only is not None else name.startswith(("Get", "List", "Describe", "Lookup", "Head")),
        "eventType": "AwsApiCall" if name != "ConsoleLogin" else "AwsConsoleSignIn",
        "managementEvent": category == "Management",
        "recipientAccountId": account,
        "eventCategory": category,
    }
    if additional is not None:
        r["additionalEventData"] = additional
    if error is not None:
        r["errorCode"], r["errorMessage"] = error
    if console is not None:
        r["sessionCredentialFromConsole"] = console
    if resources is not None:
        r["resources"] = resources
    if vpce is not None:
        r["vpcEndpointId"] = vpce
    if extra:
        r.update(extra)
    return r


def iam_user(name, key="AKIAIOSFODNN7EXAMPLE", account=ACCT):
    return {"type": "IAMUser", "principalId": "AIDA" + hashlib.md5(name.encode()).hexdigest()[:16].upper(),
            "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account, "accessKeyId": key, "userName": name}


def root(key=None, account=ACCT):
    r = {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}
    if key:
        r["accessKeyId"] = key
    return r


def role_session(role, session, key, created_minutes, mfa=False, account=ACCT, ec2=False, path=""):
    ident = {
        "type": "AssumedRole",
        "principalId": "AROA" + hashlib.md5(role.encode()).hexdigest()[:16].upper() + ":" + session,
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROA" + hashlib.md5(role.encode()).hexdigest()[:16].upper(),
                              "arn": f"arn:aws:iam::{account}:role/{path}{role}", "accountId": account, "userName": role},
            "attributes": {"creationDate": ts(created_minutes), "mfaAuthenticated": "true" if mfa else "false"},
        },
    }
    if ec2:
        ident["sessionContext"]["ec2RoleDelivery"] = "2.0"
    return ident


def user_session(name, key, created_minutes, mfa=False, account=ACCT):
    i = iam_user(name, key, account)
    i["sessionContext"] = {"attributes": {"creationDate": ts(created_minutes), "mfaAuthenticated": "true" if mfa else "false"}}
    return i


def service(name):
    return {"type": "AWSService", "invokedBy": name}


def assume_role(minutes, caller, role, session, new_key, ip, region="us-east-1", serial=None, ua=None, account=ACCT, seconds=0):
    params = {"roleArn": f"arn:aws:iam::{account}:role/{role}", "roleSessionName": session, "durationSeconds": 3600}
    if serial:
        params["serialNumber"] = serial
    resp = {
        "credentials": {"accessKeyId": new_key, "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": ts(minutes + 60)},
        "assumedRoleUser": {"assumedRoleId": "AROA" + hashlib.md5(role.encode()).hexdigest()[:16].upper() + ":" + session,
                            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}"},
    }
    kw = {}
    if ua:
        kw["ua"] = ua
    return record(minutes, "sts.amazonaws.com", "AssumeRole", caller, ip, region=region, params=params, response=resp,
                  read_only=True, account=account, seconds=seconds, **kw)


def console_login(minutes, identity, ip, mfa_used, success=True):
    return record(minutes, "signin.amazonaws.com", "ConsoleLogin", identity, ip,
                  ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
                  response={"ConsoleLogin": "Success" if success else "Failure"},
                  additional={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No",
                              "MFAUsed": "Yes" if mfa_used else "No"},
                  error=None if success else ("Failed authentication", "Failed authentication"), read_only=False)


def background(start, end, region="us-east-1", step=10, account=ACCT):
    """Routine read-only activity of a monitoring user (keeps the trail's coverage)."""
    out = []
    m = start
    while m <= end:
        out.append(record(m, "ec2.amazonaws.com", "DescribeInstances", iam_user("monitor", "AKIAMONITOR000000001", account),
                          "198.51.100.20", region=region, params={"maxResults": 100}, account=account))
        m += step
    return out
