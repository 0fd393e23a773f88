//! The pipeline proper: one pass over the pruned record, in the processors' order where the
//! order changes the result (renames move values out of the record, so a later reader of the
//! same source sees nothing; appends keep their order).

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::java::java_string;
use crate::jtree::{Obj, J};
use crate::plan::{FieldPlan, Steps};
use crate::{entities, time, NormalizeError, Normalizer, Retain};

const PIPELINE: &str = "logs-aws.cloudtrail";

fn failure(kind: &str, tag: &str, msg: &str) -> String {
    format!("Processor {kind} with tag {tag} in pipeline {PIPELINE} failed with message: {msg}")
}

/// Sets a nested path in the output, creating (or replacing non-object) parents.
pub(crate) fn put(root: &mut Map<String, Value>, path: &[&str], v: Value) {
    let (last, init) = path.split_last().expect("non-empty path");
    let mut cur = root;
    for k in init {
        // Look up before inserting: `Map::entry` would allocate the key on every call.
        if !cur.get(*k).is_some_and(Value::is_object) {
            cur.insert((*k).to_string(), Value::Object(Map::new()));
        }
        cur = cur
            .get_mut(*k)
            .and_then(Value::as_object_mut)
            .expect("object just ensured");
    }
    match cur.get_mut(*last) {
        Some(slot) => *slot = v,
        None => {
            cur.insert((*last).to_string(), v);
        }
    }
}

pub(crate) fn get<'o>(root: &'o Map<String, Value>, path: &[&str]) -> Option<&'o Value> {
    let (last, init) = path.split_last()?;
    let mut cur = root;
    for k in init {
        cur = cur.get(*k)?.as_object()?;
    }
    cur.get(*last).filter(|v| !v.is_null())
}

fn remove(root: &mut Map<String, Value>, path: &[&str]) -> Option<Value> {
    let (last, init) = path.split_last()?;
    let mut cur = root;
    for k in init {
        cur = cur.get_mut(*k)?.as_object_mut()?;
    }
    cur.remove(*last)
}

/// A node of the output under construction: a value, or an object the pipeline's paths created.
enum Node {
    Leaf(Value),
    Obj(Tree),
}

/// An output object under construction. The pipeline's field names are static, so building
/// with them costs no key allocation and no hashing; each object becomes a `Map` of exactly
/// its size once, at the end. Same semantics as the `Map` operations it replaces (`put`, `get`,
/// `remove` below): insertion order, replacement in place, `swap_remove` on removal (what
/// `Map::remove` does with `preserve_order`), and paths that run into a value which is an
/// object walk on inside it.
#[derive(Default)]
struct Tree(Vec<(&'static str, Node)>);

/// What [`Tree::get`] answers for an object the pipeline's paths created (no path the
/// pipeline reads leads to one; a non-null stand-in keeps `is_some` exact should one do).
fn empty_object() -> &'static Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Value::Object(Map::new()))
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(v) => v,
            Node::Obj(t) => Value::Object(t.into_map()),
        }
    }
}

impl Tree {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn slot(&mut self, key: &str) -> Option<&mut Node> {
        self.0.iter_mut().find(|(k, _)| *k == key).map(|(_, n)| n)
    }

