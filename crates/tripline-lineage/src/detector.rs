//! The analytic as engine detectors: one detector per alert kind, named by the rule's `query`.
//!
//! Every alert kind comes from the same issuance graph, so the detectors of one compile that
//! have identical `[rule.lineage]` settings share one [`Engine`] (a [`Group`]): the runner
//! hands each of them the same events in the same order, the first member to see an event
//! pushes it, and every member collects the findings of its own kind. Sharing is only kept
//! while it is provably equivalent to separate engines:
//! - a member joins a group before any event, binds on its first event only if that is the
//!   event the group started with (so detectors of different runners never mix), and leaves
//!   with a fresh engine otherwise;
//! - a detector whose events are filtered (exception items) never shares;
//! - a member whose saved state differs from the group's (or that has none while the group
//!   has one) leaves with its own state.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde_json::{json, Map, Value};
use tripline_doc::SharedEvent;
use tripline_engine::compile::{AnalyticFactory, CompileContext, CompileError};
use tripline_engine::{AlertDraft, Detector, DetectorStats};
use tripline_rules::Rule;

use crate::config::Settings;
use crate::engine::{AlertKind, Engine, EngineState, Finding};

/// Analytic names a rule's `query` may hold.
pub const ANALYTIC_NO_ISSUANCE: &str = "session_lineage.session_without_issuance";
pub const ANALYTIC_USED_AWAY: &str = "session_lineage.session_used_away";
pub const ANALYTIC_MISSING_MFA: &str = "session_lineage.missing_mfa";

/// State format version written by [`Detector::save_state`] (1: no snapshot id; still read).
const STATE_VERSION: u64 = 2;

/// Engines shared by the detectors of one compile context (see the module docs).
pub struct Group {
    engine: Engine,
    /// Alert kind of each member by member id; `None` once it left.
    members: Vec<Option<AlertKind>>,
    /// Number of the event each member last received (see `pushed`).
    member_seen: Vec<u64>,
    /// Events pushed so far; the latest one, held so its address cannot be reused.
    pushed: u64,
    last: Option<SharedEvent>,
    /// Findings of the latest push (or of `finish`), for every member to take its kind's.
    stash: Vec<Finding>,
    finished: bool,
    /// Snapshot id of the state loaded into the engine, if any.
    loaded: Option<String>,
    /// Random per group, so snapshot ids of different groups never collide.
    nonce: u64,
    /// Cached serialized state: (pushed, finished) it was taken at, and the value.
    saved: Option<((u64, bool), Value)>,
    /// Events that some member did not receive although the group pushed them (never
    /// expected: filtered members do not share); reported in the stats.
    diverged: u64,
}

impl Group {
    fn new(cfg: Settings) -> Group {
        Group {
            engine: Engine::new(cfg),
            members: Vec::new(),
            member_seen: Vec::new(),
            pushed: 0,
            last: None,
            stash: Vec::new(),
            finished: false,
            loaded: None,
            nonce: std::collections::hash_map::RandomState::new().hash_one(0u64),
            saved: None,
            diverged: 0,
        }
    }

    fn take(&self, kind: AlertKind, out: &mut Vec<Finding>) {
        out.extend(self.stash.iter().filter(|f| f.kind == kind).cloned());
    }

    fn snapshot_id(&self) -> String {
        format!("{:016x}-{}-{}", self.nonce, self.pushed, self.finished)
    }

    fn saved_value(&mut self) -> Option<Value> {
        let at = (self.pushed, self.finished);
        if let Some((k, v)) = &self.saved {
            if *k == at {
                return Some(v.clone());
            }
        }
        let v = serde_json::to_value(self.engine.save()).ok()?;
        self.saved = Some((at, v.clone()));
        Some(v)
    }
}

/// Groups created by one compile context's factories.
type Registry = Arc<Mutex<Vec<Weak<Mutex<Group>>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Member {
    group: Arc<Mutex<Group>>,
    id: usize,
    bound: bool,
    /// The state this member loaded (snapshot id, value), kept until it binds so it can
    /// leave with exactly its own state.
    loaded: Option<(String, Value)>,
}

