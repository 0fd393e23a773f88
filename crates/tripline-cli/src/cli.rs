//! Command-line interface: argument definitions and dispatch.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tripline",
    version,
    about = "Threat detection for cloud audit logs: hunts AWS CloudTrail with Elastic's detection rules and Tripline's session-lineage analytic",
    long_about = "Tripline reads CloudTrail in every delivery format (S3 {\"Records\":[...]} files, gzipped or not, \
whole AWSLogs/ trees, event-history exports, NDJSON, EventBridge envelopes, stdin), normalizes each record to \
Elastic Common Schema exactly as Elastic's AWS integration does, and runs Elastic detection rules (TOML files: \
query/KQL, eql, esql, new_terms, threshold) plus Tripline's built-in rule pack.\n\n\
Examples:\n  tripline hunt samples/trail\n  tripline hunt ./AWSLogs --rules builtin --rules detection-rules/rules/integrations/aws\n  \
tripline normalize trail.json.gz > ecs.ndjson\n  tripline rules check my-rules/\n  \
tripline query 'iam where event.action == \"CreateUser\"' ./AWSLogs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read logs, normalize them, run every rule, print alerts and a summary.
    Hunt(HuntArgs),
    /// Write the ECS documents of the input records as NDJSON (one per record, in input order).
    Normalize(NormalizeArgs),
    /// Work with rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Ad-hoc hunting: run one EQL (default), KQL or ES|QL query over logs and print the matches.
    ///
    /// EQL event queries print matching events; sequences and samples print one object per
    /// match with its events in order ({"sequence": [...]}). ES|QL prints the result rows.
    Query(QueryArgs),
    /// The session-lineage view: every identity, the temporary credentials issued to it (how,
    /// with or without MFA, from where), what each did, and the lineage flags.
    Lineage(LineageArgs),
    /// Can these logs prove lineage? Per account and region: time covered, delivery gaps,
    /// which event kinds are present, sessions with known/unknown/missing issuance, MFA evidence.
    Coverage(CoverageArgs),
    /// Throughput benchmark over a generated corpus, stage by stage (decompress, parse,
    /// normalize, rules, hunt), on 1 core and all cores, with peak memory.
    Bench(crate::bench::BenchArgs),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLang {
    Eql,
    Kql,
    Esql,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFormat {
    Ndjson,
    Table,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The query, e.g. 'iam where event.action == "CreateUser"' or
    /// 'FROM logs-aws.cloudtrail-* | STATS c = COUNT(*) BY event.action' with --lang esql.
    #[arg(value_name = "QUERY")]
    pub query: String,
    #[command(flatten)]
    pub input: InputArgs,
    /// Query language.
    #[arg(long, value_enum, default_value_t = QueryLang::Eql)]
    pub lang: QueryLang,
    /// Output format.
    #[arg(long, value_enum, default_value_t = QueryFormat::Ndjson)]
    pub format: QueryFormat,
    /// No summary on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Log files or folders (walked recursively); `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// MaxMind-format GeoIP (City/Country) or ASN database (GeoLite2, DB-IP, ...); repeatable.
    /// Fills source.geo.* and source.as.* like Elastic's geoip processor.
    #[arg(long = "geoip-db", value_name = "PATH")]
    pub geoip_db: Vec<PathBuf>,
    /// How to read records: `auto` detects CloudTrail vs already-normalized JSON documents per
    /// record, `cloudtrail` requires CloudTrail records, `json` takes documents as they are.
    #[arg(long, value_enum, default_value_t = InputMode::Auto)]
    pub input: InputMode,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    Auto,
    Cloudtrail,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertFormat {
    /// Readable terminal table.
    Table,
    /// One Elastic-shaped alert document per line.
    Ndjson,
    /// Self-contained HTML report.
    Html,
}

#[derive(Args, Debug)]
pub struct HuntArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Rule file or folder (recursively, *.toml); `builtin` names Tripline's embedded pack.
    /// Repeatable. Without it, the built-in pack runs; with it, exactly the named rules run.
    #[arg(long = "rules", value_name = "PATH|builtin")]
    pub rules: Vec<String>,
    /// Output format for alerts.
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    pub format: AlertFormat,
    /// Write alerts to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also keep alerts in this SQLite alert store (deduplicated by alert id).
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// No progress bar and no summary on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Persistent state for stateful rules and analytics (SQLite file). A hunt continues from
    /// the state of the previous run (e.g. yesterday's logs): no duplicate alerts for tuples
    /// already seen, thresholds counted across the boundary. An interrupted hunt (even
    /// kill -9) re-run on the same input with the same state file resumes where it stopped,
    /// with the same alerts.
    ///
    /// Output: alerts are written only once the checkpoint that stores them has committed
    /// (NDJSON at each checkpoint, table and HTML with the report at the end), and are recorded
    /// in the state file as written just before the write. A run killed after a checkpoint but
    /// before that record writes those alerts first when restarted, so over all runs every
    /// alert is written exactly once. The one exception is a kill in the instant between the
    /// record and the write itself (no I/O wait in between): that batch is then missing from
    /// the output, though kept in the state file.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// With --state: commit a checkpoint every N records (default 50000, or every 30 s).
    #[arg(long, value_name = "N", requires = "state")]
    pub checkpoint_every: Option<u64>,
    /// Local exceptions file (TOML or YAML; per rule id): events matching an exception raise
    /// no alert. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub exceptions: Vec<PathBuf>,
    /// Most partial EQL sequences kept per rule; beyond it the oldest are dropped (counted in
    /// the summary as dropped states). Partial sequences also expire by maxspan and until.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_sequence_states: usize,
    /// new_terms rules alert even inside the first history window of the input (by default
    /// they only learn there, since there is no history to compare with).
    #[arg(long)]
    pub no_warmup: bool,
    /// How far (in event time) records may arrive out of order and still be evaluated in
    /// order by stateful rules, e.g. `20m` (CloudTrail delivers up to ~15 minutes late).
    #[arg(long, value_name = "DURATION", default_value = "20m")]
    pub reorder_window: String,
    /// Give detectors whole ECS documents instead of only the fields they read. Slower and
    /// bigger; the alerts are the same. Rules whose fields cannot be known in advance (an
    /// ES|QL `KEEP aws.*`, a KQL field wildcard) get whole documents anyway, for the events
    /// they can match; if such a rule could match every CloudTrail event, projection is off
    /// for the whole hunt and the hunt says so.
    #[arg(long)]
    pub no_projection: bool,
}

#[derive(Args, Debug)]
pub struct NormalizeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Add `event.original` (the raw record), like Elastic's `preserve_original_event` tag.
    #[arg(long)]
    pub keep_original: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Load rule files and report, per rule, ok or the exact reason it cannot run.
    Check(RulesCheckArgs),
    /// Run rules against their test cases (raw CloudTrail records with the expected alert
    /// count): a rule `x.toml` is tested by `tests/x.json` beside it (see the rule pack's README).
    /// Without PATH, tests the built-in pack.
    Test(RulesTestArgs),
}

