//! Session-lineage analytic (ATT&CK AN0483): issuance graph of temporary credentials, baselines, coverage
