//! `models.toml` read once into typed settings.
//!
//! This is the only reader of that file. The file names the default model set: which
//! translation checkpoint, which embedding model and which summariser warta uses. The command
//! line picks the file (`--models PATH`, else `./models.toml` when present, else the copy built
//! into the binary) and everything downstream receives a [`ModelsConfig`], never the file.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The repo's own `models.toml`, built into the binary so a bare `warta` works anywhere.
pub const BUILTIN_MODELS_TOML: &str = include_str!("../models.toml");

/// Where a [`ModelsConfig`] came from, for logs and provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltIn,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::BuiltIn => write!(f, "the built-in models.toml"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} is not a valid models file: {message}")]
    Parse { origin: String, message: String },
}

/// The whole model set, as typed settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// None in a file for `warta summarize` alone, which translates nothing.
    #[serde(default)]
    pub translation: Option<TranslationSection>,
    #[serde(default)]
    pub embedding: EmbeddingSection,
    #[serde(default)]
    pub summarizer: SummarizerSection,
    #[serde(default)]
    pub citation: CitationSection,
}

/// How citations are checked: by embedding similarity, or by an NLI cross-encoder when
/// `nli` names one.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CitationSection {
    #[serde(default)]
    pub nli: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TranslationSection {
    /// Hub repo id (`org/name` or `org/name@revision`) or a local directory.
    pub model: String,
    /// Revision for a hub repo id; `@revision` in `model` wins over this.
    #[serde(default)]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSection {
    pub model: String,
    #[serde(default)]
    pub revision: Option<String>,
}

impl Default for EmbeddingSection {
    fn default() -> Self {
        Self {
            model: "sentence-transformers/all-MiniLM-L6-v2".into(),
            revision: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SummarizerKind {
    #[default]
    Extractive,
    Llm,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SummarizerSection {
    #[serde(default)]
    pub kind: SummarizerKind,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
}

impl Default for SummarizerSection {
    fn default() -> Self {
        Self {
            kind: SummarizerKind::Extractive,
            model: None,
            revision: None,
        }
    }
}

impl ModelsConfig {
    /// Parses the text of a models file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn builtin() -> Self {
        // The built-in file is tested (`builtin_models_toml_parses`); a parse failure here
        // would be a build defect, not bad input.
        Self::parse(BUILTIN_MODELS_TOML, "the built-in models.toml")
            .expect("the built-in models.toml parses")
    }

    /// The lookup order of every subcommand: `--models PATH`, else `./models.toml` in `cwd`
    /// when present, else the built-in file.
    pub fn locate(
        explicit: Option<&Path>,
        cwd: &Path,
    ) -> Result<(Self, ConfigSource), ConfigError> {
        if let Some(path) = explicit {
            return Ok((
                Self::from_file(path)?,
                ConfigSource::File(path.to_path_buf()),
            ));
        }
        let local = cwd.join("models.toml");
        if local.is_file() {
            return Ok((Self::from_file(&local)?, ConfigSource::File(local)));
        }
        Ok((Self::builtin(), ConfigSource::BuiltIn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_models_toml_parses() {
        let cfg = ModelsConfig::builtin();
        assert_eq!(
            cfg.translation.as_ref().unwrap().model,
            "Helsinki-NLP/opus-mt-id-en"
        );
        assert_eq!(cfg.summarizer.kind, SummarizerKind::Extractive);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_origin() {
        let err = ModelsConfig::parse("[translation]\nmodle = \"x\"\n", "my.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("my.toml"), "{msg}");
        assert!(msg.contains("modle"), "{msg}");
    }

    #[test]
    fn local_file_wins_over_builtin_and_explicit_wins_over_local() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("models.toml"),
            "[translation]\nmodel = \"a/b\"\n",
        )
        .unwrap();
        let (cfg, src) = ModelsConfig::locate(None, dir.path()).unwrap();
        assert_eq!(cfg.translation.as_ref().unwrap().model, "a/b");
        assert_eq!(src, ConfigSource::File(dir.path().join("models.toml")));
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "[translation]\nmodel = \"c/d\"\n").unwrap();
        let (cfg, _) = ModelsConfig::locate(Some(&other), dir.path()).unwrap();
        assert_eq!(cfg.translation.as_ref().unwrap().model, "c/d");
        let empty = tempfile::tempdir().unwrap();
        let (_, src) = ModelsConfig::locate(None, empty.path()).unwrap();
        assert_eq!(src, ConfigSource::BuiltIn);
    }
}
