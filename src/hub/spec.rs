//! What a model is: a [`ModelSpec`], a local directory or a hub repo id at a revision, parsed
//! from what the user wrote and checked the way `huggingface_hub` checks repo ids and
//! revisions.
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::cache::repo_folder_name;
use super::HubError;

/// The revision used when a repo id names none.
pub const DEFAULT_REVISION: &str = "main";

/// What a model is: a local directory, or a hub repo at a revision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelSpec {
    /// A directory holding the model files directly (`config.json`, weights, ...).
    Dir(PathBuf),
    /// A hub repo id (`org/name` or `name`) at a revision (branch, tag or commit hash).
    Repo { id: String, revision: String },
}

impl ModelSpec {
    /// A hub repo spec; checks the id like `huggingface_hub` does.
    pub fn repo(id: &str, revision: Option<&str>) -> Result<Self, HubError> {
        validate_repo_id(id).map_err(|reason| HubError::InvalidSpec {
            spec: id.to_string(),
            reason,
        })?;
        let revision = revision.unwrap_or(DEFAULT_REVISION);
        validate_revision(revision).map_err(|reason| HubError::InvalidSpec {
            spec: format!("{id}@{revision}"),
            reason,
        })?;
        Ok(ModelSpec::Repo {
            id: id.to_string(),
            revision: revision.to_string(),
        })
    }

    /// The cache folder name Python uses for this repo (`models--org--name`), if a repo.
    pub fn cache_folder_name(&self) -> Option<String> {
        match self {
            ModelSpec::Dir(_) => None,
            ModelSpec::Repo { id, .. } => Some(repo_folder_name(id)),
        }
    }
}

impl FromStr for ModelSpec {
    type Err = HubError;

    /// `org/name`, `org/name@revision`, or a directory. A string is a directory when it
    /// starts with `/`, `.` or `~`, contains a backslash, has more than one `/` before any `@`, or names an
    /// existing directory (like `transformers`, an existing directory wins over a repo id).
    fn from_str(s: &str) -> Result<Self, HubError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(HubError::InvalidSpec {
                spec: s.to_string(),
                reason: "empty model name".to_string(),
            });
        }
        let name = s.split_once('@').map_or(s, |(name, _)| name);
        let looks_like_path = s.starts_with('/')
            || s.starts_with('.')
            || s.starts_with('~')
            || s.contains('\\')
            || name.matches('/').count() > 1;
        if looks_like_path || Path::new(s).is_dir() {
            return Ok(ModelSpec::Dir(PathBuf::from(s)));
        }
        match s.split_once('@') {
            Some((id, revision)) => ModelSpec::repo(id, Some(revision)),
            None => ModelSpec::repo(s, None),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Dir(dir) => write!(f, "{}", dir.display()),
            ModelSpec::Repo { id, revision } if revision == DEFAULT_REVISION => write!(f, "{id}"),
            ModelSpec::Repo { id, revision } => write!(f, "{id}@{revision}"),
        }
    }
}

fn validate_repo_id(id: &str) -> Result<(), String> {
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() > 2 {
        return Err("a repo id is `name` or `org/name`".to_string());
    }
    for part in parts {
        if part.is_empty() || part.len() > 96 {
            return Err("each part of a repo id has 1 to 96 characters".to_string());
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err("a repo id uses only letters, digits, `-`, `_` and `.`".to_string());
        }
        if part.contains("--") || part.contains("..") {
            return Err("`--` and `..` are not allowed in a repo id".to_string());
        }
        if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
            return Err("a repo id part cannot start or end with `-` or `.`".to_string());
        }
    }
    Ok(())
}

fn validate_revision(revision: &str) -> Result<(), String> {
    if revision.is_empty() {
        return Err("empty revision after `@`".to_string());
    }
    if revision
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
        || revision.contains('\\')
        || revision.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(format!("`{revision}` is not a valid revision"));
    }
    Ok(())
}
