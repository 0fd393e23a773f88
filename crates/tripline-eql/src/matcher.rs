//! Streaming evaluation of compiled queries over events arriving in event-time order.
//!
//! Sequence state follows Elasticsearch's (and the original EQL engine's) rules: for each join
//! key and each stage there is at most one partial sequence. An event matching stage 0 starts a
//! new partial for its key (replacing an older one still waiting at stage 0); an event matching
//! stage k > 0 extends the partial waiting at stage k-1 for its key, which then replaces any
//! partial already at stage k. Stages are tried from the last to the first so that one event
//! never advances the same sequence twice. `maxspan` is measured from the sequence's first event
//! (a partial older than that is discarded when it would be extended, and swept periodically);
//! an `until` event for a key discards every partial sequence of that key.
//!
//! Missing-event stages (`![...]`): one between two positive stages invalidates the partial
//! waiting there when a matching event with the same keys arrives; a leading one rejects a
//! sequence when such an event occurred within `maxspan` before its last event and not after its
//! first; a trailing one holds the completed sequence until `maxspan` after its first event has
//! passed (in event time, or the end of input) and drops it when such an event arrives meanwhile.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;
use tripline_doc::SharedEvent;
use tripline_ir::{scalar, Predicate};

use crate::{Body, Pipe, Query, Stage};

/// One result of a query.
#[derive(Debug, Clone)]
pub enum Match {
    Event(SharedEvent),
    /// The events of a completed sequence, in stage order.
    Sequence(Vec<SharedEvent>),
    /// The events of a sample, in stage order.
    Sample(Vec<SharedEvent>),
}

impl Match {
    pub fn events(&self) -> &[SharedEvent] {
        match self {
            Match::Event(e) => std::slice::from_ref(e),
            Match::Sequence(v) | Match::Sample(v) => v,
        }
    }
}

/// Counters for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatcherStats {
    /// Partial sequences / sample groups currently held.
    pub live_states: u64,
    /// Partial states dropped because the cap was reached.
    pub dropped_states: u64,
    /// Partial sequences discarded because `maxspan` passed.
    pub expired_states: u64,
    /// Partial sequences discarded by `until`.
    pub until_discarded: u64,
    /// Events whose timestamp field was absent, so `@timestamp` was used.
    pub timestamp_fallbacks: u64,
}

/// A streaming matcher; see [`Query::matcher`].
pub struct Matcher {
    engine: Engine,
    pipes: Vec<PipeState>,
    ts_field: Option<String>,
    stats: MatcherStats,
}

enum PipeState {
    Head(usize),
    Tail(usize, VecDeque<Match>),
    Filter(Predicate),
}

enum Engine {
    Event(Predicate),
    Sequence(Box<SeqEngine>),
    Sample(SampleEngine),
}

impl Matcher {
    pub(crate) fn new(q: &Query) -> Matcher {
        let engine = match &q.body {
            Body::Event(p) => Engine::Event(p.clone()),
            Body::Sequence {
                stages,
                until,
                maxspan_ms,
            } => Engine::Sequence(Box::new(SeqEngine::new(
                stages.clone(),
                until.clone(),
                *maxspan_ms,
                q.options.max_partial_sequences,
            ))),
            Body::Sample { stages } => Engine::Sample(SampleEngine {
                stages: stages.clone(),
                groups: HashMap::new(),
                done: HashSet::new(),
                cap: q.options.max_partial_sequences,
            }),
        };
        let pipes = q
            .pipes
            .iter()
            .map(|p| match p {
                Pipe::Head(n) => PipeState::Head(*n),
                Pipe::Tail(n) => PipeState::Tail(*n, VecDeque::new()),
                Pipe::Filter(f) => PipeState::Filter(f.clone()),
            })
            .collect();
        Matcher {
            engine,
            pipes,
            ts_field: q.options.timestamp_field.clone(),
            stats: MatcherStats::default(),
        }
    }

