//! Differential test of the hot path (issue 9): the optimized evaluation (rule index by
//! `event.provider` / `event.action`, projected documents holding only the fields the rules
//! read, reused buffers, raw-bytes normalization) raises exactly the alerts of the plain one,
//! where every detector sees every event as a whole ECS document. Alerts are compared whole
//! (uuid, rule and a digest of the entire alert document).
//!
//! Data: a corpus from `tripline-gen` (S3 layout, gzipped, several accounts and regions
//! interleaved, attack scenarios every 1,000 records). Rules: a few of our own, written here
//! (indexed and unindexed, stateless and stateful), the built-in pack with the session-lineage
//! analytic, plus every rule of Elastic's corpus (all clouds) when `../shared/corpus` is present. Both runs go through `tripline bench --child hunt`,
//! which drives the same pipeline, runner and alert builder as `tripline hunt`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every rule of the corpus, all clouds: rules over other datasets must not change what
/// CloudTrail raises, nor turn projection off.
const CORPUS_RULES: &str = "../../../shared/corpus/detection-rules/rules";

fn write_own_rules(dir: &Path) {
    let common = "severity='medium'\nrisk_score=47\ndescription='differential test rule'\nindex=['logs-aws.cloudtrail-*']\n";
    let rules = [
        // Indexed by provider and action.
        (
            "iam_users.toml",
            "[rule]\nrule_id='diff-1'\nname='IAM user or key created'\ntype='query'\nlanguage='kuery'\n\
             query='event.dataset:aws.cloudtrail and event.provider:iam.amazonaws.com and event.action:(CreateUser or CreateAccessKey or AttachUserPolicy)'\n",
        ),
        // No provider or action: every event is a candidate.
        (
            "failures.toml",
            "[rule]\nrule_id='diff-2'\nname='Failed call'\ntype='query'\nlanguage='kuery'\nmax_signals=100000\n\
             query='event.dataset:aws.cloudtrail and event.outcome:failure'\n",
        ),
        // Action only (no provider): the action filter on unindexed detectors.
        (
            "trail.toml",
            "[rule]\nrule_id='diff-3'\nname='Trail tampering'\ntype='query'\nlanguage='kuery'\n\
             query='event.action:(StopLogging or DeleteTrail or UpdateTrail or PutEventSelectors)'\n",
        ),
        // Stateful, indexed by provider.
        (
            "new_terms.toml",
            "[rule]\nrule_id='diff-4'\nname='New STS call for a user'\ntype='new_terms'\nlanguage='kuery'\n\
             query='event.dataset:aws.cloudtrail and event.provider:sts.amazonaws.com'\n\
             [rule.new_terms]\nfield='new_terms_fields'\nvalue=['user.name','event.action']\n\
             [[rule.new_terms.history_window_start]]\nfield='history_window_start'\nvalue='now-30m'\n",
        ),
        (
            "threshold.toml",
            "[rule]\nrule_id='diff-5'\nname='Many denied calls from one address'\ntype='threshold'\nlanguage='kuery'\n\
             query='event.dataset:aws.cloudtrail and event.outcome:failure'\nfrom='now-10m'\ninterval='5m'\n\
             [rule.threshold]\nfield=['source.ip']\nvalue=3\n",
        ),
        // EQL sequence across two actions (required actions = the union of its steps).
        (
            "sequence.toml",
            "[rule]\nrule_id='diff-6'\nname='User created then given a policy'\ntype='eql'\nlanguage='eql'\n\
             query='''sequence by cloud.account.id with maxspan=30m [any where event.action == \"CreateUser\"] [any where event.action == \"AttachUserPolicy\"]'''\n",
        ),
        // ES|QL keeping columns by wildcard: it cannot list its fields, so under projection
        // the runner gives it whole documents (indexed: it sees only IAM events).
        (
            "esql_keep.toml",
            "[rule]\nrule_id='diff-7'\nname='IAM user created (ES|QL)'\ntype='esql'\nlanguage='esql'\nfrom='now-9m'\ninterval='5m'\n\
             query='''FROM logs-aws.cloudtrail-* METADATA _id, _version, _index | WHERE event.provider == \"iam.amazonaws.com\" AND event.action == \"CreateUser\" | KEEP _id, _version, _index, @timestamp, aws.*, event.*, user.*'''\n",
        ),
    ];
    for (name, body) in rules {
        std::fs::write(dir.join(name), format!("{body}{common}")).unwrap();
    }
}

fn run(corpus: &Path, rules: &[String], plain: bool, out: &Path) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tripline"));
    cmd.args([
        "bench",
        "--child",
        "hunt",
        "--threads",
        "2",
        "--records",
        "6000",
        "--corpus",
    ])
    .arg(corpus);
    for r in rules {
        cmd.args(["--rules", r]);
    }
    if plain {
        cmd.arg("--plain");
    }
    cmd.arg("--alerts-out").arg(out);
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "tripline bench failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn alerts(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn indexed_evaluation_raises_exactly_the_alerts_of_plain_evaluation() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus: PathBuf = tmp.path().join("corpus");
    let cfg = tripline_gen::GenConfig {
        seed: 11,
        records: 6_000,
        attack_every: 1_000,
        min_per_file: 200,
        max_per_file: 600,
        mean_gap_ms: 1000.0,
        ..Default::default()
    };
    let s = tripline_gen::write_s3_corpus(&corpus, &cfg).unwrap();
    assert!(s.files > 5 && s.attacks >= 5, "{s:?}");
    std::fs::write(corpus.join(".complete"), "test corpus\n").unwrap();

    let own = tmp.path().join("rules");
    std::fs::create_dir_all(&own).unwrap();
    write_own_rules(&own);
    // The built-in pack brings the session-lineage analytic (unindexed, stateful).
    let mut rules = vec![own.display().to_string(), "builtin".to_string()];
    let aws = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS_RULES);
    let with_corpus = aws.is_dir();
    if with_corpus {
        rules.push(aws.display().to_string());
    } else {
        eprintln!("{} absent: only the test's own rules", aws.display());
    }

    let (fast_out, plain_out) = (tmp.path().join("fast.txt"), tmp.path().join("plain.txt"));
    let fast = run(&corpus, &rules, false, &fast_out);
    let plain = run(&corpus, &rules, true, &plain_out);
    assert_eq!(fast["records"], 6_000);
    assert_eq!(fast["rules"], plain["rules"]);
    // The fast run really is projected, the plain one really is not.
    assert!(fast["projected_fields"].as_u64().unwrap() > 20, "{fast}");
    assert_eq!(plain["projected_fields"], 0);
    if with_corpus {
        assert!(
            fast["rules"].as_u64().unwrap() > 500,
            "corpus rules not loaded: {fast}"
        );
    }
    let (a, b) = (alerts(&fast_out), alerts(&plain_out));
    // Meaningful only if rules fire: every one of our own rules must raise something.
    for id in [
        "diff-1", "diff-2", "diff-3", "diff-4", "diff-5", "diff-6", "diff-7",
    ] {
        assert!(
            b.iter().any(|l| l.ends_with(&format!(" {id}"))),
            "rule {id} raised no alert in the plain run"
        );
    }
    if a != b {
        let only_fast: Vec<&String> = a.iter().filter(|x| !b.contains(x)).take(10).collect();
        let only_plain: Vec<&String> = b.iter().filter(|x| !a.contains(x)).take(10).collect();
        panic!("alerts differ: {} indexed vs {} plain; only indexed: {only_fast:?}; only plain: {only_plain:?}", a.len(), b.len());
    }
}
