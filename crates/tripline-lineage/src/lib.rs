//! Session-lineage analytic (ATT&CK AN0483): issuance graph of temporary credentials, baselines, coverage.
//!
//! Every temporary credential seen in the trail must trace back to a legitimate issuance
//! (console sign-in, STS, identity center, service-issued role credentials), and be used
//! where it was issued. [`engine::Engine`] streams normalized (ECS) events in event-time
//! order and keeps the issuance graph; [`detector::LineageDetector`] exposes its three alert
//! kinds as engine detectors ([`register`] adds them to a compile context, named by the
//! analytic rules' `query`). [`view`] builds the analyst's lineage view and [`coverage`] says
//! whether a trail can support the analytic at all.
//!
//! Settings live in the analytic rule's `[rule.lineage]` table ([`config::LineageConfig`]).

pub mod config;
pub mod coverage;
pub mod coverage_track;
pub mod detector;
pub mod engine;
pub mod evidence;
pub mod html;
pub mod model;
pub mod view;

pub use config::{LineageConfig, Settings};
pub use coverage::{coverage, CoverageBuilder, CoverageReport};
pub use detector::{
    register, LineageDetector, ANALYTIC_MISSING_MFA, ANALYTIC_NO_ISSUANCE, ANALYTIC_USED_AWAY,
};
pub use engine::{AlertKind, Engine, Finding};
pub use view::{build_view, LineageBuilder, LineageView, ViewFilter};

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error("session-lineage settings: {0}")]
    Config(String),
}

#[cfg(test)]
mod tests;