    /// Feeds one event (in event-time order); returns the results it completes.
    pub fn push(&mut self, ev: &SharedEvent) -> Vec<Match> {
        let (t, fell_back) = ev.time_of(self.ts_field.as_deref());
        if fell_back {
            self.stats.timestamp_fallbacks += 1;
        }
        let mut out = Vec::new();
        match &mut self.engine {
            Engine::Event(p) => {
                if p.matches(&ev.doc) {
                    out.push(Match::Event(ev.clone()));
                }
            }
            Engine::Sequence(s) => s.push(ev, t, &mut out, &mut self.stats),
            Engine::Sample(s) => s.push(ev, &mut out, &mut self.stats),
        }
        if out.is_empty() {
            return out;
        }
        run_pipes(&mut self.pipes, 0, out)
    }

    /// End of input: releases held results (trailing missing events, `tail`).
    pub fn finish(&mut self) -> Vec<Match> {
        let mut out = Vec::new();
        if let Engine::Sequence(s) = &mut self.engine {
            s.flush_pending(i64::MAX, &mut out);
        }
        let mut res = run_pipes(&mut self.pipes, 0, out);
        for i in 0..self.pipes.len() {
            if let PipeState::Tail(_, buf) = &mut self.pipes[i] {
                let held: Vec<Match> = buf.drain(..).collect();
                res.extend(run_pipes(&mut self.pipes, i + 1, held));
            }
        }
        res
    }

    /// True when no further input can produce a result (a `head` limit was reached).
    pub fn is_done(&self) -> bool {
        matches!(self.pipes.first(), Some(PipeState::Head(0)))
    }

    pub fn stats(&self) -> MatcherStats {
        let mut s = self.stats.clone();
        s.live_states = match &self.engine {
            Engine::Event(_) => 0,
            Engine::Sequence(q) => q.live as u64,
            Engine::Sample(q) => q.groups.len() as u64,
        };
        s
    }
}

fn run_pipes(pipes: &mut [PipeState], from: usize, mut items: Vec<Match>) -> Vec<Match> {
    for p in pipes.iter_mut().skip(from) {
        if items.is_empty() {
            break;
        }
        match p {
            PipeState::Head(left) => {
                let n = (*left).min(items.len());
                items.truncate(n);
                *left -= n;
            }
            PipeState::Filter(f) => items.retain(|m| m.events().iter().all(|e| f.matches(&e.doc))),
            PipeState::Tail(n, buf) => {
                for m in items.drain(..) {
                    buf.push_back(m);
                    if buf.len() > *n {
                        buf.pop_front();
                    }
                }
                return Vec::new();
            }
        }
    }
    items
}

/// Join key values as a hashable string (JSON of the value list; missing is `null`).
fn key_of(stage: &Stage, ev: &SharedEvent) -> String {
    if stage.keys.is_empty() {
        return String::new();
    }
    let vals: Vec<Value> = stage
        .keys
        .iter()
        .map(|k| scalar::eval(k, &ev.doc))
        .collect();
    serde_json::to_string(&vals).unwrap_or_default()
}

struct Partial {
    events: Vec<SharedEvent>,
    start: i64,
    last: i64,
}

struct Pending {
    key: String,
    deadline: i64,
    last: i64,
    events: Vec<SharedEvent>,
}

struct SeqEngine {
    /// Positive stages in order.
    pos: Vec<Stage>,
    /// Missing stages before positive stage k (k = 0: leading) ...
    gaps: Vec<Vec<Stage>>,
    /// ... and after the last positive stage (trailing).
    trail: Vec<Stage>,
    until: Option<Stage>,
    maxspan: Option<i64>,
    /// key → partial per positive stage index (slot k: stages 0..=k matched), k < pos.len()-1.
    slots: HashMap<String, Vec<Option<Partial>>>,
    live: usize,
    cap: usize,
    /// Leading missing events seen per key (times, pruned to maxspan).
    lead_seen: HashMap<String, VecDeque<i64>>,
    pending: Vec<Pending>,
    last_sweep: i64,
}

