//! `event.category` / `event.type` by event name (the pipeline's categorization table; exact,
//! case-sensitive match on `eventName`). Names not listed get no category and type `info`.

pub(crate) type Cat = (&'static [&'static str], &'static [&'static str]);

pub(crate) fn lookup(event_name: &str) -> Option<Cat> {
    Some(match event_name {
        "AddUserToGroup" => (&["iam"], &["group", "change"]),
        "AssumeRole" => (&["authentication"], &["info"]),
        "AttachGroupPolicy" => (&["iam"], &["group", "change"]),
        "AttachRolePolicy" => (&["iam"], &["change"]),
        "AttachUserPolicy" => (&["iam"], &["user", "change"]),
        "AuthorizeSecurityGroupIngress" => (&["network"], &["access"]),
        "ChangePassword" => (&["iam"], &["user", "change"]),
        "ConsoleLogin" => (&["authentication"], &["info"]),
        "Converse" => (&["api"], &["info"]),
        "CreateAccessKey" => (&["iam"], &["user", "change"]),
        "CreateBucket" => (&["file"], &["creation"]),
        "CreateControlChannel" => (&["session"], &["start"]),
        "CreateDataChannel" => (&["session"], &["start"]),
        "CreateDocument" => (&["file"], &["creation"]),
        "CreateGroup" => (&["iam"], &["group", "creation"]),
        "CreateKeyPair" => (&["iam"], &["admin", "creation"]),
        "CreatePolicy" => (&["iam"], &["creation"]),
        "CreateTopic" => (&["configuration"], &["creation"]),
        "CreateUser" => (&["iam"], &["user", "creation"]),
        "CreateVirtualMFADevice" => (&["iam"], &["user", "change"]),
        "DeactivateMFADevice" => (&["iam"], &["user", "change"]),
        "DeleteAccessKey" => (&["iam"], &["user", "change"]),
        "DeleteBucket" => (&["file"], &["deletion"]),
        "DeleteGroup" => (&["iam"], &["group", "deletion"]),
        "DeleteGroupPolicy" => (&["iam"], &["group", "change"]),
        "DeleteObject" => (&["file"], &["deletion"]),
        "DeleteSSHPublicKey" => (&["iam"], &["user", "change"]),
        "DeleteTrail" => (&["configuration"], &["deletion"]),
        "DeleteUser" => (&["iam"], &["user", "deletion"]),
        "DeleteUserPermissionsBoundary" => (&["iam"], &["user", "change"]),
        "DeleteUserPolicy" => (&["iam"], &["user", "change"]),
        "DeleteVirtualMFADevice" => (&["iam"], &["user", "change"]),
        "DescribeDBInstances" => (&["database"], &["info"]),
        "DescribeInstances" => (&["host"], &["info"]),
        "DescribeLoadBalancers" => (&["network"], &["info"]),
        "DescribeNetworkAcls" => (&["network"], &["info"]),
        "DescribeNetworkInterfaces" => (&["network"], &["info"]),
        "DescribeRegions" => (&["api"], &["info"]),
        "DescribeSecurityGroups" => (&["network"], &["info"]),
        "DescribeTrails" => (&["configuration"], &["info"]),
        "DescribeVolumes" => (&["host"], &["info"]),
        "DescribeVpcs" => (&["network"], &["info"]),
        "DetachGroupPolicy" => (&["iam"], &["group", "change"]),
        "DetachUserPolicy" => (&["iam"], &["user", "change"]),
        "EnableMFADevice" => (&["iam"], &["user", "change"]),
        "GetCallerIdentity" => (&["authentication"], &["info"]),
        "GetGroup" => (&["iam"], &["group", "info"]),
        "GetGroupPolicy" => (&["iam"], &["group", "info"]),
        "GetObject" => (&["file"], &["info"]),
        "GetPolicy" => (&["iam"], &["info"]),
        "GetUser" => (&["iam"], &["user", "info"]),
        "GetUserPolicy" => (&["iam"], &["user", "info"]),
        "HeadObject" => (&["file"], &["info"]),
        "ListAttachedGroupPolicies" => (&["iam"], &["group", "info"]),
        "ListAttachedRolePolicies" => (&["iam"], &["info"]),
        "ListAttachedUserPolicies" => (&["iam"], &["user", "info"]),
        "ListBuckets" => (&["file"], &["info"]),
        "ListFunctions" => (&["package"], &["info"]),
        "ListGroupPolicies" => (&["iam"], &["group", "info"]),
        "ListGroups" => (&["iam"], &["group", "info"]),
        "ListGroupsForUser" => (&["iam"], &["user", "info"]),
        "ListInstanceAssociations" => (&["host"], &["info"]),
        "ListObjects" => (&["file"], &["info"]),
        "ListRoles" => (&["iam"], &["info"]),
        "ListTables" => (&["database"], &["info"]),
        "ListUserPolicies" => (&["iam"], &["user", "info"]),
        "ListUserTags" => (&["iam"], &["user", "info"]),
        "ListUsers" => (&["iam"], &["user", "info"]),
        "OpenControlChannel" => (&["session"], &["start"]),
        "OpenDataChannel" => (&["session"], &["start"]),
        "Publish" => (&["api"], &["info"]),
        "PutGroupPolicy" => (&["iam"], &["group", "change"]),
        "PutObject" => (&["file"], &["change"]),
        "PutUserPermissionsBoundary" => (&["iam"], &["user", "change"]),
        "PutUserPolicy" => (&["iam"], &["user", "change"]),
        "RemoveUserFromGroup" => (&["iam"], &["group", "change"]),
        "SendCommand" => (&["process"], &["start"]),
        "SetDefaultPolicyVersion" => (&["iam"], &["admin", "change"]),
        "SetSecurityTokenServicePreferences" => (&["iam"], &["admin", "change"]),
        "StartSession" => (&["session"], &["start"]),
        "Subscribe" => (&["configuration"], &["change"]),
        "TagUser" => (&["iam"], &["user", "change"]),
        "TerminateSession" => (&["session"], &["end"]),
        "UntagUser" => (&["iam"], &["user", "change"]),
        "UpdateAccessKey" => (&["iam"], &["user", "change"]),
        "UpdateAccountPasswordPolicy" => (&["iam"], &["admin", "change"]),
        "UpdateGroup" => (&["iam"], &["group", "change"]),
        "UpdateLoginProfile" => (&["iam"], &["user", "change"]),
        "UpdateRole" => (&["iam"], &["admin", "change"]),
        "UpdateSSHPublicKey" => (&["iam"], &["user", "change"]),
        "UpdateUser" => (&["iam"], &["user", "change"]),
        _ => return None,
    })
}

