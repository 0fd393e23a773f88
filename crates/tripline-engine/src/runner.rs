//! Feeds events to detectors in event-time order.
//!
//! Input is time-ordered within a file but files interleave (CloudTrail delivers a 5-minute
//! file per region, up to ~15 minutes late), so events pass through a reorder buffer: an event
//! is released once the newest time seen is more than `reorder_window_ms` past it. An event
//! older than the last released time ("late") is still evaluated immediately, out of order, and
//! counted in the summary as `late events`: stateless rules are unaffected; stateful ones see it
//! as if it had arrived at the time of release.
//!
//! Dispatch is indexed: detectors that fix `event.provider` and/or `event.action` only see
//! events carrying one of those values. The target lists are precomputed per provider, so
//! dispatch allocates nothing per event. [`RunnerConfig::indexed`] = false turns the index off
//! (every detector sees every event): the reference the differential tests compare with.
//!
//! Alerts as input: detectors that read alerts ([`Detector::reads_alerts`]) are also fed, when
//! an alert-document builder is set, one event per non-building-block alert the other
//! detectors emit, as the alert produced (see [`Runner::set_alert_doc_builder`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use tripline_doc::{Document, Event, Origin, SharedEvent};

use crate::detector::{AlertDraft, Detector};

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// How far (ms of event time) events may arrive out of order and still be sorted.
    pub reorder_window_ms: i64,
    /// Hard cap on buffered events, so memory stays bounded on pathological input.
    pub max_buffered: usize,
    /// Dispatch through the provider/action index (the default); false = every detector
    /// sees every event (same alerts, slower; the reference for differential tests).
    pub indexed: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        // 20 minutes: CloudTrail's documented delivery delay (~15 min) plus margin.
        RunnerConfig {
            reorder_window_ms: 20 * 60_000,
            max_buffered: 1_000_000,
            indexed: true,
        }
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
    /// Cached [`Detector::reads_alerts`].
    reads_alerts: bool,
    /// Cached [`Detector::required`] for `event.action` (`None`: any action).
    actions: Option<HashSet<String>>,
    /// The detector cannot say which fields it reads ([`Detector::fields`] is `None`): it is
    /// given whole documents when the input is projected (see [`Runner::set_hydrator`]).
    whole: bool,
    /// Cached [`Detector::required`] for the [`DATASET_FIELDS`] that the detector constrains.
    datasets: Vec<(&'static str, HashSet<String>)>,
}

/// Fields naming an event's dataset, which every projected event keeps.
const DATASET_FIELDS: [&str; 2] = ["event.dataset", "data_stream.dataset"];

impl Slot {
    /// Whether a detector needing whole documents could take this (projected) event: its
    /// required datasets and [`Detector::may_select`], both judged on fields every projected
    /// event keeps.
    fn may_take(&self, ev: &SharedEvent) -> bool {
        let dataset_ok = self.datasets.iter().all(|(field, set)| {
            ev.doc
                .values(field)
                .iter()
                .any(|v| v.as_str().is_some_and(|d| set.contains(d)))
        });
        dataset_ok && self.det.may_select(ev)
    }
}

/// Builds the Elastic-shaped alert document of a draft; set by the caller because the alert
/// document shape lives in `tripline-alerts`, which depends on this crate.
pub type AlertDocBuilder = Box<dyn Fn(&AlertDraft) -> Document + Send>;

/// Rebuilds the whole document of a projected event (see `tripline_doc::projection`).
pub type Hydrate = Box<dyn Fn(&SharedEvent) -> SharedEvent + Send>;

/// Origin file name of the events made from alerts.
pub const ALERTS_ORIGIN: &str = "alerts";

/// `seq` of events made from alerts start here, far above any input's, so they never tie
/// with input events.
const ALERT_SEQ_BASE: u64 = 1 << 62;

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key(i64, u64);

