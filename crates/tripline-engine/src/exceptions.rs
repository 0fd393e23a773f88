//! `exceptions` (to be implemented).
