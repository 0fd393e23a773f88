//! Feeds events to detectors in event-time order.
//!
//! Input is time-ordered within a file but files interleave (CloudTrail delivers a 5-minute
//! file per region, up to ~15 minutes late), so events pass through a reorder buffer: an event
//! is released once the newest time seen is more than `reorder_window_ms` past it. An event
//! older than the last released time ("late") is still evaluated immediately, out of order, and
//! counted in the summary as `late events`: stateless rules are unaffected; stateful ones see it
//! as if it had arrived at the time of release.
//!
//! Dispatch is indexed: detectors that fix `event.provider` (or `event.action`) only see events
//! carrying one of those values.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use tripline_doc::{Origin, SharedEvent};

use crate::detector::{AlertDraft, Detector};

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// How far (ms of event time) events may arrive out of order and still be sorted.
    pub reorder_window_ms: i64,
    /// Hard cap on buffered events, so memory stays bounded on pathological input.
    pub max_buffered: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        // 20 minutes: CloudTrail's documented delivery delay (~15 min) plus margin.
        RunnerConfig { reorder_window_ms: 20 * 60_000, max_buffered: 1_000_000 }
    }
}

/// Counters for the hunt summary.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub events: u64,
    pub late_events: u64,
    pub alerts: u64,
    /// Alerts not emitted because a rule reached its `max_signals`.
    pub capped_alerts: u64,
    /// (rule name, counter, value) from detectors' stats.
    pub detector_stats: Vec<(String, String, u64)>,
}

struct Slot {
    det: Box<dyn Detector>,
    emitted: u64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key(i64, u64);

pub struct Runner {
    slots: Vec<Slot>,
    /// event.provider value → detector indexes; plus detectors with no provider constraint.
    by_provider: HashMap<String, Vec<usize>>,
    unindexed: Vec<usize>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    pending: HashMap<usize, SharedEvent>,
    next_slot: usize,
    max_seen: i64,
    released: i64,
    cfg: RunnerConfig,
    summary: RunSummary,
    /// Whether detectors were told the input's start time (see [`Detector::input_started`]).
    started: bool,
}

/// The runner's own part of a checkpoint (see `store::StateStore`): clocks, counters, and
/// which buffered events were pushed but not yet dispatched. Buffered events are referred to
/// by origin, not copied: on resume the same input is read again and exactly those events
/// are pushed again (they precede the consumed position), which keeps checkpoints small.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunnerState {
    pub max_seen: i64,
    pub released: i64,
    pub started: bool,
    /// Events dispatched (pushed minus still buffered).
    pub events: u64,
    pub late_events: u64,
    pub alerts: u64,
    pub capped_alerts: u64,
    /// (rule id, alerts emitted) per detector, in detector order (for `max_signals`).
    pub emitted: Vec<(String, u64)>,
    /// Events pushed but still in the reorder buffer.
    pub pending: Vec<Origin>,
}

impl Runner {
    pub fn new(detectors: Vec<Box<dyn Detector>>, cfg: RunnerConfig) -> Runner {
        let mut by_provider: HashMap<String, Vec<usize>> = HashMap::new();
        let mut unindexed = Vec::new();
        for (i, d) in detectors.iter().enumerate() {
            match d.required("event.provider") {
                Some(vals) => {
                    for v in vals {
                        by_provider.entry(v).or_default().push(i);
                    }
                }
                None => unindexed.push(i),
            }
        }
        Runner {
            slots: detectors.into_iter().map(|det| Slot { det, emitted: 0 }).collect(),
            by_provider,
            unindexed,
            heap: BinaryHeap::new(),
            pending: HashMap::new(),
            next_slot: 0,
            max_seen: i64::MIN,
            released: i64::MIN,
            cfg,
            summary: RunSummary::default(),
            started: false,
        }
    }

    /// The runner's state for a checkpoint.
    pub fn snapshot(&self) -> RunnerState {
        let mut pending: Vec<(i64, u64, Origin)> =
            self.pending.values().map(|e| (e.timestamp, e.seq, e.origin.clone())).collect();
        pending.sort_by_key(|p| (p.0, p.1));
        RunnerState {
            max_seen: self.max_seen,
            released: self.released,
            started: self.started,
            events: self.summary.events - pending.len() as u64,
            late_events: self.summary.late_events,
            alerts: self.summary.alerts,
            capped_alerts: self.summary.capped_alerts,
            emitted: self.slots.iter().map(|s| (s.det.rule().rule_id.clone(), s.emitted)).collect(),
            pending: pending.into_iter().map(|p| p.2).collect(),
        }
    }

