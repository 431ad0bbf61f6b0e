//! The translation cache: translations kept in an embedded SQLite database, keyed by the
//! model (id and revision), the decoding settings and the sentence text, so a re-run, or a
//! sentence printed by several outlets, costs no model time.
//!
//! SQLite (rusqlite, bundled) gives atomic transactions and survives a crash mid-write: a
//! batch of new translations is stored in one transaction, so the file holds all of it or
//! none.
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::translate::Flag;

/// A translation as the cache keeps it. `flags` holds what is wrong with the text itself;
/// `low_score` depends on the threshold of the run that reads it, so it is worked out from
/// `score` then, never stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cached {
    pub translation: String,
    pub score: f32,
    pub flags: Vec<Flag>,
}

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
#[error("translation cache {path}: {message} (delete the file, or run with --no-cache)")]
pub struct CacheError {
    pub path: PathBuf,
    pub message: String,
}

/// An open translation cache for one model and decoding setup.
pub struct TranslationCache {
    conn: Connection,
    path: PathBuf,
    /// The row of `setups` holding the model id, revision and decoding settings: the part
    /// of every key that is not text, stored once rather than in every row.
    setup: i64,
    pub hits: usize,
    pub misses: usize,
}

impl TranslationCache {
    /// Opens (creating when needed) the cache at `path` for the translation `setup`
    /// (model id, revision and decoding settings, as one string).
    pub fn open(path: &Path, setup: &str) -> Result<Self, CacheError> {
        let fail = |e: &dyn std::fmt::Display| CacheError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let conn = Connection::open(path).map_err(|e| fail(&e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=60000;
             CREATE TABLE IF NOT EXISTS setups (
                 id INTEGER PRIMARY KEY,
                 setup TEXT NOT NULL UNIQUE
             );
             CREATE TABLE IF NOT EXISTS segments (
                 setup INTEGER NOT NULL REFERENCES setups (id),
                 source TEXT NOT NULL,
                 translation TEXT NOT NULL,
                 score REAL NOT NULL,
                 PRIMARY KEY (setup, source)
             ) WITHOUT ROWID;",
        )
        .map_err(|e| fail(&e))?;
        // Caches written before translations carried flags gain the column (their rows
        // were never checked and read as unflagged).
        let has_flags = conn
            .prepare("SELECT 1 FROM pragma_table_info('segments') WHERE name = 'flags'")
            .and_then(|mut s| s.exists([]))
            .map_err(|e| fail(&e))?;
        if !has_flags {
            // Another process opening the same cache may have added it since the check.
            match conn
                .execute_batch("ALTER TABLE segments ADD COLUMN flags TEXT NOT NULL DEFAULT ''")
            {
                Err(e) if !e.to_string().contains("duplicate column") => return Err(fail(&e)),
                _ => {}
            }
        }
        conn.execute("INSERT OR IGNORE INTO setups (setup) VALUES (?1)", [setup])
            .map_err(|e| fail(&e))?;
        let setup = conn
            .query_row("SELECT id FROM setups WHERE setup = ?1", [setup], |r| {
                r.get(0)
            })
            .map_err(|e| fail(&e))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            setup,
            hits: 0,
            misses: 0,
        })
    }

    fn fail(&self, e: rusqlite::Error) -> CacheError {
        CacheError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The cached translation of each segment, or None; counts hits and misses.
    pub fn get(&mut self, segments: &[&str]) -> Result<Vec<Option<Cached>>, CacheError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT translation, score, flags FROM segments WHERE setup = ?1 AND source = ?2",
            )
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(segments.len());
        for s in segments {
            let row = stmt
                .query_row(params![self.setup, s], |r| {
                    let flags: String = r.get(2)?;
                    Ok(Cached {
                        translation: r.get(0)?,
                        score: r.get::<_, f64>(1)? as f32,
                        flags: flags
                            .split(',')
                            .filter_map(|f| {
                                serde_json::from_value(serde_json::Value::String(f.into())).ok()
                            })
                            .collect(),
                    })
                })
                .optional()
                .map_err(|e| self.fail(e))?;
            out.push(row);
        }
        drop(stmt);
        let hits = out.iter().filter(|r| r.is_some()).count();
        self.hits += hits;
        self.misses += out.len() - hits;
        Ok(out)
    }

    /// Stores new translations, all in one transaction: `(source, translation)`. One whose
    /// score is not a number (SQLite would store NaN as NULL) is left out: it is translated
    /// again next time, and never stops the run.
    pub fn put(&mut self, entries: &[(&str, &Cached)]) -> Result<(), CacheError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| CacheError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO segments (setup, source, translation, score, flags)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(fail)?;
            for (source, t) in entries.iter().filter(|(_, t)| t.score.is_finite()) {
                let flags: Vec<&str> = t
                    .flags
                    .iter()
                    .filter(|f| **f != Flag::LowScore)
                    .map(|f| f.as_str())
                    .collect();
                stmt.execute(params![
                    self.setup,
                    source,
                    t.translation,
                    t.score as f64,
                    flags.join(",")
                ])
                .map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_finds_translations_per_setup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.sqlite");
        let mut c = TranslationCache::open(&path, "model-a|beams=4").unwrap();
        assert_eq!(c.get(&["Halo."]).unwrap(), vec![None]);
        let hello = cached("Hello.", -0.25, vec![Flag::Truncated, Flag::LowScore]);
        c.put(&[("Halo.", &hello)]).unwrap();
        drop(c);
        let mut c = TranslationCache::open(&path, "model-a|beams=4").unwrap();
        // The threshold-dependent flag is not stored.
        assert_eq!(
            c.get(&["Halo.", "Lain."]).unwrap(),
            vec![Some(cached("Hello.", -0.25, vec![Flag::Truncated])), None]
        );
        assert_eq!((c.hits, c.misses), (1, 1));
        // Another model or other settings do not see it.
        let mut other = TranslationCache::open(&path, "model-a|beams=1").unwrap();
        assert_eq!(other.get(&["Halo."]).unwrap(), vec![None]);
    }

    fn cached(t: &str, score: f32, flags: Vec<Flag>) -> Cached {
        Cached {
            translation: t.to_string(),
            score,
            flags,
        }
    }

    #[test]
    fn a_score_that_is_not_a_number_never_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = TranslationCache::open(&dir.path().join("c.sqlite"), "m").unwrap();
        let nan = cached("Hello.", f32::NAN, vec![Flag::LowScore]);
        let ok = cached("World.", -0.5, vec![]);
        c.put(&[("Halo.", &nan), ("Dunia.", &ok)]).unwrap();
        assert_eq!(c.get(&["Halo.", "Dunia."]).unwrap(), vec![None, Some(ok)]);
    }

    #[test]
    fn a_cache_from_before_flags_is_opened_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE setups (id INTEGER PRIMARY KEY, setup TEXT NOT NULL UNIQUE);
             CREATE TABLE segments (setup INTEGER NOT NULL REFERENCES setups (id),
                 source TEXT NOT NULL, translation TEXT NOT NULL, score REAL NOT NULL,
                 PRIMARY KEY (setup, source)) WITHOUT ROWID;
             INSERT INTO setups (id, setup) VALUES (1, 'm');
             INSERT INTO segments VALUES (1, 'Halo.', 'Hello.', -0.25);",
        )
        .unwrap();
        drop(conn);
        let mut c = TranslationCache::open(&path, "m").unwrap();
        assert_eq!(
            c.get(&["Halo."]).unwrap(),
            vec![Some(cached("Hello.", -0.25, vec![]))]
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        std::fs::write(&path, b"this is not sqlite at all, just text that goes on").unwrap();
        let err = TranslationCache::open(&path, "m")
            .err()
            .expect("an error")
            .to_string();
        assert!(
            err.contains("cache.sqlite") && err.contains("--no-cache"),
            "{err}"
        );
    }
}
