//! The hunt engine.
//!
//! Rules are compiled into [`Detector`]s (one per rule, or one per built-in analytic). The
//! [`runner::Runner`] feeds them normalized events in event-time order (sorting input that is
//! ordered per file but interleaved across files inside a bounded reorder window) and
//! collects [`AlertDraft`]s, which `tripline-alerts` turns into Elastic-shaped alert documents.
//!
//! Module map (who implements what):
//! - [`detector`]: the trait every rule type and analytic implements, and `AlertDraft`.
//! - [`compile`]: rule → detector, by rule type; the registry for built-in analytics.
//! - [`query_rule`]: stateless KQL/Lucene `query` rules.
//! - [`eql_rule`]: `eql` rules (event queries, sequences, samples).
//! - [`esql_rule`]: `esql` rules over event-time windows.
//! - [`new_terms`], [`threshold`]: stateful rule types; [`window`]: how scheduled runs map to
//!   event time; [`exceptions`], [`suppression`]: alert filtering; [`store`]: state that survives
//!   restarts.
//! - [`runner`]: ordering, dispatch, summary counters.

pub mod compile;
pub mod detector;
pub mod eql_rule;
pub mod esql_rule;
pub mod exceptions;
pub mod new_terms;
pub mod query_rule;
pub mod runner;
pub mod store;
pub mod suppression;
pub mod threshold;
pub mod tuples;
pub mod window;

pub use compile::{compile_rule, CompileContext, CompileError};
pub use detector::{AlertDraft, Detector, DetectorStats};
pub use runner::{Hydrate, RunSummary, Runner, RunnerConfig};
