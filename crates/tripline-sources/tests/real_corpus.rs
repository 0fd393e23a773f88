//! Reads every file of the real CloudTrail corpus (`../shared/corpus/real-cloudtrail`, outside
//! the repository) and checks the record counts its README documents. Skips (passes) when the
//! corpus is absent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tripline_sources::{
    discover, read_input, ErrorKind, Format, Input, Item, ReadOptions, RecordKind,
};

fn corpus() -> Option<PathBuf> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/real-cloudtrail");
    p.is_dir().then_some(p)
}

#[derive(Default, Debug)]
struct Tally {
    files: u64,
    records: u64,
    cloudtrail: u64,
    errors: BTreeMap<String, u64>,
    formats: BTreeMap<String, u64>,
}

#[test]
fn reads_the_whole_real_corpus() {
    let Some(root) = corpus() else {
        eprintln!("real-cloudtrail corpus absent: skipped");
        return;
    };
    let found = discover(std::slice::from_ref(&root));
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    let mut by_set: BTreeMap<String, Tally> = BTreeMap::new();
    let opts = ReadOptions::default();
    for input in &found.inputs {
        let Input::File(path) = input else {
            unreachable!()
        };
        let rel = path.strip_prefix(&root).unwrap();
        let set = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let t = by_set.entry(set).or_default();
        t.files += 1;
        let mut cloudtrail = 0;
        let mut errors = Vec::new();
        let stats = read_input(input, &opts, &mut |item| match item {
            Item::Record(r) => {
                assert!(r.value.is_object());
                assert!(r.origin.record >= 1);
                if r.kind == RecordKind::CloudTrail {
                    cloudtrail += 1;
                }
            }
            Item::Error(e) => errors.push(e),
        });
        t.records += stats.records;
        t.cloudtrail += cloudtrail;
        *t.formats.entry(format!("{:?}", stats.format)).or_default() += 1;
        for e in &errors {
            assert!(
                e.to_string().contains(&*path.to_string_lossy()),
                "error does not name its file: {e}"
            );
            *t.errors.entry(e.kind().to_string()).or_default() += 1;
            eprintln!("  {e}");
        }
        // Only the documentation files and the zip are not CloudTrail.
        let name = rel.to_string_lossy();
        if name.ends_with(".zip") {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].kind, ErrorKind::Unsupported);
            assert!(errors[0].message.contains("zip archive"));
        } else if name.ends_with(".md") || name.ends_with("LICENSE") {
            assert_eq!(
                (errors.len(), stats.format),
                (1, Format::Unreadable),
                "{name}"
            );
        } else {
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }
    for (set, t) in &by_set {
        eprintln!("{set}: {t:?}");
    }
    // Record counts documented in the corpus README (counted there with python).
    let expect = [
        ("invictus-ir-aws-dataset", 2_900),
        ("sans-504-s3-ransomware-lab", 30_477),
        ("stratus-red-team-detonation-logs", 312),
    ];
    for (set, n) in expect {
        let t = &by_set[set];
        assert_eq!(t.records, n, "{set}");
        assert_eq!(t.cloudtrail, n, "{set}: every record is CloudTrail");
    }
}

/// The Datadog export inside the zip, extracted: three files parse; the fourth has two
/// records with no comma between them, which is reported and read past.
#[test]
fn datadog_exports_inside_the_zip() {
    let Some(root) = corpus() else { return };
    let zip = root.join("cloudtrail2sightings/cloudtrail.zip");
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(dir.path())
        .status();
    if !matches!(ok, Ok(s) if s.success()) {
        eprintln!("no unzip here: skipped");
        return;
    }
    let found = discover(&[dir.path().to_path_buf()]);
    assert_eq!(found.inputs.len(), 4);
    let mut records = 0;
    let mut errors = Vec::new();
    for input in &found.inputs {
        read_input(input, &ReadOptions::default(), &mut |item| match item {
            Item::Record(r) => {
                assert_eq!(r.kind, RecordKind::CloudTrail);
                records += 1;
            }
            Item::Error(e) => errors.push(e),
        });
    }
    for e in &errors {
        eprintln!("{e}");
    }
    // The README counts 12 records in the three files that parse; the malformed file's
    // three records (two missing commas, the first at line 112) are recovered too.
    assert_eq!(records, 15);
    assert_eq!(errors.len(), 2, "{errors:?}");
    for e in &errors {
        assert_eq!(e.kind, ErrorKind::MalformedJson);
        assert!(e.file.ends_with("aws.execution.ec2-user-data.json"));
        assert!(e.message.contains("missing ','"));
    }
    assert_eq!(errors[0].position.line, Some(112), "{}", errors[0]);
}