#[derive(Args, Debug)]
pub struct RulesTestArgs {
    /// Rule files or folders; `builtin` (the default) tests the embedded pack.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Fail when a rule has no test file.
    #[arg(long)]
    pub require_tests: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewFormat {
    Table,
    Ndjson,
    Html,
}

#[derive(Args, Debug)]
pub struct LineageArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Only this identity (principal or issuer ARN).
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,
    /// Only this access key: its credential, its issuance and what it issued.
    #[arg(long, value_name = "ACCESS_KEY_ID")]
    pub key: Option<String>,
    #[arg(long, value_enum, default_value_t = ViewFormat::Table)]
    pub format: ViewFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value_t = ViewFormat::Table)]
    pub format: ViewFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RulesCheckArgs {
    /// Rule files or folders (recursively, *.toml); `builtin` checks the embedded pack.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Print only failures, warnings and the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also validate these local exceptions files (TOML or YAML). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub exceptions: Vec<PathBuf>,
}

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Hunt(a) => crate::hunt::hunt(a),
        Command::Normalize(a) => crate::hunt::normalize(a),
        Command::Rules(RulesCommand::Check(a)) => crate::rulesets::check(a),
        Command::Query(a) => crate::query::query(a),
        Command::Rules(RulesCommand::Test(a)) => crate::rulesets::test(a),
        Command::Lineage(a) => crate::views::lineage(a),
        Command::Coverage(a) => crate::views::coverage(a),
        Command::Bench(a) => crate::bench::bench(a),
    }
}
