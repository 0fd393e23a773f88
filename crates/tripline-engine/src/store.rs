//! `store` (to be implemented).
