//! ES|QL parser and evaluator for the esql rule type and ad-hoc queries
