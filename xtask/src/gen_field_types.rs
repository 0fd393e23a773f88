//! `cargo xtask gen-field-types [CORPUS] [OUT]`: builds `crates/tripline-doc/data/field-types.tsv`
//! from the published field definitions:
//!
//! 1. ECS (`detection_rules/etc/ecs_schemas/<version>/ecs_flat.json.gz`), multi-fields included;
//! 2. detection-rules' per-index extras (`detection_rules/etc/non-ecs-schema.json`) for the cloud
//!    indices (AWS first, then the other clouds and SaaS audit sources);
//! 3. the CloudTrail integration's own field definitions (`elastic-cloudtrail-pipeline/spec/fields/*.yml`),
//!    which win for `aws.*` fields (and add what ECS lacks) because they are the actual mapping of
//!    `logs-aws.cloudtrail-*`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// One table row: the field's type and its multi-fields (suffix → type).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    ty: String,
    multi: BTreeMap<String, String>,
}

/// Index patterns of `non-ecs-schema.json` whose extra fields we take: the cloud providers' and
/// the SaaS audit sources Elastic's cloud rules query.
const CLOUD_INDEX_MARKERS: &[&str] = &[
    "aws",
    "azure",
    "gcp",
    "o365",
    "okta",
    "google_workspace",
    "github",
    "kubernetes",
];

/// Types the table format accepts (anything else from a source is reported and skipped).
fn known_type(t: &str) -> bool {
    tripline_doc::FieldType::parse(t).is_some()
}

pub fn run(corpus: &Path, out: &Path) -> Result<()> {
    let mut table: BTreeMap<String, Entry> = BTreeMap::new();
    let mut skipped: Vec<String> = Vec::new();

    // 1. ECS.
    let ecs_path = newest_ecs_flat(corpus)?;
    let mut gz = flate2::read::GzDecoder::new(
        std::fs::File::open(&ecs_path)
            .with_context(|| format!("opening {}", ecs_path.display()))?,
    );
    let mut text = String::new();
    gz.read_to_string(&mut text)
        .with_context(|| format!("decompressing {}", ecs_path.display()))?;
    let ecs: serde_json::Map<String, Value> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", ecs_path.display()))?;
    let ecs_count = ecs.len();
    for (name, def) in &ecs {
        let Some(ty) = def.get("type").and_then(Value::as_str) else {
            continue;
        };
        if !known_type(ty) {
            skipped.push(format!("ecs {name}: {ty}"));
            continue;
        }
        let mut multi = BTreeMap::new();
        for mf in def
            .get("multi_fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(n), Some(t)) = (
                mf.get("name").and_then(Value::as_str),
                mf.get("type").and_then(Value::as_str),
            ) {
                if known_type(t) {
                    multi.insert(n.to_string(), t.to_string());
                }
            }
        }
        table.insert(
            name.clone(),
            Entry {
                ty: ty.to_string(),
                multi,
            },
        );
    }

    // 2. Per-index extras for the cloud indices; ECS keeps its own definitions.
    let non_ecs_path = corpus.join("detection-rules/detection_rules/etc/non-ecs-schema.json");
    let non_ecs: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(&non_ecs_path)
            .with_context(|| format!("reading {}", non_ecs_path.display()))?,
    )
    .with_context(|| format!("parsing {}", non_ecs_path.display()))?;
    let mut non_ecs_count = 0;
    // AWS first so that, should two cloud indices disagree, the AWS definition stands.
    let mut indices: Vec<(&String, &Value)> = non_ecs
        .iter()
        .filter(|(k, _)| CLOUD_INDEX_MARKERS.iter().any(|m| k.contains(m)))
        .collect();
    indices.sort_by_key(|(k, _)| (!k.contains("aws"), k.to_string()));
    for (_, fields) in indices {
        let mut flat = Vec::new();
        flatten_non_ecs("", fields, &mut flat);
        for (name, ty) in flat {
            if !known_type(&ty) {
                skipped.push(format!("non-ecs {name}: {ty}"));
                continue;
            }
            if !table.contains_key(&name) {
                table.insert(
                    name,
                    Entry {
                        ty,
                        multi: BTreeMap::new(),
                    },
                );
                non_ecs_count += 1;
            }
        }
    }

    // 3. The CloudTrail integration's fields.
    let fields_dir = corpus.join("elastic-cloudtrail-pipeline/spec/fields");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&fields_dir)
        .with_context(|| format!("listing {}", fields_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    let mut integration_count = 0;
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        let defs: serde_yaml::Value =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
        let mut flat = Vec::new();
        flatten_yaml_fields("", &defs, &mut flat);
        for (name, entry) in flat {
            if !known_type(&entry.ty) {
                skipped.push(format!("integration {name}: {}", entry.ty));
                continue;
            }
            let wins = name.starts_with("aws.") || !table.contains_key(&name);
            if wins {
                table.insert(name, entry);
                integration_count += 1;
            }
        }
    }

    // Leaves under a flattened field are keywords in Elasticsearch whatever a per-index list
    // says; their own rows would only contradict the flattened parent.
    let flattened: Vec<String> = table
        .iter()
        .filter(|(_, e)| e.ty == "flattened")
        .map(|(n, _)| format!("{n}."))
        .collect();
    let before = table.len();
    table.retain(|name, _| !flattened.iter().any(|p| name.starts_with(p.as_str())));
    let under_flattened = before - table.len();

    let mut outtext = String::new();
    outtext.push_str("# Tripline field-type table: name<TAB>type[<TAB>multi-field=type,...]\n");
    outtext.push_str("# Generated by `cargo xtask gen-field-types` from ECS (");
    outtext.push_str(
        &ecs_path
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    outtext.push_str(
        "), detection-rules' non-ECS cloud fields and the AWS CloudTrail integration's fields.\n",
    );
    outtext.push_str("# Data, not code: regenerate instead of editing by hand.\n");
    for (name, e) in &table {
        outtext.push_str(name);
        outtext.push('\t');
        outtext.push_str(&e.ty);
        if !e.multi.is_empty() {
            outtext.push('\t');
            let parts: Vec<String> = e.multi.iter().map(|(k, v)| format!("{k}={v}")).collect();
            outtext.push_str(&parts.join(","));
        }
        outtext.push('\n');
    }
    // Validate with the real parser before writing.
    tripline_doc::FieldTypes::parse_tsv(&outtext).context("generated table does not parse")?;
    std::fs::write(out, &outtext).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} fields to {} (ecs {ecs_count}, non-ecs added {non_ecs_count}, integration {integration_count}, dropped under flattened {under_flattened}, skipped {})",
        table.len(),
        out.display(),
        skipped.len()
    );
    for s in skipped.iter().take(20) {
        println!("  skipped {s}");
    }
    Ok(())
}

