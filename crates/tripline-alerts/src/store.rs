//! The embedded alert store: a SQLite file (WAL mode) with one row per alert, keyed by the
//! alert's stable uuid so re-running a hunt never duplicates alerts.

use std::path::Path;

use rusqlite::{params, Connection};

use crate::Alert;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alert store {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
}

pub struct AlertStore {
    conn: Connection,
    path: String,
}

impl AlertStore {
    pub fn open(path: &Path) -> Result<AlertStore, StoreError> {
        let p = path.display().to_string();
        let err = |source| StoreError::Sqlite {
            path: p.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS alerts (
                uuid TEXT PRIMARY KEY,
                rule_id TEXT NOT NULL,
                rule_name TEXT NOT NULL,
                severity TEXT NOT NULL,
                risk_score INTEGER NOT NULL,
                original_time INTEGER NOT NULL,
                doc TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS alerts_time ON alerts(original_time);
            CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule_id);",
        )
        .map_err(err)?;
        Ok(AlertStore { conn, path: p })
    }

    /// Inserts alerts in one transaction; returns how many were new.
    pub fn insert(&mut self, alerts: &[Alert]) -> Result<usize, StoreError> {
        let p = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: p.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO alerts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(err)?;
            for a in alerts {
                let doc = serde_json::to_string(&a.doc).unwrap_or_default();
                n += stmt
                    .execute(params![
                        a.uuid,
                        a.rule_id,
                        a.rule_name,
                        a.severity,
                        a.risk_score,
                        a.timestamp,
                        doc
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Every stored alert document, oldest first.
    pub fn all_docs(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let mut stmt = self
            .conn
            .prepare("SELECT doc FROM alerts ORDER BY original_time, uuid")
            .map_err(err)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
        let mut out = Vec::new();
        for r in rows {
            let s = r.map_err(err)?;
            if let Ok(v) = serde_json::from_str(&s) {
                out.push(v);
            }
        }
        Ok(out)
    }
}