enum Backend {
    Own(Box<Engine>),
    Shared(Member),
}

pub struct LineageDetector {
    rule: Arc<Rule>,
    kind: AlertKind,
    backend: Backend,
    buf: Vec<Finding>,
}

impl LineageDetector {
    /// A detector with an engine of its own.
    pub fn new(rule: Arc<Rule>, kind: AlertKind, cfg: Settings) -> LineageDetector {
        LineageDetector {
            rule,
            kind,
            backend: Backend::Own(Box::new(Engine::new(cfg))),
            buf: Vec::new(),
        }
    }

    /// A detector sharing the engine of a compatible group of `registry` (or a new one).
    fn joined(
        rule: Arc<Rule>,
        kind: AlertKind,
        cfg: Settings,
        registry: &Registry,
    ) -> LineageDetector {
        let mut reg = lock(registry);
        reg.retain(|w| w.strong_count() > 0);
        let mut found = None;
        for w in reg.iter() {
            let Some(g) = w.upgrade() else { continue };
            let ok = {
                let gg = lock(&g);
                gg.pushed == 0
                    && !gg.finished
                    && gg.loaded.is_none()
                    && gg.engine.cfg.raw == cfg.raw
                    && !gg.members.contains(&Some(kind))
            };
            if ok {
                found = Some(g);
                break;
            }
        }
        let group = found.unwrap_or_else(|| {
            let g = Arc::new(Mutex::new(Group::new(cfg)));
            reg.push(Arc::downgrade(&g));
            g
        });
        let id = {
            let mut g = lock(&group);
            g.members.push(Some(kind));
            g.member_seen.push(0);
            g.members.len() - 1
        };
        LineageDetector {
            rule,
            kind,
            backend: Backend::Shared(Member {
                group,
                id,
                bound: false,
                loaded: None,
            }),
            buf: Vec::new(),
        }
    }

    /// Whether this detector shares its engine with others (for tests and diagnostics).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Shared(_))
    }

    /// Leaves the group with an engine of its own holding `state` (or a fresh one).
    fn detach(&mut self, state: Option<EngineState>) {
        let Backend::Shared(m) = &self.backend else {
            return;
        };
        let cfg = {
            let mut g = lock(&m.group);
            g.members[m.id] = None;
            g.engine.cfg.clone()
        };
        let mut e = Engine::new(cfg);
        if let Some(st) = state {
            e.load(st);
        }
        self.backend = Backend::Own(Box::new(e));
    }

    /// The state a member that has not bound yet would have on its own.
    fn own_state(loaded: &Option<(String, Value)>) -> Option<EngineState> {
        loaded
            .as_ref()
            .and_then(|(_, v)| serde_json::from_value(v.clone()).ok())
    }

    fn drain(&mut self, out: &mut Vec<AlertDraft>) {
        for f in self.buf.drain(..) {
            if f.kind == self.kind {
                out.push(to_draft(&self.rule, f));
            }
        }
    }
}

const LEVELS: [(&str, i64); 4] = [("low", 21), ("medium", 47), ("high", 73), ("critical", 99)];

/// Severity `steps` levels above `base`, with its risk score.
pub fn raised(base: &str, base_risk: i64, steps: u8) -> (String, i64) {
    if steps == 0 {
        return (base.to_string(), base_risk);
    }
    let i = LEVELS.iter().position(|(l, _)| *l == base).unwrap_or(1);
    let j = (i + steps as usize).min(LEVELS.len() - 1);
    (LEVELS[j].0.to_string(), LEVELS[j].1.max(base_risk))
}

fn to_draft(rule: &Arc<Rule>, f: Finding) -> AlertDraft {
    let mut extra = Map::new();
    let (sev, risk) = raised(&rule.severity, rule.risk_score, f.raise);
    if f.raise > 0 {
        extra.insert("severity".into(), json!(sev));
        extra.insert("risk_score".into(), json!(risk));
    }
    let mut fields = f.fields;
    fields.insert("tripline.lineage.severity".into(), json!(sev));
    fields.insert("tripline.lineage.risk_score".into(), json!(risk));
    AlertDraft {
        rule: rule.clone(),
        events: f.events,
        fields: Some(fields),
        timestamp: f.timestamp,
        reason: Some(f.reason),
        extra,
        key: Some(f.key),
        building_block: false,
    }
}

