//! `window` (to be implemented).