impl SeqEngine {
    fn new(
        stages: Vec<Stage>,
        until: Option<Stage>,
        maxspan: Option<i64>,
        cap: usize,
    ) -> SeqEngine {
        let mut pos = Vec::new();
        let mut gaps = vec![Vec::new()];
        for s in stages {
            if s.missing {
                gaps.last_mut().expect("never empty").push(s);
            } else {
                pos.push(s);
                gaps.push(Vec::new());
            }
        }
        let trail = gaps.pop().unwrap_or_default();
        SeqEngine {
            pos,
            gaps,
            trail,
            until,
            maxspan,
            slots: HashMap::new(),
            live: 0,
            cap: cap.max(1),
            lead_seen: HashMap::new(),
            pending: Vec::new(),
            last_sweep: i64::MIN,
        }
    }

    fn expired(&self, start: i64, t: i64) -> bool {
        self.maxspan.is_some_and(|m| t.saturating_sub(start) > m)
    }

    fn push(&mut self, ev: &SharedEvent, t: i64, out: &mut Vec<Match>, stats: &mut MatcherStats) {
        self.flush_pending(t, out);
        if let Some(m) = self.maxspan {
            if self.last_sweep == i64::MIN || t.saturating_sub(self.last_sweep) > m {
                self.sweep(t, stats);
                self.last_sweep = t;
            }
        }
        if let Some(u) = &self.until {
            if u.predicate.matches(&ev.doc) {
                let key = key_of(u, ev);
                if let Some(slots) = self.slots.remove(&key) {
                    let n = slots.iter().filter(|s| s.is_some()).count();
                    self.live -= n;
                    stats.until_discarded += n as u64;
                }
            }
        }
        let n = self.pos.len();
        for k in (0..n).rev() {
            if !self.pos[k].predicate.matches(&ev.doc) {
                continue;
            }
            let key = key_of(&self.pos[k], ev);
            let partial = if k == 0 {
                Some(Partial {
                    events: vec![ev.clone()],
                    start: t,
                    last: t,
                })
            } else {
                let taken = self.slots.get_mut(&key).and_then(|s| s[k - 1].take());
                match taken {
                    Some(mut p) => {
                        self.live -= 1;
                        if self.expired(p.start, t) {
                            stats.expired_states += 1;
                            None
                        } else {
                            p.events.push(ev.clone());
                            p.last = t;
                            Some(p)
                        }
                    }
                    None => None,
                }
            };
            let Some(p) = partial else { continue };
            if k == n - 1 {
                self.complete(key, p, out);
            } else {
                let slots = self
                    .slots
                    .entry(key)
                    .or_insert_with(|| (0..n - 1).map(|_| None).collect());
                if slots[k].replace(p).is_none() {
                    self.live += 1;
                }
            }
        }
        // Missing-event stages.
        for k in 0..self.gaps.len() {
            for st in &self.gaps[k] {
                if !st.predicate.matches(&ev.doc) {
                    continue;
                }
                let key = key_of(st, ev);
                if k == 0 {
                    let q = self.lead_seen.entry(key).or_default();
                    q.push_back(t);
                    let horizon = t.saturating_sub(self.maxspan.unwrap_or(i64::MAX));
                    while q.front().is_some_and(|&x| x < horizon) || q.len() > 1024 {
                        q.pop_front();
                    }
                } else if let Some(slots) = self.slots.get_mut(&key) {
                    if slots[k - 1].take().is_some() {
                        self.live -= 1;
                    }
                }
            }
        }
        for st in &self.trail {
            if st.predicate.matches(&ev.doc) {
                let key = key_of(st, ev);
                self.pending
                    .retain(|p| !(p.key == key && p.last <= t && t <= p.deadline));
            }
        }
        if self.live > self.cap {
            self.evict(stats);
        }
    }