pub struct Runner {
    slots: Vec<Slot>,
    /// event.provider value → indexes of the detectors requiring it merged with `unindexed`,
    /// ascending (detector order); plus the detectors with no provider constraint.
    by_provider: HashMap<String, Vec<usize>>,
    unindexed: Vec<usize>,
    /// Whether some detector constrains `event.action`.
    action_filtered: bool,
    /// Reused per-event buffers (dispatch targets, detector output).
    scratch: Vec<usize>,
    buf: Vec<AlertDraft>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    pending: HashMap<usize, SharedEvent>,
    next_slot: usize,
    max_seen: i64,
    released: i64,
    cfg: RunnerConfig,
    summary: RunSummary,
    /// Whether detectors were told the input's start time (see [`Detector::input_started`]).
    started: bool,
    /// Alert documents for the detectors that read alerts (`None`: alerts are not fed).
    alert_doc: Option<AlertDocBuilder>,
    /// Indexes of the detectors that read alerts.
    alert_readers: Vec<usize>,
    /// Events made from alerts so far (their origin record numbers and seqs).
    alert_events: u64,
    /// Whole documents for the detectors that need them (`None`: events are given as is).
    hydrate: Option<Hydrate>,
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
        // Each provider's list also holds the unindexed detectors, in detector order, so a
        // single-provider event (the usual case) is dispatched from one precomputed list.
        for list in by_provider.values_mut() {
            list.extend(unindexed.iter().copied());
            list.sort_unstable();
            list.dedup();
        }
        let actions: Vec<Option<HashSet<String>>> = detectors
            .iter()
            .map(|d| d.required("event.action").map(|v| v.into_iter().collect()))
            .collect();
        let action_filtered = actions.iter().any(Option::is_some);
        let mut actions = actions.into_iter();
        let alert_readers = detectors
            .iter()
            .enumerate()
            .filter(|(_, d)| d.reads_alerts())
            .map(|(i, _)| i)
            .collect();
        Runner {
            slots: detectors
                .into_iter()
                .map(|det| {
                    let reads_alerts = det.reads_alerts();
                    // Fields by wildcard cannot be projected either.
                    let whole = det
                        .fields()
                        .is_none_or(|f| f.iter().any(|f| f.contains('*')));
                    let datasets = DATASET_FIELDS
                        .iter()
                        .filter_map(|&f| Some((f, det.required(f)?.into_iter().collect())))
                        .collect();
                    Slot {
                        det,
                        emitted: 0,
                        reads_alerts,
                        actions: actions.next().flatten(),
                        whole,
                        datasets,
                    }
                })
                .collect(),
            by_provider,
            unindexed,
            action_filtered,
            scratch: Vec::new(),
            buf: Vec::new(),
            heap: BinaryHeap::new(),
            pending: HashMap::new(),
            next_slot: 0,
            max_seen: i64::MIN,
            released: i64::MIN,
            cfg,
            summary: RunSummary::default(),
            started: false,
            alert_doc: None,
            alert_readers,
            alert_events: 0,
            hydrate: None,
        }
    }

    /// When the input is projected (documents reduced to the fields detectors declare), the
    /// detectors that declare none get the whole document, rebuilt by `hydrate` at most once
    /// per event. Only worth it when those detectors are indexed (see
    /// [`Runner::unindexed_whole_document_detector`]): they then see few events.
    pub fn set_hydrator(&mut self, hydrate: Hydrate) {
        self.hydrate = Some(hydrate);
    }

    /// The name of a detector that needs whole documents and would see every event like
    /// `probe` (no `event.provider` / `event.action` constraint, and it may take `probe`:
    /// its required `event.dataset` values and [`Detector::may_select`]), if any.
    pub fn unindexed_whole_document_detector(&self, probe: &SharedEvent) -> Option<&str> {
        self.slots
            .iter()
            .find(|s| {
                s.whole
                    && s.actions.is_none()
                    && s.det.required("event.provider").is_none()
                    && s.may_take(probe)
            })
            .map(|s| s.det.rule().name.as_str())
    }

    /// Makes Tripline's alerts queryable by the detectors that read alerts (ES|QL rules over
    /// `.alerts-security.*`): every non-building-block alert that a detector not reading
    /// alerts emits is turned into a document by `builder` and fed, as an event at the alert's
    /// time (`kibana.alert.original_time`) with origin file [`ALERTS_ORIGIN`], to those
    /// detectors, in the order the alerts are produced. Their own alerts are emitted but not
    /// fed again, so alert-reading rules cannot loop. Without a builder nothing is fed.
    pub fn set_alert_doc_builder(&mut self, builder: AlertDocBuilder) {
        self.alert_doc = Some(builder);
    }

    /// Whether some detector reads alerts (so a builder is worth setting).
    pub fn reads_alerts(&self) -> bool {
        !self.alert_readers.is_empty()
    }

    /// Feeds the alerts `out[from..]` to the detectors that read alerts.
    fn feed_alerts(&mut self, from: usize, out: &mut Vec<AlertDraft>) {
        let Some(build) = &self.alert_doc else { return };
        let mut n = self.alert_events;
        let events: Vec<SharedEvent> = out[from..]
            .iter()
            .filter(|a| !a.building_block)
            .map(|a| {
                n += 1;
                Arc::new(Event {
                    doc: build(a),
                    timestamp: a.timestamp,
                    origin: Origin {
                        file: Arc::from(ALERTS_ORIGIN),
                        record: n,
                        line: None,
                    },
                    seq: ALERT_SEQ_BASE + n,
                })
            })
            .collect();
        self.alert_events = n;
        let mut buf = Vec::new();
        for ev in &events {
            for k in 0..self.alert_readers.len() {
                let j = self.alert_readers[k];
                self.slots[j].det.on_event(ev, &mut buf);
                self.take(j, &mut buf, out);
            }
        }
    }

    /// The runner's state for a checkpoint.
    pub fn snapshot(&self) -> RunnerState {
        let mut pending: Vec<(i64, u64, Origin)> = self
            .pending
            .values()
            .map(|e| (e.timestamp, e.seq, e.origin.clone()))
            .collect();
        pending.sort_by_key(|p| (p.0, p.1));
        RunnerState {
            max_seen: self.max_seen,
            released: self.released,
            started: self.started,
            events: self.summary.events - pending.len() as u64,
            late_events: self.summary.late_events,
            alerts: self.summary.alerts,
            capped_alerts: self.summary.capped_alerts,
            emitted: self
                .slots
                .iter()
                .map(|s| (s.det.rule().rule_id.clone(), s.emitted))
                .collect(),
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
            if let Some(n) = by_id
                .get_mut(slot.det.rule().rule_id.as_str())
                .and_then(|v| v.pop())
            {
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
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        if !self.cfg.indexed {
            targets.extend(0..self.slots.len());
        } else {
            let providers = ev.doc.values("event.provider");
            let mut names = providers.iter().filter_map(|v| v.as_str());
            match (names.next(), names.next()) {
                (None, _) => targets.extend_from_slice(&self.unindexed),
                (Some(p), None) => {
                    targets.extend_from_slice(self.by_provider.get(p).unwrap_or(&self.unindexed))
                }
                // Several providers (documents given as they are): the union of their lists.
                _ => {
                    targets.extend_from_slice(&self.unindexed);
                    for p in providers.iter().filter_map(|v| v.as_str()) {
                        if let Some(ix) = self.by_provider.get(p) {
                            targets.extend_from_slice(ix);
                        }
                    }
                    targets.sort_unstable();
                    targets.dedup();
                }
            }
            if self.action_filtered {
                let actions = ev.doc.values("event.action");
                let slots = &self.slots;
                targets.retain(|&i| match &slots[i].actions {
                    None => true,
                    Some(set) => actions
                        .iter()
                        .any(|a| a.as_str().is_some_and(|a| set.contains(a))),
                });
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        let mut whole: Option<SharedEvent> = None;
        for &i in &targets {
            let e = match &self.hydrate {
                Some(h) if self.slots[i].whole && ev.doc.is_projected() => {
                    if !self.slots[i].may_take(ev) {
                        continue;
                    }
                    &*whole.get_or_insert_with(|| h(ev))
                }
                _ => ev,
            };
            self.slots[i].det.on_event(e, &mut buf);
            self.take(i, &mut buf, out);
        }
        self.buf = buf;
        self.scratch = targets;
    }

    fn take(&mut self, i: usize, buf: &mut Vec<AlertDraft>, out: &mut Vec<AlertDraft>) {
        let first = out.len();
        let slot = &mut self.slots[i];
        let feed = !slot.reads_alerts && !self.alert_readers.is_empty();
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
        if feed && out.len() > first {
            self.feed_alerts(first, out);
        }
    }

    /// End of input: releases every buffered event, then lets detectors flush.
    pub fn finish(&mut self, out: &mut Vec<AlertDraft>) -> RunSummary {
        while !self.heap.is_empty() {
            self.release_one(out);
        }
        let mut buf = Vec::new();
        // Detectors that read alerts flush last, after every alert they could read.
        let mut order: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].reads_alerts)
            .collect();
        order.extend(self.alert_readers.iter().copied());
        for i in order {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tripline_doc::{Event, Projection};
    use tripline_rules::Rule;

    /// Needs whole documents (`fields()` is `None`); optionally requires a dataset.
    struct Whole {
        rule: Arc<Rule>,
        dataset: Option<&'static str>,
        seen: Arc<AtomicUsize>,
        saw_whole: Arc<AtomicUsize>,
    }

    impl Detector for Whole {
        fn rule(&self) -> &Arc<Rule> {
            &self.rule
        }
        fn required(&self, field: &str) -> Option<Vec<String>> {
            match (field, self.dataset) {
                ("data_stream.dataset", Some(d)) => Some(vec![d.to_string()]),
                _ => None,
            }
        }
        fn on_event(&mut self, ev: &SharedEvent, _out: &mut Vec<AlertDraft>) {
            self.seen.fetch_add(1, Ordering::SeqCst);
            if !ev.doc.is_projected() {
                self.saw_whole.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn whole(
        dataset: Option<&'static str>,
    ) -> (Box<dyn Detector>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let rule = Rule::parse(
            "t",
            "[rule]\nrule_id='w'\nname='whole'\ntype='query'\nquery='*'\nlanguage='kuery'\n",
        )
        .unwrap();
        let (seen, saw_whole) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let d = Whole {
            rule: Arc::new(rule),
            dataset,
            seen: seen.clone(),
            saw_whole: saw_whole.clone(),
        };
        (Box::new(d), seen, saw_whole)
    }

    fn projected_cloudtrail_event() -> SharedEvent {
        let mut full = Document::new();
        full.set("data_stream.dataset", "aws.cloudtrail".into());
        full.set("event.dataset", "aws.cloudtrail".into());
        full.set("event.action", "CreateUser".into());
        let p = Projection::new(["data_stream.dataset", "event.dataset"]).unwrap();
        Arc::new(Event {
            doc: full.project(&p, "{}".into()),
            timestamp: 1,
            origin: Origin {
                file: "f".into(),
                record: 1,
                line: None,
            },
            seq: 0,
        })
    }

    #[test]
    fn whole_document_detectors_get_one_rebuilt_document_and_only_for_their_datasets() {
        let (a, a_seen, a_whole) = whole(None);
        let (b, b_seen, b_whole) = whole(None);
        let (c, c_seen, _) = whole(Some("azure.auditlogs"));
        let mut runner = Runner::new(vec![a, b, c], RunnerConfig::default());
        let probe = projected_cloudtrail_event();
        assert_eq!(
            runner.unindexed_whole_document_detector(&probe),
            Some("whole")
        );
        let rebuilt = Arc::new(AtomicUsize::new(0));
        let r = rebuilt.clone();
        runner.set_hydrator(Box::new(move |e: &SharedEvent| {
            r.fetch_add(1, Ordering::SeqCst);
            let mut doc = Document::new();
            doc.set("event.action", "CreateUser".into());
            Arc::new(Event {
                doc,
                timestamp: e.timestamp,
                origin: e.origin.clone(),
                seq: e.seq,
            })
        }));
        let mut out = Vec::new();
        runner.push(projected_cloudtrail_event(), &mut out);
        runner.finish(&mut out);
        // Rebuilt once for both detectors that may take it, never for the Azure one.
        assert_eq!(rebuilt.load(Ordering::SeqCst), 1);
        assert_eq!(
            (
                a_seen.load(Ordering::SeqCst),
                a_whole.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
        assert_eq!(
            (
                b_seen.load(Ordering::SeqCst),
                b_whole.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
        assert_eq!(c_seen.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn detectors_over_other_datasets_do_not_block_projection() {
        let (c, _, _) = whole(Some("azure.auditlogs"));
        let runner = Runner::new(vec![c], RunnerConfig::default());
        assert_eq!(
            runner.unindexed_whole_document_detector(&projected_cloudtrail_event()),
            None
        );
    }
}