    /// Restores a [`RunnerState`] into a fresh runner (before any push). The events listed in
    /// `pending` must then be pushed again (the caller re-reads them from the input); the
    /// counters exclude them, so pushing them again counts each once. `emitted` counts are
    /// matched to detectors by rule id.
    pub fn restore(&mut self, st: &RunnerState) {
        self.max_seen = st.max_seen;
        self.released = st.released;
        self.started = st.started;
        self.summary.events = st.events;
        self.summary.late_events = st.late_events;
        self.summary.alerts = st.alerts;
        self.summary.capped_alerts = st.capped_alerts;
        let mut by_id: HashMap<&str, Vec<u64>> = HashMap::new();
        for (id, n) in st.emitted.iter().rev() {
            by_id.entry(id.as_str()).or_default().push(*n);
        }
        for slot in &mut self.slots {
            if let Some(n) = by_id.get_mut(slot.det.rule().rule_id.as_str()).and_then(|v| v.pop()) {
                slot.emitted = n;
            }
        }
    }

    pub fn detectors(&self) -> impl Iterator<Item = &dyn Detector> {
        self.slots.iter().map(|s| s.det.as_ref())
    }

    pub fn detectors_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Detector>> {
        self.slots.iter_mut().map(|s| &mut s.det)
    }

    /// Adds an event; alerts released by it are appended to `out`.
    pub fn push(&mut self, ev: SharedEvent, out: &mut Vec<AlertDraft>) {
        self.summary.events += 1;
        if ev.timestamp < self.released {
            self.summary.late_events += 1;
            self.dispatch(&ev, out);
            return;
        }
        self.max_seen = self.max_seen.max(ev.timestamp);
        let id = self.next_slot;
        self.next_slot += 1;
        self.heap.push(Reverse((Key(ev.timestamp, ev.seq), id)));
        self.pending.insert(id, ev);
        let horizon = self.max_seen.saturating_sub(self.cfg.reorder_window_ms);
        while let Some(Reverse((Key(ts, _), _))) = self.heap.peek() {
            if *ts < horizon || self.heap.len() > self.cfg.max_buffered {
                self.release_one(out);
            } else {
                break;
            }
        }
    }

    fn release_one(&mut self, out: &mut Vec<AlertDraft>) {
        if let Some(Reverse((Key(ts, _), id))) = self.heap.pop() {
            self.released = self.released.max(ts);
            if let Some(ev) = self.pending.remove(&id) {
                self.dispatch(&ev, out);
            }
        }
    }

    fn dispatch(&mut self, ev: &SharedEvent, out: &mut Vec<AlertDraft>) {
        if !self.started {
            self.started = true;
            for slot in &mut self.slots {
                slot.det.input_started(ev.timestamp);
            }
        }
        let provider = ev.doc.str("event.provider");
        let indexed = provider.and_then(|p| self.by_provider.get(p));
        let mut targets: Vec<usize> = self.unindexed.clone();
        if let Some(ix) = indexed {
            targets.extend(ix.iter().copied());
            targets.sort_unstable();
        }
        let mut buf = Vec::new();
        for i in targets {
            self.slots[i].det.on_event(ev, &mut buf);
            self.take(i, &mut buf, out);
        }
    }

    fn take(&mut self, i: usize, buf: &mut Vec<AlertDraft>, out: &mut Vec<AlertDraft>) {
        let slot = &mut self.slots[i];
        let max = slot.det.rule().max_signals;
        for a in buf.drain(..) {
            if a.building_block || slot.emitted < max {
                if !a.building_block {
                    slot.emitted += 1;
                    self.summary.alerts += 1;
                }
                out.push(a);
            } else {
                self.summary.capped_alerts += 1;
            }
        }
    }

    /// End of input: releases every buffered event, then lets detectors flush.
    pub fn finish(&mut self, out: &mut Vec<AlertDraft>) -> RunSummary {
        while !self.heap.is_empty() {
            self.release_one(out);
        }
        let mut buf = Vec::new();
        for i in 0..self.slots.len() {
            self.slots[i].det.finish(&mut buf);
            self.take(i, &mut buf, out);
        }
        let mut s = self.summary.clone();
        for slot in &self.slots {
            for (k, v) in slot.det.stats() {
                s.detector_stats.push((slot.det.rule().name.clone(), k, v));
            }
        }
        s
    }
}