    fn complete(&mut self, key: String, p: Partial, out: &mut Vec<Match>) {
        if !self.gaps[0].is_empty() {
            let window_lo = p.last.saturating_sub(self.maxspan.unwrap_or(i64::MAX));
            if let Some(q) = self.lead_seen.get(&key) {
                if q.iter().any(|&x| x >= window_lo && x <= p.start) {
                    return;
                }
            }
        }
        if !self.trail.is_empty() {
            let deadline = p.start.saturating_add(self.maxspan.unwrap_or(0));
            self.pending.push(Pending {
                key,
                deadline,
                last: p.last,
                events: p.events,
            });
            return;
        }
        out.push(Match::Sequence(p.events));
    }

    /// Emits held sequences (trailing missing events) whose window closed before `t`.
    fn flush_pending(&mut self, t: i64, out: &mut Vec<Match>) {
        if self.pending.is_empty() {
            return;
        }
        let mut keep = Vec::new();
        for p in self.pending.drain(..) {
            if p.deadline < t {
                out.push(Match::Sequence(p.events));
            } else {
                keep.push(p);
            }
        }
        self.pending = keep;
    }

    fn sweep(&mut self, t: i64, stats: &mut MatcherStats) {
        let Some(m) = self.maxspan else { return };
        let mut removed = 0;
        self.slots.retain(|_, slots| {
            for s in slots.iter_mut() {
                if s.as_ref().is_some_and(|p| t.saturating_sub(p.start) > m) {
                    *s = None;
                    removed += 1;
                }
            }
            slots.iter().any(|s| s.is_some())
        });
        self.live -= removed;
        stats.expired_states += removed as u64;
        let horizon = t.saturating_sub(m);
        self.lead_seen.retain(|_, q| {
            while q.front().is_some_and(|&x| x < horizon) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }

    /// Drops the oldest partial sequences until 90% of the cap is used.
    fn evict(&mut self, stats: &mut MatcherStats) {
        let mut all: Vec<(i64, String, usize)> = Vec::with_capacity(self.live);
        for (k, slots) in &self.slots {
            for (i, s) in slots.iter().enumerate() {
                if let Some(p) = s {
                    all.push((p.start, k.clone(), i));
                }
            }
        }
        all.sort();
        let target = self.cap - self.cap / 10;
        let excess = self.live.saturating_sub(target);
        for (_, k, i) in all.into_iter().take(excess) {
            if let Some(slots) = self.slots.get_mut(&k) {
                if slots[i].take().is_some() {
                    self.live -= 1;
                    stats.dropped_states += 1;
                }
                if slots.iter().all(|s| s.is_none()) {
                    self.slots.remove(&k);
                }
            }
        }
    }
}

struct SampleEngine {
    stages: Vec<Stage>,
    groups: HashMap<String, Vec<Option<SharedEvent>>>,
    /// Keys that already produced their sample (one sample per key, ES's default).
    done: HashSet<String>,
    cap: usize,
}

impl SampleEngine {
    fn push(&mut self, ev: &SharedEvent, out: &mut Vec<Match>, stats: &mut MatcherStats) {
        let n = self.stages.len();
        for i in 0..n {
            if !self.stages[i].predicate.matches(&ev.doc) {
                continue;
            }
            let key = key_of(&self.stages[i], ev);
            if self.done.contains(&key) {
                continue;
            }
            if !self.groups.contains_key(&key) && self.groups.len() >= self.cap {
                stats.dropped_states += 1;
                continue;
            }
            let g = self
                .groups
                .entry(key.clone())
                .or_insert_with(|| vec![None; n]);
            if g[i].is_none() {
                g[i] = Some(ev.clone());
            }
            if g.iter().all(|e| e.is_some()) {
                let events = self
                    .groups
                    .remove(&key)
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect();
                if self.done.len() < self.cap {
                    self.done.insert(key);
                }
                out.push(Match::Sample(events));
            }
        }
    }
}
