//! GeoIP and ASN enrichment of `source.ip`, as Elasticsearch's `geoip` processor does it with
//! its default properties: City/Country databases fill `source.geo.*`, ASN (or ISP) databases
//! fill `source.as.*`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use maxminddb::{MaxMindDBError, Reader};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot read GeoIP database {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("GeoIP database {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("GeoIP database {path} has unsupported type {database_type:?} (expected a City, Country, ASN or ISP database)")]
    Unsupported {
        path: PathBuf,
        database_type: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    City,
    Country,
    Asn,
    Isp,
}

struct Db {
    kind: Kind,
    reader: Reader<Vec<u8>>,
}

/// A set of opened MaxMind-format databases.
pub struct GeoIp {
    id: u64,
    geo: Vec<Db>,
    asn: Vec<Db>,
    files: Vec<(PathBuf, String)>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("files", &self.files).finish()
    }
}

// Only the English names are read (the processor's default locale), which keeps decoding cheap.
#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize, Default)]
struct CityRec<'a> {
    #[serde(borrow)]
    city: Option<Named<'a>>,
    #[serde(borrow)]
    continent: Option<Named<'a>>,
    #[serde(borrow)]
    country: Option<Named<'a>>,
    location: Option<Location>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Named<'a>>>,
}

#[derive(Deserialize, Default)]
struct AsnRec<'a> {
    autonomous_system_number: Option<u64>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

fn name<'a>(n: &Option<Named<'a>>) -> Option<&'a str> {
    n.as_ref()?.names.as_ref()?.en
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Cap on the networks decoded when a database is opened (all of a test database, a sample of
/// a production one), so corrupt data is reported up front rather than per lookup.
const VERIFY_LIMIT: usize = 20_000;

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "reader panicked".to_string()
    }
}

fn verify(path: &Path, db: &Db, len: u64) -> Result<(), GeoIpError> {
    let invalid = |message: String| GeoIpError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let m = &db.reader.metadata;
    if !matches!(m.record_size, 24 | 28 | 32) {
        return Err(invalid(format!(
            "record size {} (expected 24, 28 or 32)",
            m.record_size
        )));
    }
    if !matches!(m.ip_version, 4 | 6) {
        return Err(invalid(format!(
            "IP version {} (expected 4 or 6)",
            m.ip_version
        )));
    }
    let tree = m.node_count as u64 * m.record_size as u64 / 4;
    if tree + 16 > len {
        return Err(invalid(format!(
            "search tree of {} nodes does not fit in the file ({len} bytes)",
            m.node_count
        )));
    }
    let net: ipnetwork::IpNetwork = if m.ip_version == 6 {
        ipnetwork::IpNetwork::V6("::/0".parse().expect("net"))
    } else {
        ipnetwork::IpNetwork::V4("0.0.0.0/0".parse().expect("net"))
    };
    let walk = || -> Result<(), MaxMindDBError> {
        match db.kind {
            Kind::City | Kind::Country => {
                for item in db.reader.within::<CityRec>(net)?.take(VERIFY_LIMIT) {
                    item?;
                }
            }
            Kind::Asn | Kind::Isp => {
                for item in db.reader.within::<AsnRec>(net)?.take(VERIFY_LIMIT) {
                    item?;
                }
            }
        }
        Ok(())
    };
    match catch_unwind(AssertUnwindSafe(walk)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(invalid(e.to_string())),
        Err(p) => Err(invalid(panic_message(p))),
    }
}

/// `(source.geo, source.as)`.
type Lookup = (Option<Value>, Option<Value>);

thread_local! {
    static CACHE: RefCell<HashMap<(u64, IpAddr), Option<Lookup>>> = RefCell::new(HashMap::new());
}

const CACHE_MAX: usize = 65_536;

