//! ES|QL `ENRICH` served from the `--geoip-db` databases: the built-in `geoip` policy reads
//! the City/Country databases, `asn` the ASN/ISP ones (field names in
//! `tripline_esql::enrich`).

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value};
use tripline_esql::EnrichSource;
use tripline_normalize::GeoIp;

pub struct GeoIpEnrich {
    db: Arc<GeoIp>,
    has_geo: bool,
    has_asn: bool,
}

/// The enrich source over opened databases (what a policy has depends on their types).
pub fn source(db: Arc<GeoIp>) -> Arc<dyn EnrichSource> {
    let types = db.files().iter().map(|(_, t)| t.as_str());
    let (mut has_geo, mut has_asn) = (false, false);
    for t in types {
        // The same classification GeoIp::open makes from `database_type`.
        has_geo |= t.contains("City") || t.contains("Country");
        has_asn |= !(t.contains("City") || t.contains("Country"))
            && (t.contains("ASN") || t.contains("ISP"));
    }
    Arc::new(GeoIpEnrich {
        db,
        has_geo,
        has_asn,
    })
}

impl EnrichSource for GeoIpEnrich {
    fn has(&self, policy: &str) -> bool {
        match policy {
            "geoip" => self.has_geo,
            "asn" => self.has_asn,
            _ => false,
        }
    }

    fn lookup(&self, policy: &str, ip: IpAddr) -> Option<Map<String, Value>> {
        let (geo, asn) = self.db.lookup(ip);
        // `source.geo` holds the geoip policy's fields, `source.as` the asn policy's (nested,
        // without the `as.` prefix, which the ES|QL side accepts).
        let v = match policy {
            "geoip" => geo,
            "asn" => asn,
            _ => None,
        };
        match v? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn test_db(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/maxmind-test-db")
            .join(name);
        p.is_file().then_some(p)
    }

    /// End to end over MaxMind's published test databases (skipped without the corpus):
    /// the expected values are read from the databases themselves through the normalizer's
    /// lookup, then compared with what ENRICH puts in the columns.
    #[test]
    fn enrich_over_maxmind_test_databases() {
        let (Some(city), Some(asn)) = (
            test_db("GeoLite2-City-Test.mmdb"),
            test_db("GeoLite2-ASN-Test.mmdb"),
        ) else {
            eprintln!("skipped: MaxMind test databases absent");
            return;
        };
        let db = Arc::new(GeoIp::open(&[city.clone(), asn.clone()]).unwrap());
        let ip: IpAddr = "89.160.20.128".parse().unwrap();
        let (geo, as_) = db.lookup(ip);
        let geo = geo.expect("test address known to the City database");
        let as_ = as_.expect("test address known to the ASN database");
        assert_eq!(geo["country_iso_code"], "SE");
        assert_eq!(geo["city_name"], "Linköping");
        assert_eq!(as_["number"], 29518);

        let src = source(db);
        assert!(src.has("geoip") && src.has("asn") && !src.has("other"));
        let evs: Vec<tripline_doc::SharedEvent> = ["89.160.20.128", "10.0.0.1"]
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                let doc = serde_json::json!({"data_stream": {"dataset": "aws.cloudtrail"}, "source": {"ip": ip}});
                Arc::new(tripline_doc::Event {
                    doc: tripline_doc::Document(doc.as_object().cloned().unwrap()),
                    timestamp: 0,
                    origin: tripline_doc::Origin { file: "t".into(), record: i as u64, line: None },
                    seq: i as u64,
                })
            })
            .collect();
        let q = tripline_esql::Query::parse(
            "FROM logs-aws.cloudtrail-* | ENRICH geoip ON source.ip | ENRICH asn WITH asn = as.number, org = as.organization.name \
             | KEEP source.ip, city_name, country_iso_code, region_iso_code, location, asn, org",
        )
        .unwrap();
        let t = q
            .execute(
                &evs,
                &tripline_esql::ExecContext::at(0).with_enrich(Some(src)),
            )
            .unwrap();
        let row = t.row_object(0);
        assert_eq!(row["city_name"], geo["city_name"]);
        assert_eq!(row["country_iso_code"], geo["country_iso_code"]);
        assert_eq!(row["region_iso_code"], geo["region_iso_code"]);
        let loc = &geo["location"];
        assert_eq!(
            t.get(0, "location"),
            Some(&tripline_esql::Value::GeoPoint(
                loc["lon"].as_f64().unwrap(),
                loc["lat"].as_f64().unwrap()
            ))
        );
        assert_eq!(row["asn"], as_["number"]);
        assert_eq!(row["org"], as_["organization"]["name"]);
        // A private address is in neither database: only the match column is set.
        assert_eq!(t.row_object(1).len(), 1, "{:?}", t.row_object(1));

        // Only a City database: the asn policy has no data.
        let geo_only = source(Arc::new(GeoIp::open(&[city]).unwrap()));
        assert!(geo_only.has("geoip") && !geo_only.has("asn"));
        let asn_only = source(Arc::new(GeoIp::open(&[asn]).unwrap()));
        let e = q
            .execute(
                &evs,
                &tripline_esql::ExecContext::at(0).with_enrich(Some(asn_only)),
            )
            .unwrap_err();
        assert!(e.message.contains("City or Country"), "{e}");
    }
}
