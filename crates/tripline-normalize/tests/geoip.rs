//! GeoIP databases: MaxMind's test databases from the shared corpus (skipped when absent).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tripline_normalize::{GeoIp, GeoIpError};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/maxmind-test-db");
    p.join("GeoLite2-City-Test.mmdb").exists().then_some(p)
}

#[test]
fn city_and_asn_lookups() {
    let Some(dir) = corpus() else { return };
    let g = GeoIp::open(&[
        dir.join("GeoLite2-City-Test.mmdb"),
        dir.join("GeoLite2-ASN-Test.mmdb"),
    ])
    .unwrap();
    let (geo, asn) = g.lookup("89.160.20.112".parse::<IpAddr>().unwrap());
    let geo = geo.expect("geo");
    assert_eq!(geo["city_name"], "Linköping");
    assert_eq!(geo["country_iso_code"], "SE");
    assert_eq!(geo["region_iso_code"], "SE-E");
    assert_eq!(geo["continent_name"], "Europe");
    assert!(geo["location"]["lat"].is_f64());
    let asn = asn.expect("asn");
    assert_eq!(asn["number"], 29518);
    assert_eq!(asn["organization"]["name"], "Bredband2 AB");
    // No answer for a private address.
    assert_eq!(g.lookup("10.0.0.1".parse().unwrap()), (None, None));
}

#[test]
fn country_database_gives_country_fields_only() {
    let Some(dir) = corpus() else { return };
    let g = GeoIp::open(&[dir.join("GeoLite2-Country-Test.mmdb")]).unwrap();
    let (geo, asn) = g.lookup("89.160.20.112".parse().unwrap());
    let geo = geo.expect("geo");
    assert_eq!(geo["country_iso_code"], "SE");
    assert!(geo.get("city_name").is_none());
    assert!(asn.is_none());
}

#[test]
fn unsupported_type_is_an_error_naming_the_file() {
    let Some(dir) = corpus() else { return };
    let p = dir.join("GeoIP2-Anonymous-IP-Test.mmdb");
    match GeoIp::open(std::slice::from_ref(&p)) {
        Err(e @ GeoIpError::Unsupported { .. }) => assert!(
            e.to_string().contains("GeoIP2-Anonymous-IP-Test.mmdb"),
            "{e}"
        ),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn missing_file_is_an_error() {
    let e = GeoIp::open(&[PathBuf::from("/nonexistent/x.mmdb")]).unwrap_err();
    assert!(matches!(e, GeoIpError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/x.mmdb"));
}

#[test]
fn garbage_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.mmdb");
    std::fs::write(&p, b"not a maxmind database at all").unwrap();
    let e = GeoIp::open(&[p]).unwrap_err();
    assert!(e.to_string().contains("junk.mmdb"), "{e}");
}

#[test]
fn broken_databases_never_panic() {
    let Some(dir) = corpus() else { return };
    let mut files = vec![
        dir.join("GeoIP2-City-Test-Broken-Double-Format.mmdb"),
        dir.join("GeoIP2-City-Test-Invalid-Node-Count.mmdb"),
    ];
    if let Ok(rd) = std::fs::read_dir(dir.join("bad-data")) {
        files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
    }
    files.sort();
    let mut rejected = 0;
    for f in &files {
        match GeoIp::open(std::slice::from_ref(f)) {
            Err(e) => {
                rejected += 1;
                let name = f.file_name().unwrap().to_str().unwrap();
                assert!(e.to_string().contains(name), "{e}");
                eprintln!("rejected: {e}");
            }
            Ok(g) => {
                // Accepted (the damage is outside what we read): lookups still must not panic.
                eprintln!("accepted: {}", f.display());
                for ip in ["1.1.1.1", "216.160.83.56", "::1", "2001:db8::1"] {
                    let _ = g.lookup(ip.parse().unwrap());
                }
            }
        }
    }
    assert!(
        rejected >= 2,
        "only {rejected} of {} broken databases rejected",
        files.len()
    );
}