/// The ECS flat schema of the highest version present.
fn newest_ecs_flat(corpus: &Path) -> Result<PathBuf> {
    let dir = corpus.join("detection-rules/detection_rules/etc/ecs_schemas");
    let mut versions: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v: Option<Vec<u64>> = name.split('.').map(|p| p.parse().ok()).collect();
            v.map(|v| (v, e.path().join("ecs_flat.json.gz")))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, p)) => Ok(p),
        None => bail!("no ecs_flat.json.gz under {}", dir.display()),
    }
}

/// `non-ecs-schema.json` mixes dotted names and nested objects: `{"a": {"b": "keyword"}}`.
fn flatten_non_ecs(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(t) => {
            if !prefix.is_empty() {
                out.push((prefix.to_string(), t.clone()))
            }
        }
        Value::Object(m) => {
            for (k, child) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_non_ecs(&name, child, out);
            }
        }
        _ => {}
    }
}

/// Beats/integration `fields.yml`: a list of `{name, type, fields?, multi_fields?, external?}`;
/// `type: group` nests its children's names under its own. `external: ecs` entries defer to
/// ECS and are skipped (they carry no type).
fn flatten_yaml_fields(prefix: &str, v: &serde_yaml::Value, out: &mut Vec<(String, Entry)>) {
    let Some(items) = v.as_sequence() else { return };
    for item in items {
        let Some(name) = item.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let full = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let ty = item.get("type").and_then(|t| t.as_str());
        if let Some(children) = item.get("fields") {
            flatten_yaml_fields(&full, children, out);
        }
        match ty {
            None | Some("group") => continue,
            Some(t) => {
                let mut multi = BTreeMap::new();
                for mf in item
                    .get("multi_fields")
                    .and_then(|m| m.as_sequence())
                    .into_iter()
                    .flatten()
                {
                    if let (Some(n), Some(t)) = (
                        mf.get("name").and_then(|x| x.as_str()),
                        mf.get("type").and_then(|x| x.as_str()),
                    ) {
                        if known_type(t) {
                            multi.insert(n.to_string(), t.to_string());
                        }
                    }
                }
                out.push((
                    full,
                    Entry {
                        ty: t.to_string(),
                        multi,
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_groups_nest_names_and_keep_multi_fields() {
        let y: serde_yaml::Value = serde_yaml::from_str(
            "- name: a\n  type: group\n  fields:\n    - name: b\n      type: keyword\n      multi_fields:\n        - name: text\n          type: text\n    - name: c.d\n      type: flattened\n- external: ecs\n  name: source.ip\n",
        )
        .unwrap();
        let mut out = Vec::new();
        flatten_yaml_fields("", &y, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, "a.b");
        assert_eq!(out[0].1.multi.get("text").map(String::as_str), Some("text"));
        assert_eq!(out[1].0, "a.c.d");
        assert_eq!(out[1].1.ty, "flattened");
    }

    #[test]
    fn non_ecs_nested_objects_flatten() {
        let v: Value =
            serde_json::json!({"x.y": "keyword", "e": {"m": {"type": "keyword"}, "n": "long"}});
        let mut out = Vec::new();
        flatten_non_ecs("", &v, &mut out);
        out.sort();
        assert_eq!(
            out,
            vec![
                ("e.m.type".to_string(), "keyword".to_string()),
                ("e.n".to_string(), "long".to_string()),
                ("x.y".to_string(), "keyword".to_string())
            ]
        );
    }
}