    fn put(&mut self, path: &[&'static str], v: Value) {
        self.put_node(path, Node::Leaf(v));
    }

    fn put_node(&mut self, path: &[&'static str], node: Node) {
        let Some((&first, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            match self.slot(first) {
                Some(slot) => *slot = node,
                None => self.0.push((first, node)),
            }
            return;
        }
        let i = match self.0.iter().position(|(k, _)| *k == first) {
            Some(i) => {
                let n = &mut self.0[i].1;
                match n {
                    Node::Obj(_) => {}
                    Node::Leaf(Value::Object(m)) => {
                        put(m, rest, node.into_value());
                        return;
                    }
                    Node::Leaf(_) => *n = Node::Obj(Tree(Vec::with_capacity(4))),
                }
                i
            }
            None => {
                self.0.push((first, Node::Obj(Tree(Vec::with_capacity(4)))));
                self.0.len() - 1
            }
        };
        if let Node::Obj(t) = &mut self.0[i].1 {
            t.put_node(rest, node);
        }
    }

    fn get(&self, path: &[&str]) -> Option<&Value> {
        let (&first, rest) = path.split_first()?;
        let node = self.0.iter().find(|(k, _)| *k == first).map(|(_, n)| n)?;
        match (node, rest.is_empty()) {
            (Node::Leaf(v), true) => Some(v).filter(|v| !v.is_null()),
            (Node::Obj(_), true) => Some(empty_object()),
            (Node::Obj(t), false) => t.get(rest),
            (Node::Leaf(Value::Object(m)), false) => get(m, rest),
            (Node::Leaf(_), false) => None,
        }
    }

    fn remove(&mut self, path: &[&str]) -> Option<Value> {
        let (&first, rest) = path.split_first()?;
        let i = self.0.iter().position(|(k, _)| *k == first)?;
        if rest.is_empty() {
            return Some(self.0.swap_remove(i).1.into_value());
        }
        match &mut self.0[i].1 {
            Node::Obj(t) => t.remove(rest),
            Node::Leaf(Value::Object(m)) => remove(m, rest),
            Node::Leaf(_) => None,
        }
    }

    /// A copy as a value (for a wanted object that also has wanted fields below it).
    fn to_value(&self) -> Value {
        let mut m = Map::with_capacity(self.0.len());
        for (k, n) in &self.0 {
            let v = match n {
                Node::Leaf(v) => v.clone(),
                Node::Obj(t) => t.to_value(),
            };
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    }

    fn into_map(self) -> Map<String, Value> {
        let mut m = Map::with_capacity(self.0.len());
        for (k, n) in self.0 {
            m.insert(k.to_string(), n.into_value());
        }
        m
    }
}

/// The output document under construction. Most fields live under `aws.cloudtrail` (and
/// `aws.cloudtrail.user_identity`), so those subtrees are kept apart and attached at the end,
/// which saves walking the same two or three levels for every field.
#[derive(Default)]
struct Out<'f> {
    root: Tree,
    ct: Tree,
    ui: Tree,
    /// Set when only some fields are wanted: other fields are not stored, except the ones
    /// the pipeline reads back (`plan::READ_BACK`).
    plan: Option<&'f FieldPlan>,
}

impl<'f> Out<'f> {
    /// Whether a field at `path` is stored (always, unless a plan leaves it out).
    fn keeps(&self, path: &[&str]) -> bool {
        match self.plan {
            None => true,
            Some(p) => p.stores(path),
        }
    }

    fn split<'p>(path: &'p [&'static str]) -> (u8, &'p [&'static str]) {
        match path {
            ["aws", "cloudtrail", "user_identity", rest @ ..] if !rest.is_empty() => (2, rest),
            ["aws", "cloudtrail", rest @ ..] if !rest.is_empty() && rest[0] != "user_identity" => {
                (1, rest)
            }
            _ => (0, path),
        }
    }
    fn tree(&mut self, which: u8) -> &mut Tree {
        match which {
            2 => &mut self.ui,
            1 => &mut self.ct,
            _ => &mut self.root,
        }
    }
    /// Stores a field computed only when it is stored.
    fn put_with<V: Into<Value>>(&mut self, path: &[&'static str], f: impl FnOnce() -> V) {
        if self.keeps(path) {
            self.put(path, f());
        }
    }

    /// Stores a field (the value converted only when it is stored).
    fn put(&mut self, path: &[&'static str], v: impl Into<Value>) {
        if !self.keeps(path) {
            return;
        }
        let v = v.into();
        let (w, p) = Self::split(path);
        self.tree(w).put(p, v);
    }
    fn get(&self, path: &[&'static str]) -> Option<&Value> {
        let (w, p) = Self::split(path);
        let t = match w {
            2 => &self.ui,
            1 => &self.ct,
            _ => &self.root,
        };
        t.get(p)
    }
    fn remove(&mut self, path: &[&'static str]) -> Option<Value> {
        let (w, p) = Self::split(path);
        self.tree(w).remove(p)
    }
    /// The whole tree, assembled.
    fn assemble(mut self) -> Tree {
        if !self.ui.is_empty() {
            self.ct.put_node(&["user_identity"], Node::Obj(self.ui));
        }
        if !self.ct.is_empty() {
            self.root
                .put_node(&["aws", "cloudtrail"], Node::Obj(self.ct));
        }
        self.root
    }

    /// The output document: the full one, pruned by the final clean-up, or with a plan its
    /// projection (built straight from the tree: wanted values are moved, not copied).
    fn finish(self, source: Option<String>) -> Map<String, Value> {
        let plan = self.plan;
        let root = self.assemble();
        match plan {
            None => {
                let mut root = Value::Object(root.into_map());
                if needs_prune(&root) {
                    prune_output(&mut root);
                }
                match root {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            }
            Some(p) => {
                let mut acc: Vec<Acc> = vec![Acc::new(); p.projection().fields().len()];
                project_tree(root, p, 0, &mut acc);
                p.projection().assemble(acc, source.unwrap_or_default()).0
            }
        }
    }
}

// The projection of the output (`tripline_doc`'s `Document::project`, whose results the tests
// compare with), over the tree: values cleaned as the final clean-up would, arrays
// flattened, nulls skipped, objects whole; dotted keys inside values followed segment by
// segment.

/// A wanted field's values (mostly one: no allocation for it).
type Acc = smallvec::SmallVec<[Value; 1]>;

fn take_leaf(mut v: Value, out: &mut Acc) {
    if !prune_output(&mut v) {
        flatten_into(v, out);
    }
}

fn flatten_into(v: Value, out: &mut Acc) {
    match v {
        Value::Null => {}
        Value::Array(items) => items.into_iter().for_each(|it| flatten_into(it, out)),
        other => out.push(other),
    }
}

fn project_tree(t: Tree, p: &FieldPlan, at: usize, acc: &mut [Acc]) {
    for (k, node) in t.0 {
        let Some(n) = p.child(at, k) else { continue };
        let below = p.has_children(n);
        match node {
            Node::Obj(t) => {
                if let Some(f) = p.field(n) {
                    if below {
                        take_leaf(t.to_value(), &mut acc[f]);
                    } else {
                        take_leaf(Value::Object(t.into_map()), &mut acc[f]);
                        continue;
                    }
                }
                if below {
                    project_tree(t, p, n, acc);
                }
            }
            Node::Leaf(v) => project_value(v, p, n, acc),
        }
    }
}

/// `v` sits at plan node `n`.
fn project_value(mut v: Value, p: &FieldPlan, n: usize, acc: &mut [Acc]) {
    let below = p.has_children(n);
    if let Some(f) = p.field(n) {
        if !below {
            take_leaf(v, &mut acc[f]);
            return;
        }
        take_leaf(v.clone(), &mut acc[f]);
    }
    if below {
        descend_value(&mut v, p, n, acc);
    }
}

fn descend_value(v: &mut Value, p: &FieldPlan, at: usize, acc: &mut [Acc]) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                let mut n = Some(at);
                for seg in k.split('.') {
                    n = n.and_then(|n| p.child(n, seg));
                }
                if let Some(n) = n {
                    project_value(std::mem::take(v), p, n, acc);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|it| descend_value(it, p, at, acc)),
        _ => {}
    }
}

/// Mustache rendering of a value (`{{{field}}}`): strings as they are, others as Java prints them.
fn render(j: &J) -> String {
    match j {
        J::Str(s) => s.to_string(),
        other => java_string(other),
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `append` with `allow_duplicates: false` into a list kept aside.
fn append(list: &mut Vec<String>, v: String) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// Whether the final clean-up has anything to remove (a read-only walk: the output is rarely
/// in need of it, and removing from maps is the costly part).
fn needs_prune(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || a.iter().any(needs_prune),
        Value::Object(m) => m.is_empty() || m.values().any(needs_prune),
        _ => false,
    }
}

/// The final clean-up script: drops nulls, empty strings, empty maps and empty lists.
pub(crate) fn prune_output(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => {
            a.retain_mut(|e| !prune_output(e));
            a.is_empty()
        }
        Value::Object(m) => {
            m.retain(|_, e| !prune_output(e));
            m.is_empty()
        }
        _ => false,
    }
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Paths the `retain: minimal` setting keeps under `aws.cloudtrail.flattened`.
const MINIMAL: &[(&str, &str)] = &[
    ("additional_eventdata", "SSEApplied"),
    ("request_parameters", "cidrIp"),
    ("request_parameters", "dryRun"),
    ("request_parameters", "fromPort"),
    ("request_parameters", "includeDeprecated"),
    ("request_parameters", "policyArn"),
    ("request_parameters", "serialNumber"),
    ("request_parameters", "withDecryption"),
    (
        "request_parameters",
        "x-amz-server-side-encryption-customer-algorithm",
    ),
];

pub(crate) struct Input<'a, 'p> {
    pub rec: Obj<'a>,
    pub original: Option<String>,
    /// With a plan: the record text, which the projected document carries.
    pub source: Option<String>,
    /// The optional steps to run (all of them for a full document).
    pub steps: Steps,
    /// Only the parts of the output these fields need become maps.
    pub plan: Option<&'p FieldPlan>,
}

impl Normalizer {
    pub(crate) fn run(
        &self,
        input: Input<'_, '_>,
    ) -> Result<(Map<String, Value>, i64), NormalizeError> {
        let Input {
            mut rec,
            original,
            source,
            steps,
            plan,
        } = input;
        let o = &self.opts;
        let is_digest = rec.get("digestEndTime").is_some() || rec.get("digestStartTime").is_some();

        // Essentials: a parseable eventTime (digests use digestEndTime) and an eventName.
        let mut ts = match rec.get("eventTime") {
            Some(J::Str(s)) => Some(
                time::parse_iso8601(s)
                    .or_else(|| time::parse_export(s))
                    .ok_or_else(|| NormalizeError::BadEventTime(s.to_string()))?,
            ),
            Some(other) => return Err(NormalizeError::BadEventTime(java_string(other))),
            None if is_digest => None,
            None => return Err(NormalizeError::MissingEventTime),
        };
        if !is_digest {
            match rec.get("eventName") {
                Some(J::Str(_)) => {}
                Some(other) => return Err(NormalizeError::BadEventName(java_string(other))),
                None => return Err(NormalizeError::MissingEventName),
            }
        }

        // Sized for a typical record's output (a few regrowths saved per record).
        let mut out = Out {
            root: Tree(Vec::with_capacity(16)),
            ct: Tree(Vec::with_capacity(16)),
            ui: Tree(Vec::with_capacity(8)),
            plan,
        };
        let mut errors: Vec<String> = Vec::new();
        let mut tags: Vec<String> = Vec::new();
        if o.keep_original {
            tags.push("preserve_original_event".into());
        }
        if o.actor_target_mapping {
            tags.push("actor_target_mapping".into());
        }
        if let Some(orig) = original {
            out.put(&["event", "original"], Value::String(orig));
        }
        if let Some(t) = &o.ingest_time {
            out.put(&["event", "created"], Value::String(t.clone()));
        }
        out.put(&["ecs", "version"], "8.11.0");
        if let Some(t) = ts {
            out.put_with(&["@timestamp"], || time::format_millis(t));
        }

        // Entities, before any rename.
        if o.actor_target_mapping && steps.entities && rec.get("eventName").is_some() {
            match entities::collect(&rec) {
                Ok(e) => write_entities(&mut out.root, e),
                Err(msg) => {
                    append(&mut tags, "preserve_original_event".into());
                    errors.push(failure(
                        "script",
                        "script_append_related_entity_31dc3369",
                        &msg,
                    ));
                }
            }
        }

        macro_rules! mv {
            ($src:expr, $dst:expr) => {
                // The source is taken out even when the field is not stored: a rename
                // leaves nothing behind for later readers of the record.
                if let Some(v) = rec.take_path($src) {
                    if out.keeps($dst) {
                        out.put($dst, v.to_value());
                    }
                }
            };
        }

        mv!(&["eventVersion"], &["aws", "cloudtrail", "event_version"]);
        let ui_type = rec.take_path(&["userIdentity", "type"]);
        let ui_type_s: Option<String> = ui_type
            .as_ref()
            .and_then(|t| t.as_str().map(str::to_string));
        if let Some(t) = &ui_type {
            out.put(
                &["aws", "cloudtrail", "user_identity", "type"],
                t.to_value(),
            );
        }
        let typ = ui_type_s.as_deref();

        // AWS-service actors (never decided from invokedBy alone).
        let mut service_name: Option<String> = None;
        if let Some(identity) = rec.get("userIdentity") {
            let r: Result<Option<String>, String> = (|| {
                if ui_type.is_some() && typ.is_none() {
                    return Err("cannot cast userIdentity.type to java.lang.String".into());
                }
                let invoked_by = match identity {
                    J::Obj(m) => match m.get("invokedBy") {
                        None => None,
                        Some(J::Str(s)) => Some(s.to_string()),
                        Some(_) => return Err("cannot cast invokedBy to java.lang.String".into()),
                    },
                    _ => return Err("userIdentity is not a map".into()),
                };
                Ok(match typ {
                    Some("AWSService") => invoked_by,
                    Some("AssumedRole") => {
                        let issuer = identity
                            .as_obj()
                            .and_then(|m| m.path(&["sessionContext", "sessionIssuer", "arn"]));
                        let issuer = match issuer {
                            None => None,
                            Some(J::Str(s)) => Some(s.as_ref()),
                            Some(_) => {
                                return Err(
                                    "cannot cast sessionIssuer.arn to java.lang.String".into()
                                )
                            }
                        };
                        const MARKER: &str = ":role/aws-service-role/";
                        match issuer.and_then(|a| a.find(MARKER).map(|i| &a[i + MARKER.len()..])) {
                            Some(rest) => match invoked_by {
                                Some(i) => Some(i),
                                None => rest
                                    .find('/')
                                    .filter(|&s| s > 0)
                                    .map(|s| rest[..s].to_string()),
                            },
                            None => None,
                        }
                    }
                    _ => None,
                })
            })();
            match r {
                Ok(s) => service_name = s.filter(|s| !s.is_empty()),
                Err(m) => errors.push(failure("script", "script_aws_service_actor_93211d93", &m)),
            }
        }
        if let Some(s) = &service_name {
            out.put(&["service", "name"], s.as_str());
        }
        let human = service_name.is_none();
        if human {
            mv!(&["userIdentity", "userName"], &["user", "name"]);
            mv!(&["userIdentity", "principalId"], &["user", "id"]);
        }
        mv!(
            &["userIdentity", "arn"],
            &["aws", "cloudtrail", "user_identity", "arn"]
        );
        mv!(&["userIdentity", "accountId"], &["cloud", "account", "id"]);
        mv!(
            &["userIdentity", "accessKeyId"],
            &["aws", "cloudtrail", "user_identity", "access_key_id"]
        );
        mv!(
            &[
                "userIdentity",
                "sessionContext",
                "attributes",
                "mfaAuthenticated"
            ],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "mfa_authenticated"
            ]
        );
        if let Some(cd) = rec.take_path(&[
            "userIdentity",
            "sessionContext",
            "attributes",
            "creationDate",
        ]) {
            let parsed = cd
                .as_str()
                .and_then(|s| time::parse_iso8601(s).or_else(|| time::parse_basic(s)));
            match parsed {
                Some(ms) => out.put(
                    &["aws", "cloudtrail", "user_identity", "session_context", "creation_date"],
                    time::format_millis(ms),
                ),
                None => errors.push(failure(
                    "date",
                    "date_json_userIdentity_sessionContext_attributes_creationDate_to_aws_cloudtrail_user_identity_session_context_creation_date_7cf57f10",
                    &format!("unable to parse date [{}]", render(&cd)),
                )),
            }
        }
        mv!(
            &["userIdentity", "sessionContext", "sessionIssuer", "type"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "session_issuer",
                "type"
            ]
        );
        if matches!(typ, Some("AssumedRole" | "FederatedUser")) && human {
            mv!(
                &[
                    "userIdentity",
                    "sessionContext",
                    "sessionIssuer",
                    "userName"
                ],
                &["user", "name"]
            );
        }
        mv!(
            &[
                "userIdentity",
                "sessionContext",
                "sessionIssuer",
                "principalId"
            ],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "session_issuer",
                "principal_id"
            ]
        );

        // Session name: the text after the last `/` of an STS ARN.
        let mut related_user: Vec<String> = Vec::new();
        let mut session_name: Option<String> = None;
        if matches!(
            typ,
            Some("AssumedRole" | "FederatedUser" | "IdentityCenterUser")
        ) {
            if let Some(Value::String(arn)) =
                out.get(&["aws", "cloudtrail", "user_identity", "arn"])
            {
                if arn.contains(":sts:") && arn.contains('/') {
                    match sts_session_name(arn) {
                        Some(c) => session_name = Some(c.to_string()).filter(|s| !s.is_empty()),
                        None => errors.push(failure(
                            "grok",
                            "extract_session_name_from_arn",
                            "Provided Grok expressions do not match field value",
                        )),
                    }
                }
            }
        }
        let mut user_email_set = false;
        if let Some(sn) = &session_name {
            append(&mut related_user, sn.clone());
            if let Some(at) = sn.find('@') {
                append(&mut related_user, sn[..at].to_string());
                out.put(&["user", "email"], sn.as_str());
                user_email_set = true;
            }
        }
        if let Some(v) = rec.path(&["userIdentity", "onBehalfOf", "userId"]) {
            out.put(
                &[
                    "aws",
                    "cloudtrail",
                    "user_identity",
                    "on_behalf_of",
                    "user_id",
                ],
                v.to_value(),
            );
        }
        mv!(
            &["userIdentity", "onBehalfOf", "identityStoreArn"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "on_behalf_of",
                "identity_store_arn"
            ]
        );
        if typ == Some("IdentityCenterUser") && out.get(&["user", "id"]).is_none() {
            mv!(&["userIdentity", "onBehalfOf", "userId"], &["user", "id"]);
        }
        mv!(
            &["userIdentity", "sessionContext", "sessionIssuer", "arn"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "session_issuer",
                "arn"
            ]
        );
        mv!(
            &[
                "userIdentity",
                "sessionContext",
                "sessionIssuer",
                "accountId"
            ],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "session_issuer",
                "account_id"
            ]
        );
        mv!(
            &["sessionCredentialFromConsole"],
            &["aws", "cloudtrail", "session_credential_from_console"]
        );
        mv!(
            &["userIdentity", "invokedBy"],
            &["aws", "cloudtrail", "user_identity", "invoked_by"]
        );
        mv!(
            &["userIdentity", "invokedByDelegate", "accountId"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "invoked_by_delegate",
                "account_id"
            ]
        );
        mv!(
            &["userIdentity", "credentialId"],
            &["aws", "cloudtrail", "user_identity", "credential_id"]
        );
        mv!(
            &["userIdentity", "identityProvider"],
            &["aws", "cloudtrail", "user_identity", "identity_provider"]
        );
        mv!(
            &["userIdentity", "inScopeOf", "issuerType"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "in_scope_of",
                "issuer_type"
            ]
        );
        mv!(
            &["userIdentity", "inScopeOf", "credentialsIssuedTo"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "in_scope_of",
                "credentials_issued_to"
            ]
        );
        mv!(
            &["userIdentity", "inScopeOf", "sourceArn"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "in_scope_of",
                "source_arn"
            ]
        );
        mv!(
            &["userIdentity", "inScopeOf", "sourceAccount"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "in_scope_of",
                "source_account"
            ]
        );
        mv!(
            &["userIdentity", "sessionContext", "ec2RoleDelivery"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "ec2_role_delivery"
            ]
        );
        mv!(
            &["userIdentity", "sessionContext", "sourceIdentity"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "source_identity"
            ]
        );
        mv!(
            &[
                "userIdentity",
                "sessionContext",
                "webIdFederationData",
                "federatedProvider"
            ],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "web_id_federation_data",
                "federated_provider"
            ]
        );
        mv!(
            &[
                "userIdentity",
                "sessionContext",
                "webIdFederationData",
                "attributes"
            ],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "web_id_federation_data",
                "attributes"
            ]
        );
        mv!(
            &["userIdentity", "sessionContext", "assumedRoot"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "assumed_root"
            ]
        );
        mv!(
            &["userIdentity", "sessionContext", "signInSessionArn"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "session_context",
                "sign_in_session_arn"
            ]
        );

        // Event identity and cloud.
        if let Some(J::Str(src)) = rec.get("eventSource") {
            if let Some(name) = src.strip_suffix(".amazonaws.com") {
                if !name.contains(".amazonaws.com") {
                    out.put(&["cloud", "service", "name"], name);
                }
            }
        }
        mv!(&["eventSource"], &["event", "provider"]);
        let action: Option<String> = rec.get("eventName").map(render);
        if let Some(a) = &action {
            out.put(&["event", "action"], a.as_str());
        }
        mv!(&["eventCategory"], &["aws", "cloudtrail", "event_category"]);
        if action.as_deref() == Some("UserAuthentication") && out.get(&["user", "name"]).is_none() {
            mv!(&["additionalEventData", "UserName"], &["user", "name"]);
        }
        out.put(&["cloud", "provider"], "aws");
        if let Some(r) = rec.get("awsRegion") {
            out.put(&["cloud", "region"], r.to_value());
        }
        mv!(&["sourceIPAddress"], &["source", "address"]);
        let source_ip: Option<String> = match out.get(&["source", "address"]) {
            Some(v) => Some(render_value(v)).filter(|s| is_ip(s)),
            None => None,
        };
        if let Some(ip) = &source_ip {
            out.put(&["source", "ip"], ip.as_str());
            if let Some(g) = o.geoip.as_ref().filter(|_| steps.geo || steps.asn) {
                if let Ok(addr) = ip.parse::<IpAddr>() {
                    let (geo, asn) = g.lookup(addr);
                    if let Some(geo) = geo {
                        out.put(&["source", "geo"], geo);
                    }
                    if let Some(asn) = asn {
                        out.put(&["source", "as"], asn);
                    }
                }
            }
        }
        if let Some(J::Str(ua)) = rec.get("userAgent").filter(|_| steps.user_agent) {
            let v = if steps.user_agent_parse {
                crate::useragent::parse_cached(ua)
            } else {
                // Only `user_agent.original` is read: the parsed object's `original` is the
                // string itself.
                let mut m = Map::with_capacity(1);
                m.insert("original".into(), Value::String(ua.to_string()));
                Value::Object(m)
            };
            out.put(&["user_agent"], v);
        }
        mv!(&["errorCode"], &["aws", "cloudtrail", "error_code"]);
        mv!(&["errorMessage"], &["aws", "cloudtrail", "error_message"]);

        // Keyword (Java toString) and flattened copies.
        let keep_flattened = o.retain.keeps_flattened();
        for ((src, dst), (keyword, flat)) in [
            ("requestParameters", "request_parameters"),
            ("responseElements", "response_elements"),
            ("additionalEventData", "additional_eventdata"),
            ("serviceEventDetails", "service_event_details"),
        ]
        .into_iter()
        .zip(steps.keywords)
        {
            if !keyword && !flat {
                continue;
            }
            if let Some(v) = rec.get(src) {
                let s = java_string(v);
                let short = s.len() < 32766 || s.encode_utf16().count() < 32766;
                if keep_flattened && short && flat {
                    out.put(&["aws", "cloudtrail", "flattened", dst], v.to_value());
                }
                if keyword {
                    out.put(&["aws", "cloudtrail", dst], Value::String(s));
                }
            }
        }
        mv!(&["requestID"], &["aws", "cloudtrail", "request_id"]);
        mv!(&["eventID"], &["event", "id"]);
        mv!(&["eventType"], &["aws", "cloudtrail", "event_type"]);
        mv!(&["apiVersion"], &["aws", "cloudtrail", "api_version"]);
        if let Some(v) = rec.take_path(&["managementEvent"]) {
            out.put(&["aws", "cloudtrail", "management_event"], render(&v));
        }
        mv!(&["readOnly"], &["aws", "cloudtrail", "read_only"]);
        if let Some(res) = rec.remove("resources") {
            out.put(&["aws", "cloudtrail", "resources"], dedup_resources(&res));
        }
        mv!(
            &["recipientAccountId"],
            &["aws", "cloudtrail", "recipient_account_id"]
        );
        if out.get(&["cloud", "account", "id"]).is_none() {
            if let Some(v) = out
                .get(&["aws", "cloudtrail", "recipient_account_id"])
                .cloned()
            {
                out.put(&["cloud", "account", "id"], v);
            }
        }
        mv!(
            &["sharedEventID"],
            &["aws", "cloudtrail", "shared_event_id"]
        );
        if out.get(&["aws", "cloudtrail", "shared_event_id"]).is_none() {
            mv!(
                &["sharedEventId"],
                &["aws", "cloudtrail", "shared_event_id"]
            );
        }
        mv!(
            &["vpcEndpointId"],
            &["aws", "cloudtrail", "vpc_endpoint_id"]
        );
        mv!(
            &["vpcEndpointAccountId"],
            &["aws", "cloudtrail", "vpc_endpoint_account_id"]
        );
        mv!(
            &["addendum", "reason"],
            &["aws", "cloudtrail", "addendum", "reason"]
        );
        mv!(
            &["addendum", "updatedFields"],
            &["aws", "cloudtrail", "addendum", "updated_fields"]
        );
        mv!(
            &["addendum", "originalRequestID"],
            &["aws", "cloudtrail", "addendum", "original_request_id"]
        );
        mv!(
            &["addendum", "originalEventID"],
            &["aws", "cloudtrail", "addendum", "original_event_id"]
        );
        for p in [
            &["requestParameters", "userName"][..],
            &["requestParameters", "newUserName"],
            &["responseElements", "user", "userId"],
        ] {
            if let Some(v) = rec.path(p) {
                append(&mut related_user, render(v));
            }
        }

        // ConsoleLogin extras.
        if rec.get("eventName").and_then(J::as_str) == Some("ConsoleLogin") {
            let aed = rec.get("additionalEventData").and_then(J::as_obj);
            let mut m = Map::new();
            if let Some(v) = aed.and_then(|a| a.get("MobileVersion")) {
                m.insert(
                    "mobile_version".into(),
                    Value::Bool(v.as_str() != Some("No")),
                );
            }
            if let Some(v) = aed.and_then(|a| a.get("LoginTo")) {
                m.insert("login_to".into(), v.to_value());
            }
            if let Some(v) = aed.and_then(|a| a.get("MFAUsed")) {
                m.insert("mfa_used".into(), Value::Bool(v.as_str() != Some("No")));
            }
            if !m.is_empty() {
                out.put(
                    &["aws", "cloudtrail", "console_login", "additional_eventdata"],
                    Value::Object(m),
                );
            }
        }

        // Categorization.
        out.put(&["event", "kind"], "event");
        let failed = out.get(&["aws", "cloudtrail", "error_code"]).is_some()
            || out.get(&["aws", "cloudtrail", "error_message"]).is_some();
        out.put(
            &["event", "outcome"],
            if failed { "failure" } else { "success" },
        );
        let mut ev_type = Value::Array(vec!["info".into()]);
        if let Some(a) = &action {
            if a == "ConsoleLogin" {
                match rec.path(&["responseElements", "ConsoleLogin"]) {
                    Some(J::Str(s)) => out.put(&["event", "outcome"], s.to_lowercase()),
                    Some(_) => errors.push(failure(
                        "script",
                        "script_add_ecs_categorization",
                        "ConsoleLogin is not a string",
                    )),
                    None => {}
                }
            }
            if let Some((cat, typ)) = crate::categorize::lookup(a) {
                out.put(
                    &["event", "category"],
                    cat.iter().map(|s| Value::from(*s)).collect::<Value>(),
                );
                ev_type = typ.iter().map(|s| Value::from(*s)).collect();
            }
        }
        out.put(&["event", "type"], ev_type);

        // Digest records.
        if out.get(&["cloud", "account", "id"]).is_none() {
            mv!(&["awsAccountId"], &["cloud", "account", "id"]);
        }
        if out.get(&["file", "path"]).is_none() {
            mv!(&["digestS3Object"], &["file", "path"]);
        }
        let mut digest = Map::new();
        let mut related_hash: Vec<String> = Vec::new();
        for (src, dst) in [
            ("previousDigestS3Object", "previous_s3_object"),
            ("previousDigestSignature", "previous_signature"),
            ("previousDigestHashValue", "previous_hash_value"),
        ] {
            if let Some(v) = rec.remove(src) {
                digest.insert(dst.into(), v.to_value());
            }
        }
        if let Some(v) = digest.get("previous_hash_value") {
            append(&mut related_hash, render_value(v));
        }
        if let Some(v) = rec.remove("logFiles") {
            digest.insert("log_files".into(), v.to_value());
        }
        digest_date(
            &mut rec,
            &mut digest,
            "digestStartTime",
            "start_time",
            "date_json_digestStartTime_to_aws_cloudtrail_digest_start_time_3c1d2845",
            &mut errors,
        );
        let end = digest_date(
            &mut rec,
            &mut digest,
            "digestEndTime",
            "end_time",
            "date_json_digestEndTime_to_aws_cloudtrail_digest_end_time_d95ac027",
            &mut errors,
        );
        if let Some(end) = end {
            ts = Some(end);
            out.put_with(&["@timestamp"], || time::format_millis(end));
        }
        if let Some(v) = rec.remove("digestS3Bucket") {
            digest.insert("s3_bucket".into(), v.to_value());
        }
        digest_date(
            &mut rec,
            &mut digest,
            "newestEventTime",
            "newest_event_time",
            "date_json_newestEventTime_to_aws_cloudtrail_digest_newest_event_time_66ba4c38",
            &mut errors,
        );
        digest_date(
            &mut rec,
            &mut digest,
            "oldestEventTime",
            "oldest_event_time",
            "date_json_oldestEventTime_to_aws_cloudtrail_digest_oldest_event_time_51f01072",
            &mut errors,
        );
        for (src, dst) in [
            ("previousDigestS3Bucket", "previous_s3_bucket"),
            ("previousDigestHashAlgorithm", "previous_hash_algorithm"),
            ("digestPublicKeyFingerprint", "public_key_fingerprint"),
        ] {
            if let Some(v) = rec.remove(src) {
                digest.insert(dst.into(), v.to_value());
            }
        }
        if !digest.contains_key("public_key_fingerprint") {
            if let Some(v) = rec.remove("publicKeyFingerprint") {
                digest.insert("public_key_fingerprint".into(), v.to_value());
            }
        }
        if let Some(v) = rec.remove("digestSignatureAlgorithm") {
            digest.insert("signature_algorithm".into(), v.to_value());
        }
        if !related_hash.is_empty() {
            out.put_with(&["related", "hash"], || {
                related_hash
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<Value>>()
            });
        }

        // IAM target helpers.
        for (src, dst) in [
            (
                &["responseElements", "group", "groupId"][..],
                &["group", "id"][..],
            ),
            (
                &["responseElements", "user", "userId"],
                &["user", "target", "id"],
            ),
            (
                &["requestParameters", "newUserName"],
                &["user", "changes", "name"],
            ),
            (&["requestParameters", "groupName"], &["group", "name"]),
            (
                &["requestParameters", "userName"],
                &["user", "target", "name"],
            ),
        ] {
            if let Some(v) = rec.path(src) {
                out.put(dst, v.to_value());
            }
        }
        if !digest.is_empty() {
            out.put(
                &["aws", "cloudtrail", "flattened", "digest"],
                Value::Object(digest),
            );
        }
        mv!(
            &["insightDetails"],
            &["aws", "cloudtrail", "flattened", "insight_details"]
        );

        // TLS.
        if rec.path(&["tlsDetails", "tlsVersion"]).and_then(J::as_str) == Some("tlsVersion") {
            rec.remove("tlsDetails");
        }
        if let Some(v) = rec.take_path(&["tlsDetails", "tlsVersion"]) {
            match v.as_str().and_then(|s| s.split_once('v')) {
                Some((proto, ver)) => {
                    out.put(&["tls", "version_protocol"], proto.to_lowercase());
                    out.put(&["tls", "version"], ver);
                }
                None => out.put(&["tls", "version"], v.to_value()),
            }
        }
        mv!(&["tlsDetails", "cipherSuite"], &["tls", "cipher"]);
        mv!(
            &["tlsDetails", "clientProvidedHostHeader"],
            &["tls", "client", "server_name"]
        );
        mv!(
            &["tlsDetails", "keyExchange"],
            &["aws", "cloudtrail", "tls_details", "key_exchange"]
        );

        // User fields.
        if !user_email_set && out.get(&["user", "email"]).is_none() {
            if let Some(Value::String(n)) = out.get(&["user", "name"]) {
                if n.find('@').is_some_and(|i| i > 0) {
                    let n = n.clone();
                    out.put(&["user", "email"], n);
                }
            }
        }
        for p in [
            &["user", "id"][..],
            &["user", "name"],
            &["user", "changes", "name"],
            &[
                "aws",
                "cloudtrail",
                "user_identity",
                "on_behalf_of",
                "user_id",
            ],
        ] {
            if let Some(v) = out.get(p) {
                let s = render_value(v);
                append(&mut related_user, s);
            }
        }
        if !related_user.is_empty() {
            out.put_with(&["related", "user"], || {
                related_user
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<Value>>()
            });
        }
        let mut related_ip: Vec<String> = Vec::new();
        if let Some(ip) = &source_ip {
            append(&mut related_ip, ip.clone());
        }
        if let Some(v) = rec.path(&["serviceEventDetails", "sourceIpAddress"]) {
            let s = render(v);
            if is_ip(&s) {
                append(&mut related_ip, s);
            }
        }
        if !related_ip.is_empty() {
            out.put_with(&["related", "ip"], || {
                related_ip
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<Value>>()
            });
        }

        // related.hosts.
        let mut hosts: Vec<String> = Vec::new();
        if let Some(Value::String(sn)) = out.get(&["tls", "client", "server_name"]) {
            if !sn.ends_with(".amazonaws.com") {
                append(&mut hosts, sn.clone());
            }
        }
        if source_ip.is_none() {
            if let Some(Value::String(a)) = out.get(&["source", "address"]) {
                if a.contains('.') && !a.contains(' ') && !a.ends_with(".amazonaws.com") {
                    append(&mut hosts, a.clone());
                }
            }
        }
        if let Some(v) = rec.path(&["requestParameters", "computerName"]) {
            append(&mut hosts, render(v));
        }
        let resources_out = out.get(&["aws", "cloudtrail", "resources"]);
        if rec.get("requestParameters").is_some()
            || rec.get("responseElements").is_some()
            || resources_out.is_some()
        {
            let mut found: Vec<String> = Vec::new();
            let mut add = |v: Option<&str>| {
                if let Some(s) = v {
                    if s.len() >= 10 && s.starts_with("i-") && !found.iter().any(|f| f == s) {
                        found.push(s.to_string());
                    }
                }
            };
            if let Some(Value::Array(rs)) = resources_out {
                for r in rs {
                    if let Some(Value::String(arn)) = r.get("arn") {
                        if arn.contains(":instance/") {
                            add(arn.rsplit('/').next());
                        }
                    }
                }
            }
            for c in ["requestParameters", "responseElements"] {
                let Some(J::Obj(m)) = rec.get(c) else {
                    continue;
                };
                for k in ["instanceId", "target", "resourceId"] {
                    add(m.get(k).and_then(J::as_str));
                }
                if let Some(J::Arr(ids)) = m.get("instanceIds") {
                    for id in ids {
                        add(id.as_str());
                    }
                }
                if let Some(J::Obj(set)) = m.get("instancesSet") {
                    if let Some(J::Arr(items)) = set.get("items") {
                        for it in items {
                            if let J::Obj(it) = it {
                                add(it.get("instanceId").and_then(J::as_str));
                            }
                        }
                    }
                }
            }
            for f in found {
                append(&mut hosts, f);
            }
        }
        if !hosts.is_empty() {
            out.put_with(&["related", "hosts"], || {
                hosts.into_iter().map(Value::from).collect::<Vec<Value>>()
            });
        }

        // Retain setting.
        if o.retain == Retain::Minimal {
            if let Some(Value::Object(fl)) = out.remove(&["aws", "cloudtrail", "flattened"]) {
                let mut keep = Map::new();
                for (obj, key) in MINIMAL {
                    if let Some(v) = fl.get(*obj).and_then(|o| o.get(*key)) {
                        put(&mut keep, &[obj, key], v.clone());
                    }
                }
                for k in ["digest", "insight_details"] {
                    if let Some(v) = fl.get(k) {
                        keep.insert(k.into(), v.clone());
                    }
                }
                out.put(&["aws", "cloudtrail", "flattened"], Value::Object(keep));
            }
        }
        if !o.retain.keeps_keywords() {
            for k in [
                "response_elements",
                "request_parameters",
                "additional_eventdata",
                "service_event_details",
            ] {
                out.remove(&["aws", "cloudtrail", k]);
            }
        }

        // Fields Fleet's data stream adds (rules query them).
        if o.data_stream_fields {
            out.put(&["data_stream", "type"], "logs");
            out.put(&["data_stream", "dataset"], "aws.cloudtrail");
            out.put(&["data_stream", "namespace"], o.namespace.as_str());
            out.put(&["event", "dataset"], "aws.cloudtrail");
            out.put(&["event", "module"], "aws");
        }

        if !errors.is_empty() {
            out.put(&["event", "kind"], "pipeline_error");
            out.put_with(&["error", "message"], || {
                errors.into_iter().map(Value::from).collect::<Vec<Value>>()
            });
            append(&mut tags, "preserve_original_event".into());
        }
        if !tags.is_empty() {
            out.put_with(&["tags"], || {
                tags.into_iter().map(Value::from).collect::<Vec<Value>>()
            });
        }
        let out = out.finish(source);
        let ts = match ts {
            Some(t) => t,
            // A digest whose end time did not parse: fall back to the ingest time, as the
            // pipeline keeps the agent's @timestamp.
            None => o
                .ingest_time
                .as_deref()
                .and_then(time::parse_iso8601)
                .ok_or(NormalizeError::MissingEventTime)?,
        };
        Ok((out, ts))
    }
}

fn digest_date(
    rec: &mut Obj,
    digest: &mut Map<String, Value>,
    src: &str,
    dst: &str,
    tag: &str,
    errors: &mut Vec<String>,
) -> Option<i64> {
    let v = rec.remove(src)?;
    match v.as_str().and_then(time::parse_iso8601) {
        Some(ms) => {
            digest.insert(dst.into(), time::format_millis(ms).into());
            Some(ms)
        }
        None => {
            errors.push(failure(
                "date",
                tag,
                &format!("unable to parse date [{}]", render(&v)),
            ));
            None
        }
    }
}

/// The capture of `^arn:[a-z0-9-]+:sts:.*/(.*)$` (the pipeline's grok; `.` stops at line
/// feeds), without a regex engine: it is on every assumed-role record's path.
fn sts_session_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let colon = rest.find(':')?;
    let partition = &rest[..colon];
    if partition.is_empty()
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return None;
    }
    let tail = rest[colon + 1..].strip_prefix("sts:")?;
    if tail.contains('\n') {
        return None;
    }
    tail.rfind('/').map(|i| &tail[i + 1..])
}

/// `aws.cloudtrail.resources`: maps copied with `ARN`→`arn`, `accountId`→`account_id`,
/// de-duplicated on `arn_account_type`, in the `HashMap` order of those keys. A non-list is
/// copied as it is.
fn dedup_resources(res: &J) -> Value {
    let J::Arr(items) = res else {
        return res.to_value();
    };
    let mut keys: Vec<String> = Vec::new();
    let mut vals: Vec<Value> = Vec::new();
    for item in items {
        let J::Obj(m) = item else { continue };
        let mut r = Map::new();
        for (k, v) in &m.entries {
            r.insert(k.to_string(), v.to_value());
        }
        if let Some(a) = r.remove("ARN") {
            r.insert("arn".into(), a);
        }
        if let Some(a) = r.remove("accountId") {
            r.insert("account_id".into(), a);
        }
        let part = |k: &str| r.get(k).map(render_value).unwrap_or_default();
        let key = format!("{}_{}_{}", part("arn"), part("account_id"), part("type"));
        match keys.iter().position(|k| *k == key) {
            Some(i) => vals[i] = Value::Object(r),
            None => {
                keys.push(key);
                vals.push(Value::Object(r));
            }
        }
    }
    let order = crate::java::hashmap_order(keys.iter().map(String::as_str), keys.len());
    let mut slots: Vec<Option<Value>> = vals.into_iter().map(Some).collect();
    Value::Array(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn write_entities(out: &mut Tree, e: entities::Entities) {
    let list = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
    if !e.target.is_empty() {
        out.put(&["target", "entity", "id"], list(e.target));
    }
    if !e.user_target.is_empty() {
        out.put(&["user", "target", "entity", "id"], list(e.user_target));
    }
    if !e.host_target.is_empty() {
        out.put(&["host", "target", "entity", "id"], list(e.host_target));
    }
    if !e.host_target_id.is_empty() {
        out.put(&["host", "target", "id"], list(e.host_target_id));
    }
    if !e.service_target.is_empty() {
        out.put(
            &["service", "target", "entity", "id"],
            list(e.service_target),
        );
    }
    if !e.entity_target.is_empty() {
        out.put(&["entity", "target", "id"], list(e.entity_target));
    }
    if let Some((legacy, kind, id)) = e.actor {
        out.put(&["actor", "entity", "id"], Value::Array(vec![legacy]));
        let path: &[&'static str] = match kind {
            "service" => &["service", "entity", "id"],
            "user" => &["user", "entity", "id"],
            "host" => &["host", "entity", "id"],
            _ => &["entity", "id"],
        };
        out.put(path, Value::Array(vec![id]));
    }
    if !e.related.is_empty() {
        out.put(&["related", "entity"], list(e.related));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{NormalizeOptions, Normalizer};

    fn norm(text: &str) -> serde_json::Value {
        let n = Normalizer::new(NormalizeOptions {
            data_stream_fields: false,
            ..Default::default()
        });
        serde_json::Value::Object(n.normalize_json(text).unwrap().0 .0)
    }

    #[test]
    fn sts_session_name_is_the_grok_capture() {
        let re = regex::Regex::new(r"^arn:[a-z0-9-]+:sts:.*/(.*)$").unwrap();
        for arn in [
            "arn:aws:sts::123456789012:assumed-role/Role/alice@example.com",
            "arn:aws-us-gov:sts::1:assumed-role/R/",
            "arn:aws:sts::1:federated-user/bob",
            "arn:aws:sts::1:a/b/c/d",
            "arn:aws:sts::1:noslash",
            "arn:AWS:sts::1:assumed-role/R/s",
            "arn::sts::1:assumed-role/R/s",
            "arn:aws:iam::1:role/R",
            "arn:aws:sts::1:assumed-role/R/s\nx",
            "arn:aws:sts::1:assumed-role\n/R/s",
            "arn:aws:sts::1:assumed-role/R/s\r",
            "xarn:aws:sts::1:assumed-role/R/s",
            "arn:aws:sts:/x",
            "arn:aws:sts",
            "arn:aws:ststs::1:x/y",
            "arn:aws:x:sts::1:x/y",
            "arn:aws:sts::1:r/\u{e9}t\u{e9}",
        ] {
            let want = re.captures(arn).and_then(|c| c.get(1)).map(|m| m.as_str());
            assert_eq!(super::sts_session_name(arn), want, "{arn:?}");
        }
    }

    #[test]
    fn digest_record() {
        let d = norm(
            r#"{"awsAccountId":"111122223333","digestStartTime":"2023-01-01T00:00:00Z","digestEndTime":"2023-01-01T01:00:00Z",
            "digestS3Bucket":"b","digestS3Object":"AWSLogs/x.json.gz","newestEventTime":"2023-01-01T00:59:00Z",
            "previousDigestHashValue":"abcd","previousDigestHashAlgorithm":"SHA-256","publicKeyFingerprint":"fp",
            "digestSignatureAlgorithm":"SHA256withRSA","logFiles":[{"s3Object":"o1"}]}"#,
        );
        assert_eq!(d["@timestamp"], "2023-01-01T01:00:00.000Z");
        assert_eq!(d["cloud"]["account"]["id"], "111122223333");
        assert_eq!(d["file"]["path"], "AWSLogs/x.json.gz");
        assert_eq!(d["related"]["hash"], json!(["abcd"]));
        let fd = &d["aws"]["cloudtrail"]["flattened"]["digest"];
        assert_eq!(fd["end_time"], "2023-01-01T01:00:00.000Z");
        assert_eq!(fd["public_key_fingerprint"], "fp");
        assert_eq!(fd["log_files"], json!([{"s3Object": "o1"}]));
        assert!(d.get("event").and_then(|e| e.get("action")).is_none());
    }

    #[test]
    fn insight_and_tls_without_protocol() {
        let d = norm(
            r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"PutObject","eventType":"AwsCloudTrailInsight","eventCategory":"Insight",
            "sharedEventId":"s1","insightDetails":{"state":"Start","insightType":"ApiCallRateInsight"},"tlsDetails":{"tlsVersion":"1.2"}}"#,
        );
        assert_eq!(
            d["aws"]["cloudtrail"]["flattened"]["insight_details"]["state"],
            "Start"
        );
        assert_eq!(d["aws"]["cloudtrail"]["shared_event_id"], "s1");
        assert_eq!(d["tls"], json!({"version": "1.2"}));
        assert_eq!(d["event"]["category"], json!(["file"]));
        assert_eq!(d["event"]["type"], json!(["change"]));
    }

    #[test]
    fn hosts_user_email_and_user_authentication() {
        let d = norm(
            r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"UserAuthentication","sourceIPAddress":"vpn.example.com",
            "additionalEventData":{"UserName":"bob@example.com","Other":"x"},
            "resources":[{"ARN":"arn:aws:ec2:us-east-1:1:instance/i-0123456789abcdef0"}],
            "requestParameters":{"computerName":"WS-01","instanceIds":["i-0aaaaaaaaaaaaaaaa","i-short"]}}"#,
        );
        assert_eq!(d["user"]["name"], "bob@example.com");
        assert_eq!(d["user"]["email"], "bob@example.com");
        // Renamed out before the keyword rendering.
        assert_eq!(d["aws"]["cloudtrail"]["additional_eventdata"], "{Other=x}");
        assert_eq!(
            d["related"]["hosts"],
            json!([
                "vpn.example.com",
                "WS-01",
                "i-0123456789abcdef0",
                "i-0aaaaaaaaaaaaaaaa"
            ])
        );
        assert!(d["source"].get("ip").is_none());
    }

    #[test]
    fn resources_not_a_list_and_duplicates() {
        let d =
            norm(r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"X","resources":{"ARN":"a"}}"#);
        assert_eq!(d["aws"]["cloudtrail"]["resources"], json!({"ARN": "a"}));
        let d = norm(
            r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"X","resources":[{"ARN":"a","type":"t"},{"ARN":"a","type":"t","accountId":"1"},{"ARN":"a","type":"t"}]}"#,
        );
        assert_eq!(
            d["aws"]["cloudtrail"]["resources"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn service_event_details_ip_and_management_event_string() {
        let d = norm(
            r#"{"eventTime":"2023-01-01T00:00:00Z","eventName":"X","sourceIPAddress":"AWS Internal","managementEvent":false,
            "serviceEventDetails":{"sourceIpAddress":"2001:db8::1"}}"#,
        );
        assert_eq!(d["related"]["ip"], json!(["2001:db8::1"]));
        assert_eq!(d["aws"]["cloudtrail"]["management_event"], "false");
        assert_eq!(
            d["aws"]["cloudtrail"]["service_event_details"],
            "{sourceIpAddress=2001:db8::1}"
        );
        // "AWS Internal" has a space: not a host.
        assert!(d.get("related").unwrap().get("hosts").is_none());
    }
}
