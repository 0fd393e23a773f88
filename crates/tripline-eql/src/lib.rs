//! EQL parser, compiler to IR, sequences and samples, as Elasticsearch defines them
