//! `run.json`, the manifest of an output directory: the models and settings that made its
//! records, and whether the run finished. A run reads it to refuse mixing records made
//! another way, and writes it before the first record and again, `complete`, at the end;
//! a merge reads the shards' manifests and writes the merged one.
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BriefSettings, PipelineError};
use crate::brief::{Models, Settings};

/// `run.json`: what made the records of an output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: Models,
    pub settings: Settings,
    pub pipeline: BriefSettings,
    /// The translation model's decoding settings as given (its generation_config.json and
    /// the flags; None without translation).
    pub generation: Option<serde_json::Value>,
    /// The same settings resolved: the beams, lengths and token rules every batch decoded
    /// with (None without translation, and in run.json files written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding: Option<serde_json::Value>,
    /// The translation model's dtype (`f32`, `bf16`, …; None without translation): it
    /// changes translations, so records made in another one are not mixed in.
    #[serde(default)]
    pub dtype: Option<String>,
    /// The vocabulary shortlist's digest, when one restricted the translations
    /// (`--shortlist`): it changes them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortlist: Option<String>,
    /// `K/N` for a shard of a run spread over machines.
    pub shard: Option<String>,
    /// Whether the run finished and its briefing was written.
    pub complete: bool,
}

impl Manifest {
    pub const FILE: &'static str = "run.json";

    /// Reads `dir/run.json`; None when there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>, PipelineError> {
        let path = dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PipelineError::Run(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PipelineError::io(&path, e)),
        }
    }

    /// Writes `dir/run.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), PipelineError> {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest serialises");
        json.push('\n');
        Ok(crate::output::write_atomic(
            &dir.join(Self::FILE),
            json.as_bytes(),
        )?)
    }

    /// Makes this the manifest of `dir` for a run starting there: refused when `dir`
    /// holds records (`has_records`) made with other models or settings than these, as
    /// its `run.json` records them.
    pub fn claim(&self, dir: &Path, has_records: bool) -> Result<(), PipelineError> {
        if let Some(old) = Self::read(dir)? {
            let diff = old.differences(self, true);
            if !diff.is_empty() && has_records {
                return Err(PipelineError::Run(format!(
                    "{} holds articles briefed with other {} (see its run.json); pass another \
                     --out, or delete its articles.jsonl and run.json to start over",
                    dir.display(),
                    diff.join(" and ")
                )));
            }
        }
        self.write(dir)
    }

    /// The top-level fields in which `other` differs, `complete` (and `shard`, unless
    /// `with_shard`) aside.
    pub fn differences(&self, other: &Manifest, with_shard: bool) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.models != other.models {
            out.push("models");
        }
        if self.settings != other.settings || self.pipeline != other.pipeline {
            out.push("settings");
        }
        // Resolved settings follow from the given ones and the model; a run.json from before
        // they were recorded has none, and is compared on the given ones alone.
        let resolved_differ = match (&self.decoding, &other.decoding) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        if self.generation != other.generation || resolved_differ {
            out.push("decoding settings");
        }
        if self.dtype != other.dtype {
            out.push("dtype");
        }
        if self.shortlist != other.shortlist {
            out.push("shortlist");
        }
        if with_shard && self.shard != other.shard {
            out.push("shard");
        }
        out
    }
}