/// Snapshot id and engine state of a saved detector state (versions 1 and 2).
fn parse_state(state: &Value) -> Result<(String, &Value), String> {
    let version = state.get("version").and_then(|v| v.as_u64());
    if !matches!(version, Some(1) | Some(STATE_VERSION)) {
        return Err("session-lineage state of another version; starting fresh".into());
    }
    let st = state.get("state").unwrap_or(&Value::Null);
    let id = match state.get("snapshot").and_then(|v| v.as_str()) {
        Some(s) => s.to_string(),
        // Version 1 has no id: the state's own text identifies it.
        None => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            st.to_string().hash(&mut h);
            format!("v1-{:016x}", h.finish())
        }
    };
    Ok((id, st))
}

fn decode(st: &Value) -> Result<EngineState, String> {
    serde_json::from_value(st.clone()).map_err(|e| format!("session-lineage state: {e}"))
}

impl Detector for LineageDetector {
    fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    fn fields(&self) -> Option<Vec<String>> {
        Some(crate::model::FIELDS.iter().map(|f| f.to_string()).collect())
    }

    fn on_event(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        let mut leave: Option<Option<EngineState>> = None;
        match &mut self.backend {
            Backend::Own(e) => e.push(ev, &mut self.buf),
            Backend::Shared(m) => {
                let mut g = lock(&m.group);
                if !m.bound {
                    let same_start =
                        g.pushed == 1 && g.last.as_ref().is_some_and(|l| Arc::ptr_eq(l, ev));
                    let same_state = g.loaded.as_deref() == m.loaded.as_ref().map(|l| &*l.0);
                    if (g.pushed == 0 || same_start) && same_state && !g.finished {
                        m.bound = true;
                        m.loaded = None;
                    } else {
                        leave = Some(Self::own_state(&m.loaded));
                    }
                }
                if leave.is_none() {
                    let is_last = g.last.as_ref().is_some_and(|l| Arc::ptr_eq(l, ev));
                    if !is_last {
                        let cur = g.pushed;
                        let missed = g
                            .members
                            .iter()
                            .zip(&g.member_seen)
                            .any(|(k, s)| k.is_some() && *s != cur);
                        if cur > 0 && missed {
                            g.diverged += 1;
                        }
                        let g = &mut *g;
                        g.stash.clear();
                        g.engine.push(ev, &mut g.stash);
                        g.pushed += 1;
                        // A cached state is stale now: do not keep a second copy alive.
                        g.saved = None;
                        g.last = Some(ev.clone());
                    }
                    let n = g.pushed;
                    g.member_seen[m.id] = n;
                    g.take(self.kind, &mut self.buf);
                    // Once every member has it, the event is not needed to recognize it.
                    if g.members
                        .iter()
                        .zip(&g.member_seen)
                        .all(|(k, s)| k.is_none() || *s == n)
                    {
                        g.last = None;
                    }
                }
            }
        }
        if let Some(st) = leave {
            self.detach(st);
            if let Backend::Own(e) = &mut self.backend {
                e.push(ev, &mut self.buf);
            }
        }
        self.drain(out);
    }

    fn finish(&mut self, out: &mut Vec<AlertDraft>) {
        let mut leave: Option<Option<EngineState>> = None;
        match &mut self.backend {
            Backend::Own(e) => e.finish(&mut self.buf),
            Backend::Shared(m) => {
                let mut g = lock(&m.group);
                if !m.bound && g.pushed > 0 {
                    // Saw no event of a stream the group did see.
                    leave = Some(Self::own_state(&m.loaded));
                } else {
                    if !g.finished {
                        let g = &mut *g;
                        g.stash.clear();
                        g.engine.finish(&mut g.stash);
                        g.finished = true;
                        g.last = None;
                    }
                    g.take(self.kind, &mut self.buf);
                }
            }
        }
        if let Some(st) = leave {
            self.detach(st);
            if let Backend::Own(e) = &mut self.backend {
                e.finish(&mut self.buf);
            }
        }
        self.drain(out);
    }