/// Every event name the table lists.
pub(crate) fn all_names() -> &'static [&'static str] {
    &[
        "AddUserToGroup", "AssumeRole", "AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy",
        "AuthorizeSecurityGroupIngress", "ChangePassword", "ConsoleLogin", "Converse", "CreateAccessKey",
        "CreateBucket", "CreateControlChannel", "CreateDataChannel", "CreateDocument", "CreateGroup",
        "CreateKeyPair", "CreatePolicy", "CreateTopic", "CreateUser", "CreateVirtualMFADevice",
        "DeactivateMFADevice", "DeleteAccessKey", "DeleteBucket", "DeleteGroup", "DeleteGroupPolicy",
        "DeleteObject", "DeleteSSHPublicKey", "DeleteTrail", "DeleteUser", "DeleteUserPermissionsBoundary",
        "DeleteUserPolicy", "DeleteVirtualMFADevice", "DescribeDBInstances", "DescribeInstances",
        "DescribeLoadBalancers", "DescribeNetworkAcls", "DescribeNetworkInterfaces", "DescribeRegions",
        "DescribeSecurityGroups", "DescribeTrails", "DescribeVolumes", "DescribeVpcs", "DetachGroupPolicy",
        "DetachUserPolicy", "EnableMFADevice", "GetCallerIdentity", "GetGroup", "GetGroupPolicy", "GetObject",
        "GetPolicy", "GetUser", "GetUserPolicy", "HeadObject", "ListAttachedGroupPolicies",
        "ListAttachedRolePolicies", "ListAttachedUserPolicies", "ListBuckets", "ListFunctions",
        "ListGroupPolicies", "ListGroups", "ListGroupsForUser", "ListInstanceAssociations", "ListObjects",
        "ListRoles", "ListTables", "ListUserPolicies", "ListUserTags", "ListUsers", "OpenControlChannel",
        "OpenDataChannel", "Publish", "PutGroupPolicy", "PutObject", "PutUserPermissionsBoundary",
        "PutUserPolicy", "RemoveUserFromGroup", "SendCommand", "SetDefaultPolicyVersion",
        "SetSecurityTokenServicePreferences", "StartSession", "Subscribe", "TagUser", "TerminateSession",
        "UntagUser", "UpdateAccessKey", "UpdateAccountPasswordPolicy", "UpdateGroup", "UpdateLoginProfile",
        "UpdateRole", "UpdateSSHPublicKey", "UpdateUser",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(lookup("AttachUserPolicy"), Some((&["iam"][..], &["user", "change"][..])));
        assert_eq!(lookup("AuthorizeSecurityGroupIngress"), Some((&["network"][..], &["access"][..])));
        assert_eq!(lookup("DeleteObject"), Some((&["file"][..], &["deletion"][..])));
        assert_eq!(lookup("TerminateSession"), Some((&["session"][..], &["end"][..])));
        // Exact, case-sensitive; versioned Lambda names and egress rules are not listed.
        assert_eq!(lookup("AddPermission20150331v2"), None);
        assert_eq!(lookup("AuthorizeSecurityGroupEgress"), None);
        assert_eq!(lookup("consolelogin"), None);
        for n in all_names() {
            assert!(lookup(n).is_some(), "{n}");
        }
        assert_eq!(all_names().len(), 91);
    }
}
