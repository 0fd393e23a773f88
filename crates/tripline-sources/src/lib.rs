//! Reads CloudTrail in every delivery format into raw records (to be implemented).