    fn stats(&self) -> DetectorStats {
        match &self.backend {
            Backend::Own(e) => e.counters(),
            Backend::Shared(m) => {
                let g = lock(&m.group);
                let mut c = g.engine.counters();
                if g.diverged > 0 {
                    c.push(("events some sharing detector missed".into(), g.diverged));
                }
                c
            }
        }
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn save_state(&self) -> Option<Value> {
        let (snapshot, state) = match &self.backend {
            Backend::Own(e) => (None, serde_json::to_value(e.save()).ok()?),
            Backend::Shared(m) => {
                let mut g = lock(&m.group);
                if !m.bound && g.pushed > 0 {
                    // Has not received the group's events: its state is still its own.
                    match &m.loaded {
                        Some((id, v)) => (Some(id.clone()), v.clone()),
                        None => (None, serde_json::to_value(EngineState::default()).ok()?),
                    }
                } else {
                    let v = g.saved_value()?;
                    (Some(g.snapshot_id()), v)
                }
            }
        };
        let mut m = Map::new();
        m.insert("version".into(), json!(STATE_VERSION));
        m.insert("kind".into(), json!(self.kind.name()));
        if let Some(s) = snapshot {
            m.insert("snapshot".into(), json!(s));
        }
        m.insert("state".into(), state);
        Some(Value::Object(m))
    }

    fn load_state(&mut self, state: Value) -> Result<(), String> {
        let (id, st) = parse_state(&state)?;
        let mut own: Option<EngineState> = None;
        match &mut self.backend {
            Backend::Own(e) => e.load(decode(st)?),
            Backend::Shared(m) => {
                let mut g = lock(&m.group);
                if g.pushed > 0 || g.finished || m.bound {
                    drop(g);
                    own = Some(decode(st)?);
                } else if g.loaded.is_none() {
                    // Load once: the first member to load fills the shared engine.
                    let decoded = decode(st)?;
                    g.engine.load(decoded);
                    g.loaded = Some(id.clone());
                    g.saved = None;
                    drop(g);
                    m.loaded = Some((id, st.clone()));
                } else if g.loaded.as_deref() == Some(id.as_str()) {
                    drop(g);
                    m.loaded = Some((id, st.clone()));
                } else {
                    drop(g);
                    own = Some(decode(st)?);
                }
            }
        }
        if let Some(st) = own {
            self.detach(Some(st));
        }
        Ok(())
    }

    fn events_filtered(&mut self) {
        // A filtered stream differs from the group's: keep (or start) an engine of its own.
        if let Backend::Shared(m) = &self.backend {
            let st = Self::own_state(&m.loaded);
            self.detach(st);
        }
    }
}

fn factory(kind: AlertKind, registry: Registry) -> AnalyticFactory {
    Arc::new(
        move |rule: &Arc<Rule>, _ctx: &CompileContext| -> Result<Box<dyn Detector>, CompileError> {
            let cfg = Settings::from_rule_raw(&rule.raw)
                .map_err(|e| CompileError::Invalid(e.to_string()))?;
            // A rule's own exception items filter its events, so it cannot share a stream.
            if !rule.exceptions.is_empty() {
                return Ok(Box::new(LineageDetector::new(rule.clone(), kind, cfg)));
            }
            Ok(Box::new(LineageDetector::joined(
                rule.clone(),
                kind,
                cfg,
                &registry,
            )))
        },
    )
}

/// Adds the session-lineage analytics to a compile context. The three share a registry, so
/// rules compiled with this context and identical settings share one engine.
pub fn register(ctx: &mut CompileContext) {
    let registry: Registry = Arc::default();
    ctx.analytics.insert(
        ANALYTIC_NO_ISSUANCE.into(),
        factory(AlertKind::NoIssuance, registry.clone()),
    );
    ctx.analytics.insert(
        ANALYTIC_USED_AWAY.into(),
        factory(AlertKind::UsedAway, registry.clone()),
    );
    ctx.analytics.insert(
        ANALYTIC_MISSING_MFA.into(),
        factory(AlertKind::MissingMfa, registry),
    );
}
