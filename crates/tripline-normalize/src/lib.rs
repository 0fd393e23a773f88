//! CloudTrail record → ECS document, as Elastic's AWS integration does it (to be implemented).
