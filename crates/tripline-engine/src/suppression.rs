//! `suppression` (to be implemented).