impl GeoIp {
    /// Opens each database (City, Country, ASN or ISP, told apart by their `database_type`
    /// metadata). Any file that cannot be read, is corrupt, or is of another type is an error
    /// naming it.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp, GeoIpError> {
        let mut g = GeoIp {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            geo: Vec::new(),
            asn: Vec::new(),
            files: Vec::new(),
        };
        for p in paths {
            let buf = std::fs::read(p).map_err(|e| GeoIpError::Read {
                path: p.clone(),
                message: e.to_string(),
            })?;
            let len = buf.len() as u64;
            let reader = match catch_unwind(AssertUnwindSafe(|| Reader::from_source(buf))) {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    return Err(GeoIpError::Invalid {
                        path: p.clone(),
                        message: e.to_string(),
                    })
                }
                Err(panic) => {
                    return Err(GeoIpError::Invalid {
                        path: p.clone(),
                        message: panic_message(panic),
                    })
                }
            };
            let t = reader.metadata.database_type.clone();
            let kind = if t.contains("City") {
                Kind::City
            } else if t.contains("Country") {
                Kind::Country
            } else if t.contains("ASN") {
                Kind::Asn
            } else if t.contains("ISP") {
                Kind::Isp
            } else {
                return Err(GeoIpError::Unsupported {
                    path: p.clone(),
                    database_type: t,
                });
            };
            let db = Db { kind, reader };
            verify(p, &db, len)?;
            g.files.push((p.clone(), t));
            match kind {
                Kind::City | Kind::Country => g.geo.push(db),
                Kind::Asn | Kind::Isp => g.asn.push(db),
            }
        }
        Ok(g)
    }

    /// The opened files and their database types.
    pub fn files(&self) -> &[(PathBuf, String)] {
        &self.files
    }

    /// `source.geo` and `source.as` objects for an address (each `None` when no database has
    /// an answer). Results are cached per thread.
    pub fn lookup(&self, ip: IpAddr) -> (Option<Value>, Option<Value>) {
        let key = (self.id, ip);
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
            return hit.unwrap_or((None, None));
        }
        let res = (self.lookup_geo(ip), self.lookup_as(ip));
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(key, Some(res.clone()));
        });
        res
    }

    fn lookup_geo(&self, ip: IpAddr) -> Option<Value> {
        for db in &self.geo {
            let rec = catch_unwind(AssertUnwindSafe(|| db.reader.lookup::<CityRec>(ip)));
            let Ok(Ok(rec)) = rec else { continue };
            let mut m = Map::new();
            if let Some(v) = name(&rec.continent) {
                m.insert("continent_name".into(), v.into());
            }
            let country_iso = rec.country.as_ref().and_then(|c| c.iso_code);
            if let Some(v) = name(&rec.country) {
                m.insert("country_name".into(), v.into());
            }
            if let Some(v) = country_iso {
                m.insert("country_iso_code".into(), v.into());
            }
            if db.kind == Kind::City {
                // The most specific subdivision is the last one.
                let sub = rec.subdivisions.as_ref().and_then(|s| s.last());
                if let (Some(c), Some(s)) = (country_iso, sub.and_then(|s| s.iso_code)) {
                    m.insert("region_iso_code".into(), format!("{c}-{s}").into());
                }
                if let Some(v) = sub.and_then(|s| s.names.as_ref()).and_then(|n| n.en) {
                    m.insert("region_name".into(), v.into());
                }
                if let Some(v) = name(&rec.city) {
                    m.insert("city_name".into(), v.into());
                }
                if let Some(Location {
                    latitude: Some(lat),
                    longitude: Some(lon),
                }) = rec.location
                {
                    let mut l = Map::new();
                    l.insert("lat".into(), lat.into());
                    l.insert("lon".into(), lon.into());
                    m.insert("location".into(), Value::Object(l));
                }
            }
            if m.is_empty() {
                return None;
            }
            return Some(Value::Object(m));
        }
        None
    }

    fn lookup_as(&self, ip: IpAddr) -> Option<Value> {
        for db in &self.asn {
            let rec = catch_unwind(AssertUnwindSafe(|| db.reader.lookup::<AsnRec>(ip)));
            let Ok(Ok(rec)) = rec else { continue };
            let mut m = Map::new();
            if let Some(n) = rec.autonomous_system_number {
                m.insert("number".into(), n.into());
            }
            if let Some(o) = rec.autonomous_system_organization {
                let mut org = Map::new();
                org.insert("name".into(), o.into());
                m.insert("organization".into(), Value::Object(org));
            }
            if m.is_empty() {
                return None;
            }
            return Some(Value::Object(m));
        }
        None
    }
}
