//! The one model resolver: a model spec (a local directory, or a hub repo id with an optional
//! revision) turned into local file paths.
//!
//! It exists so that exactly one place knows where model files live. Hub repos use the very
//! cache Python's `huggingface_hub` uses (`$HF_HUB_CACHE`, default `$HF_HOME/hub`, default
//! `~/.cache/huggingface/hub`) with its layout, so a cache filled by Python is found here and a
//! cache filled here is found by Python:
//!
//! ```text
//! models--Helsinki-NLP--opus-mt-id-en/
//!   blobs/<etag>                                   the file contents, named by their etag
//!   refs/main                                      the commit hash `main` points to (no newline)
//!   snapshots/<commit>/config.json -> ../../blobs/<etag>
//!   .no_exist/<commit>/model.safetensors           empty: "this file is not in the repo"
//! ```
//!
//! Settings are resolved once, by [`HubSettings::from_env`] (the only reader of the `HF_*`
//! variables); everything downstream receives a [`HubSettings`]. Downloads go through the
//! `hf-hub` crate (0.4, blocking `ureq` client): it writes a `.part` file next to the blob and
//! renames it into place, so nothing half-written is ever visible under `snapshots/`, and it
//! links `snapshots/<commit>/<file>` to `../../blobs/<etag>` exactly as Python does. This module
//! adds what `hf-hub` lacks: `HF_HUB_CACHE`/`HF_TOKEN`/`HF_HUB_OFFLINE`, revisions given as
//! commit hashes, `.no_exist` markers, falling back to the cache when the hub is unreachable,
//! and one error per failure that says which repo, revision and file, and how to fix it.
//!
//! Resolution reads the cache first and touches the network only when a needed file is not
//! cached (or, for optional files and weight formats, when the cache cannot tell whether the
//! repo has them); [`fetch`] always asks the hub which commit the revision points to now.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where the hub is when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The revision used when a repo id names none.
pub const DEFAULT_REVISION: &str = "main";

/// Weight files in order of preference; index files list shards of the format before them.
pub const WEIGHT_CANDIDATES: [&str; 4] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

/// Hub settings, resolved once from the environment (or built by hand in tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub cache_dir: PathBuf,
    /// `$HF_ENDPOINT` without trailing slashes, else [`DEFAULT_ENDPOINT`].
    pub endpoint: String,
    /// `$HF_TOKEN`, else the token file (`$HF_TOKEN_PATH`, else `$HF_HOME/token`).
    pub token: Option<String>,
    /// `$HF_HUB_OFFLINE` (or the legacy `$TRANSFORMERS_OFFLINE`) is 1/ON/YES/TRUE.
    pub offline: bool,
    /// Draw a download progress bar on stderr (off when `$HF_HUB_DISABLE_PROGRESS_BARS` is true).
    pub progress: bool,
}

impl HubSettings {
    /// Settings from the process environment. The only place that reads the `HF_*` variables.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Settings from any variable lookup (tests pass a map instead of mutating the process
    /// environment). Follows `huggingface_hub.constants`: empty values count as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        let home = get("HOME")
            .or_else(|| get("USERPROFILE"))
            .map(PathBuf::from);
        let expand = |value: String| expand_user(&value, home.as_deref());
        let hf_home = match get("HF_HOME") {
            Some(dir) => expand(dir),
            None => {
                let cache = match get("XDG_CACHE_HOME") {
                    Some(dir) => expand(dir),
                    None => home
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("."))
                        .join(".cache"),
                };
                cache.join("huggingface")
            }
        };
        let cache_dir = get("HF_HUB_CACHE")
            .or_else(|| get("HUGGINGFACE_HUB_CACHE"))
            .map(expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let endpoint = get("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_string())
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token = get("HF_TOKEN")
            .or_else(|| get("HUGGING_FACE_HUB_TOKEN"))
            .and_then(|t| clean_token(&t))
            .or_else(|| {
                let path = get("HF_TOKEN_PATH")
                    .map(expand)
                    .unwrap_or_else(|| hf_home.join("token"));
                std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| clean_token(&t))
            });
        // Python: `_is_true(HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)`: a set HF_HUB_OFFLINE wins.
        let offline = is_true(get("HF_HUB_OFFLINE").or_else(|| get("TRANSFORMERS_OFFLINE")));
        let progress = !is_true(get("HF_HUB_DISABLE_PROGRESS_BARS"));
        HubSettings {
            cache_dir,
            endpoint,
            token,
            offline,
            progress,
        }
    }

    /// Settings for one cache directory, online, default endpoint, no token, no progress bar.
    pub fn for_cache(cache_dir: impl Into<PathBuf>) -> Self {
        HubSettings {
            cache_dir: cache_dir.into(),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token: None,
            offline: false,
            progress: false,
        }
    }
}

fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.to_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
}

fn clean_token(token: &str) -> Option<String> {
    let token: String = token
        .trim()
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    (!token.is_empty()).then_some(token)
}

fn expand_user(value: &str, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') || rest.starts_with('\\') => {
            home.join(&rest[1..])
        }
        _ => PathBuf::from(value),
    }
}

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

/// `models--org--name`, as `huggingface_hub.file_download.repo_folder_name` writes it.
pub fn repo_folder_name(id: &str) -> String {
    let mut parts = vec!["models"];
    parts.extend(id.split('/'));
    parts.join("--")
}

/// A full 40-hex-digit commit hash (what `huggingface_hub` treats as a commit, not a ref).
pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why a cached file could not be had from the hub instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineReason {
    /// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set.
    OfflineMode,
    /// The hub could not be reached; the message says why.
    Unreachable(String),
}

impl fmt::Display for OfflineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfflineReason::OfflineMode => write!(f, "HF_HUB_OFFLINE is set"),
            OfflineReason::Unreachable(why) => write!(f, "the hub is unreachable ({why})"),
        }
    }
}

/// Everything that can go wrong while resolving, fetching or listing models.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("`{spec}` is not a model directory or hub repo id: {reason}")]
    InvalidSpec { spec: String, reason: String },

    #[error(
        "model directory {} does not exist (pass `--model` an existing directory, or a hub repo id such as `org/name`)",
        dir.display()
    )]
    DirNotFound { dir: PathBuf },

    #[error("model directory {} has no `{file}` (copy the complete model there, or pass a hub repo id)", dir.display())]
    MissingInDir { dir: PathBuf, file: String },

    #[error(
        "`{file}` of {repo} at revision `{revision}` is not in the hub cache {} and {reason}. \
         To fix: run `warta models fetch` on a machine with network access (the same HF_HOME / \
         HF_HUB_CACHE) and copy its {} folder into {}, or pass `--model /path/to/dir` with a \
         local copy of the model",
        cache_dir.display(), repo_folder_name(repo), cache_dir.display()
    )]
    NotCached {
        repo: String,
        revision: String,
        file: String,
        cache_dir: PathBuf,
        reason: OfflineReason,
    },

    #[error(
        "{repo} at revision `{revision}` has no `{file}` on {endpoint}. To fix: check the repo id \
         and revision (models.toml or `--model org/name@revision`), or pass `--model /path/to/dir`"
    )]
    NotInRepo {
        repo: String,
        revision: String,
        file: String,
        endpoint: String,
    },

    #[error(
        "{repo} at revision `{revision}` is not accessible on {endpoint} (HTTP {status}: {message}). \
         To fix: check the repo id and revision; for a private or gated repo set HF_TOKEN (or run \
         `huggingface-cli login`); or pass `--model /path/to/dir`"
    )]
    RepoNotAccessible {
        repo: String,
        revision: String,
        endpoint: String,
        status: u16,
        message: String,
    },

    #[error(
        "{model} has no weights: none of {} found. To fix: use a model with safetensors or \
         pytorch_model.bin weights, or pass `--model /path/to/dir` holding them",
        WEIGHT_CANDIDATES.join(", ")
    )]
    NoWeights { model: String },

    #[error("downloading `{file}` of {repo} at revision `{revision}` failed: {message}")]
    Download {
        repo: String,
        revision: String,
        file: String,
        message: String,
    },

    #[error("`warta models fetch` needs the hub, but HF_HUB_OFFLINE is set (cannot fetch {repo}@{revision})")]
    FetchOffline { repo: String, revision: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The local files of a resolved model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// What was resolved.
    pub spec: ModelSpec,
    /// The directory holding the files: the model directory, or `snapshots/<commit>`.
    pub dir: PathBuf,
    /// The commit hash the files come from (hub repos only), for provenance.
    pub commit: Option<String>,
    /// Every required file and every optional file that exists, by repo file name.
    pub files: BTreeMap<String, PathBuf>,
    /// The weight files in load order (one file, or the shards of an index), when requested.
    pub weights: Vec<PathBuf>,
}

impl ModelFiles {
    /// The local path of a file that was asked for, if it exists.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.files.get(name).map(PathBuf::as_path)
    }

    /// The local path of a file that was asked for, or an error naming model and file.
    pub fn require(&self, name: &str) -> Result<&Path, HubError> {
        self.get(name).ok_or_else(|| HubError::MissingInDir {
            dir: self.dir.clone(),
            file: name.to_string(),
        })
    }

    /// `repo@commit` (or the directory) for logs and provenance records.
    pub fn provenance(&self) -> String {
        match (&self.spec, &self.commit) {
            (ModelSpec::Repo { id, .. }, Some(commit)) => format!("{id}@{commit}"),
            (spec, _) => spec.to_string(),
        }
    }
}

/// What to resolve: required files, optional files, and whether to pick the weights.
#[derive(Debug, Clone, Copy)]
struct Want<'a> {
    files: &'a [&'a str],
    optional: &'a [&'a str],
    weights: bool,
}

/// Resolves `files` (required) and `optional` files of a model, without weights.
pub fn resolve(
    spec: &ModelSpec,
    settings: &HubSettings,
    files: &[&str],
    optional: &[&str],
) -> Result<ModelFiles, HubError> {
    let want = Want {
        files,
        optional,
        weights: false,
    };
    resolve_want(spec, settings, want, false)
}

/// Like [`resolve`], and also picks the weights ([`WEIGHT_CANDIDATES`], first found wins;
/// an index file is replaced by its shards) into [`ModelFiles::weights`].
pub fn resolve_with_weights(
    spec: &ModelSpec,
    settings: &HubSettings,
    files: &[&str],
    optional: &[&str],
) -> Result<ModelFiles, HubError> {
    let want = Want {
        files,
        optional,
        weights: true,
    };
    resolve_want(spec, settings, want, false)
}

/// `warta models fetch` for one model: asks the hub which commit `revision` points to now,
/// downloads every needed file (and the weights) that is not cached yet, and updates
/// `refs/<revision>`. A local directory is only checked.
pub fn fetch(
    spec: &ModelSpec,
    settings: &HubSettings,
    files: &[&str],
    optional: &[&str],
) -> Result<ModelFiles, HubError> {
    if let (ModelSpec::Repo { id, revision }, true) = (spec, settings.offline) {
        return Err(HubError::FetchOffline {
            repo: id.clone(),
            revision: revision.clone(),
        });
    }
    let want = Want {
        files,
        optional,
        weights: true,
    };
    resolve_want(spec, settings, want, true)
}

/// [`fetch`] for a whole model set; one result per spec, in order, so a CLI can report all.
pub fn fetch_many(
    specs: &[ModelSpec],
    settings: &HubSettings,
    files: &[&str],
    optional: &[&str],
) -> Vec<Result<ModelFiles, HubError>> {
    specs
        .iter()
        .map(|spec| fetch(spec, settings, files, optional))
        .collect()
}

fn resolve_want(
    spec: &ModelSpec,
    settings: &HubSettings,
    want: Want<'_>,
    force_online: bool,
) -> Result<ModelFiles, HubError> {
    match spec {
        ModelSpec::Dir(dir) => resolve_dir(spec, dir, want),
        ModelSpec::Repo { id, revision } => {
            let repo = CachedRepoDir::new(&settings.cache_dir, id);
            if !force_online {
                if let Some(found) = repo.lookup(spec, revision, want, true)? {
                    return Ok(found);
                }
            }
            if settings.offline {
                return repo.lookup_or_miss(spec, revision, want, OfflineReason::OfflineMode);
            }
            match online::resolve(&repo, spec, id, revision, settings, want) {
                Ok(found) => Ok(found),
                Err(online::Failure::Unreachable(why)) => {
                    tracing::warn!("hub unreachable ({why}); using the cache for {spec}");
                    repo.lookup_or_miss(spec, revision, want, OfflineReason::Unreachable(why))
                }
                Err(online::Failure::Hub(err)) => Err(err),
            }
        }
    }
}

fn resolve_dir(spec: &ModelSpec, dir: &Path, want: Want<'_>) -> Result<ModelFiles, HubError> {
    if !dir.is_dir() {
        return Err(HubError::DirNotFound {
            dir: dir.to_path_buf(),
        });
    }
    let mut files = BTreeMap::new();
    for name in want.files {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(HubError::MissingInDir {
                dir: dir.to_path_buf(),
                file: name.to_string(),
            });
        }
        files.insert(name.to_string(), path);
    }
    for name in want.optional {
        let path = dir.join(name);
        if path.is_file() {
            files.insert(name.to_string(), path);
        }
    }
    let weights = if want.weights {
        let found = WEIGHT_CANDIDATES
            .iter()
            .map(|c| dir.join(c))
            .find(|p| p.is_file());
        match found {
            None => {
                return Err(HubError::NoWeights {
                    model: dir.display().to_string(),
                })
            }
            Some(path) => expand_weights(&path, |shard| {
                let shard_path = dir.join(shard);
                shard_path
                    .is_file()
                    .then_some(shard_path)
                    .ok_or_else(|| HubError::MissingInDir {
                        dir: dir.to_path_buf(),
                        file: shard.to_string(),
                    })
            })?,
        }
    } else {
        Vec::new()
    };
    Ok(ModelFiles {
        spec: spec.clone(),
        dir: dir.to_path_buf(),
        commit: None,
        files,
        weights,
    })
}

/// The shard file names an `*.index.json` names in its `weight_map`, sorted and deduplicated.
pub fn index_shards(index: &Path) -> Result<Vec<String>, HubError> {
    let text = std::fs::read_to_string(index).map_err(io_err(index))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| HubError::BadFile {
        path: index.to_path_buf(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| HubError::BadFile {
            path: index.to_path_buf(),
            reason: "no `weight_map` object".to_string(),
        })?;
    let mut shards = BTreeSet::new();
    for (tensor, shard) in map {
        let shard = shard.as_str().ok_or_else(|| HubError::BadFile {
            path: index.to_path_buf(),
            reason: format!("`weight_map` entry `{tensor}` is not a file name"),
        })?;
        if shard.contains("..") || shard.starts_with('/') || shard.contains('\\') {
            return Err(HubError::BadFile {
                path: index.to_path_buf(),
                reason: format!("shard name `{shard}` leaves the model directory"),
            });
        }
        shards.insert(shard.to_string());
    }
    if shards.is_empty() {
        return Err(HubError::BadFile {
            path: index.to_path_buf(),
            reason: "`weight_map` is empty".to_string(),
        });
    }
    Ok(shards.into_iter().collect())
}

/// A weights file as-is, or the shards an index file names, each located by `locate`.
fn expand_weights(
    path: &Path,
    mut locate: impl FnMut(&str) -> Result<PathBuf, HubError>,
) -> Result<Vec<PathBuf>, HubError> {
    let is_index = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".index.json"));
    if !is_index {
        return Ok(vec![path.to_path_buf()]);
    }
    index_shards(path)?.iter().map(|s| locate(s)).collect()
}

/// One repo's folder in the cache, with Python's layout.
struct CachedRepoDir {
    id: String,
    root: PathBuf,
}

/// A file as the cache knows it at one commit.
enum Cached {
    Present(PathBuf),
    /// `.no_exist/<commit>/<file>` says the repo has no such file.
    Absent,
    Unknown,
}

impl CachedRepoDir {
    fn new(cache_dir: &Path, id: &str) -> Self {
        CachedRepoDir {
            id: id.to_string(),
            root: cache_dir.join(repo_folder_name(id)),
        }
    }

    fn ref_path(&self, revision: &str) -> PathBuf {
        self.root.join("refs").join(revision)
    }

    fn snapshot(&self, commit: &str) -> PathBuf {
        self.root.join("snapshots").join(commit)
    }

    /// The commit a revision means in the cache: itself for a commit hash, else `refs/<rev>`.
    fn commit_for(&self, revision: &str) -> Result<Option<String>, HubError> {
        let ref_path = self.ref_path(revision);
        if ref_path.is_file() {
            let text = std::fs::read_to_string(&ref_path).map_err(io_err(&ref_path))?;
            let commit = text.trim().to_string();
            if !is_commit_hash(&commit) {
                return Err(HubError::BadFile {
                    path: ref_path,
                    reason: format!("expected a 40-digit commit hash, found `{commit}`"),
                });
            }
            return Ok(Some(commit));
        }
        if is_commit_hash(revision) {
            return Ok(Some(revision.to_string()));
        }
        Ok(None)
    }

    fn file(&self, commit: &str, name: &str) -> Cached {
        let path = self.snapshot(commit).join(name);
        if path.is_file() {
            Cached::Present(path)
        } else if self
            .root
            .join(".no_exist")
            .join(commit)
            .join(name)
            .is_file()
        {
            Cached::Absent
        } else {
            Cached::Unknown
        }
    }

    /// The model from the cache alone. `strict`: every optional file and every preferred
    /// weight format must be known (present or marked absent), so that going online could not
    /// find more; otherwise (offline) unknown files count as absent. `Ok(None)`: incomplete.
    fn lookup(
        &self,
        spec: &ModelSpec,
        revision: &str,
        want: Want<'_>,
        strict: bool,
    ) -> Result<Option<ModelFiles>, HubError> {
        Ok(self.lookup_detail(spec, revision, want, strict)?.ok())
    }

    fn lookup_or_miss(
        &self,
        spec: &ModelSpec,
        revision: &str,
        want: Want<'_>,
        reason: OfflineReason,
    ) -> Result<ModelFiles, HubError> {
        self.lookup_detail(spec, revision, want, false)?
            .map_err(|file| HubError::NotCached {
                repo: self.id.clone(),
                revision: revision.to_string(),
                file,
                cache_dir: self
                    .root
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                reason,
            })
    }

    /// `Ok(Err(file))`: the first file the cache lacks.
    fn lookup_detail(
        &self,
        spec: &ModelSpec,
        revision: &str,
        want: Want<'_>,
        strict: bool,
    ) -> Result<Result<ModelFiles, String>, HubError> {
        let first_missing = want
            .files
            .first()
            .copied()
            .or(want.weights.then_some(WEIGHT_CANDIDATES[0]))
            .unwrap_or("refs")
            .to_string();
        let Some(commit) = self.commit_for(revision)? else {
            return Ok(Err(first_missing));
        };
        if !self.snapshot(&commit).is_dir() {
            return Ok(Err(first_missing));
        }
        let mut files = BTreeMap::new();
        for name in want.files {
            match self.file(&commit, name) {
                Cached::Present(path) => {
                    files.insert(name.to_string(), path);
                }
                _ => return Ok(Err(name.to_string())),
            }
        }
        for name in want.optional {
            match self.file(&commit, name) {
                Cached::Present(path) => {
                    files.insert(name.to_string(), path);
                }
                Cached::Absent => {}
                Cached::Unknown if strict => return Ok(Err(name.to_string())),
                Cached::Unknown => {}
            }
        }
        let mut weights = Vec::new();
        if want.weights {
            let mut chosen = None;
            for candidate in WEIGHT_CANDIDATES {
                match self.file(&commit, candidate) {
                    Cached::Present(path) => {
                        chosen = Some(path);
                        break;
                    }
                    Cached::Absent => {}
                    Cached::Unknown if strict => return Ok(Err(candidate.to_string())),
                    Cached::Unknown => {}
                }
            }
            let Some(path) = chosen else {
                return Ok(Err(WEIGHT_CANDIDATES[0].to_string()));
            };
            let snapshot = self.snapshot(&commit);
            let mut missing_shard = None;
            let expanded = expand_weights(&path, |shard| {
                let p = snapshot.join(shard);
                if p.is_file() {
                    Ok(p)
                } else {
                    missing_shard.get_or_insert_with(|| shard.to_string());
                    Ok(PathBuf::new())
                }
            })?;
            if let Some(shard) = missing_shard {
                return Ok(Err(shard));
            }
            weights = expanded;
        }
        Ok(Ok(ModelFiles {
            spec: spec.clone(),
            dir: self.snapshot(&commit),
            commit: Some(commit),
            files,
            weights,
        }))
    }

    /// Writes `refs/<revision>` (tmp file + rename), unless the revision is the commit itself.
    fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        if revision == commit {
            return Ok(());
        }
        let path = self.ref_path(revision);
        if std::fs::read_to_string(&path).is_ok_and(|c| c == commit) {
            return Ok(());
        }
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, commit).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Records that the repo has no `name` at `commit`, as Python does.
    fn mark_absent(&self, commit: &str, name: &str) -> Result<(), HubError> {
        let path = self.root.join(".no_exist").join(commit).join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&path, b"").map_err(io_err(&path))
    }
}

/// The network side: repo info and downloads through `hf-hub`.
mod online {
    use super::*;
    use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
    use hf_hub::{Cache, Repo, RepoType};
    use std::collections::HashSet;

    pub(super) enum Failure {
        /// The hub cannot be reached: the caller falls back to the cache.
        Unreachable(String),
        /// The hub answered, and the answer is an error.
        Hub(HubError),
    }

    impl From<HubError> for Failure {
        fn from(err: HubError) -> Self {
            Failure::Hub(err)
        }
    }

    fn api(settings: &HubSettings) -> Result<Api, Failure> {
        ApiBuilder::from_cache(Cache::new(settings.cache_dir.clone()))
            .with_endpoint(settings.endpoint.clone())
            .with_token(settings.token.clone())
            .with_progress(false)
            .with_user_agent("warta", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| Failure::Unreachable(e.to_string()))
    }

    /// Sorts a request failure: transport problems and server errors mean "unreachable".
    fn classify(
        err: ApiError,
        id: &str,
        revision: &str,
        file: Option<&str>,
        settings: &HubSettings,
    ) -> Failure {
        if let ApiError::RequestError(boxed) = &err {
            match boxed.as_ref() {
                ureq_error @ ureq::Error::Transport(_) => {
                    return Failure::Unreachable(ureq_error.to_string())
                }
                ureq::Error::Status(status, _) if *status >= 500 => {
                    return Failure::Unreachable(format!("HTTP {status}"))
                }
                ureq::Error::Status(404, _) if file.is_some() => {
                    return Failure::Hub(HubError::NotInRepo {
                        repo: id.to_string(),
                        revision: revision.to_string(),
                        file: file.unwrap_or_default().to_string(),
                        endpoint: settings.endpoint.clone(),
                    })
                }
                ureq::Error::Status(status, _) => {
                    return Failure::Hub(HubError::RepoNotAccessible {
                        repo: id.to_string(),
                        revision: revision.to_string(),
                        endpoint: settings.endpoint.clone(),
                        status: *status,
                        message: err.to_string(),
                    })
                }
            }
        }
        match file {
            Some(file) => Failure::Hub(HubError::Download {
                repo: id.to_string(),
                revision: revision.to_string(),
                file: file.to_string(),
                message: err.to_string(),
            }),
            None => Failure::Unreachable(err.to_string()),
        }
    }

    pub(super) fn resolve(
        repo: &CachedRepoDir,
        spec: &ModelSpec,
        id: &str,
        revision: &str,
        settings: &HubSettings,
        want: Want<'_>,
    ) -> Result<ModelFiles, Failure> {
        let api = api(settings)?;
        let info = api
            .repo(Repo::with_revision(
                id.to_string(),
                RepoType::Model,
                revision.to_string(),
            ))
            .info()
            .map_err(|e| classify(e, id, revision, None, settings))?;
        let commit = info.sha.clone();
        if !is_commit_hash(&commit) {
            return Err(Failure::Unreachable(format!(
                "the hub answered an invalid commit hash `{commit}`"
            )));
        }
        let listed: HashSet<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
        repo.write_ref(revision, &commit)?;

        let not_in_repo = |file: &str| HubError::NotInRepo {
            repo: id.to_string(),
            revision: revision.to_string(),
            file: file.to_string(),
            endpoint: settings.endpoint.clone(),
        };
        let mut needed: Vec<&str> = Vec::new();
        for name in want.files {
            if !listed.contains(name) {
                return Err(not_in_repo(name).into());
            }
            needed.push(name);
        }
        for name in want.optional {
            if listed.contains(name) {
                needed.push(name);
            } else {
                repo.mark_absent(&commit, name)?;
            }
        }
        let mut weight_file = None;
        if want.weights {
            for candidate in WEIGHT_CANDIDATES {
                if listed.contains(candidate) {
                    weight_file = Some(candidate);
                    break;
                }
                repo.mark_absent(&commit, candidate)?;
            }
            match weight_file {
                None => {
                    return Err(HubError::NoWeights {
                        model: format!("{id}@{revision}"),
                    }
                    .into())
                }
                Some(name) => needed.push(name),
            }
        }

        let downloader = Downloader {
            api: &api,
            repo,
            id,
            revision,
            commit: &commit,
            settings,
        };
        let mut files = BTreeMap::new();
        for name in &needed {
            let path = downloader.get(name)?;
            if Some(*name) != weight_file {
                files.insert(name.to_string(), path);
            }
        }
        let mut weights = Vec::new();
        if let Some(name) = weight_file {
            let path = repo.snapshot(&commit).join(name);
            let mut shard_error = None;
            weights = expand_weights(&path, |shard| {
                if !listed.contains(shard) {
                    return Err(not_in_repo(shard));
                }
                match downloader.get(shard) {
                    Ok(p) => Ok(p),
                    Err(failure) => {
                        shard_error = Some(failure);
                        Ok(PathBuf::new())
                    }
                }
            })?;
            if let Some(failure) = shard_error {
                return Err(failure);
            }
        }
        Ok(ModelFiles {
            spec: spec.clone(),
            dir: repo.snapshot(&commit),
            commit: Some(commit),
            files,
            weights,
        })
    }

    struct Downloader<'a> {
        api: &'a Api,
        repo: &'a CachedRepoDir,
        id: &'a str,
        revision: &'a str,
        commit: &'a str,
        settings: &'a HubSettings,
    }

    impl Downloader<'_> {
        /// The cached file at the commit, downloaded first when missing.
        fn get(&self, name: &str) -> Result<PathBuf, Failure> {
            let pointer = self.repo.snapshot(self.commit).join(name);
            if pointer.is_file() {
                return Ok(pointer);
            }
            // Download by commit hash so every file comes from the same commit. hf-hub then
            // writes `refs/<commit>`, which Python never does: remove it again.
            let stray_ref = self.repo.ref_path(self.commit);
            let had_stray_ref = stray_ref.exists();
            let api_repo = self.api.repo(Repo::with_revision(
                self.id.to_string(),
                RepoType::Model,
                self.commit.to_string(),
            ));
            let result = if self.settings.progress {
                api_repo.download_with_progress(name, Bar::new())
            } else {
                api_repo.download_with_progress(name, ())
            };
            if !had_stray_ref {
                let _ = std::fs::remove_file(&stray_ref);
            }
            let path = result
                .map_err(|e| classify(e, self.id, self.revision, Some(name), self.settings))?;
            // hf-hub leaves its `blobs/<etag>.lock` behind (Python keeps locks in `.locks/`).
            if let Ok(blob) = std::fs::canonicalize(&path) {
                let _ = std::fs::remove_file(blob.with_extension("lock"));
            }
            if path.is_file() {
                Ok(path)
            } else {
                Err(Failure::Hub(HubError::Download {
                    repo: self.id.to_string(),
                    revision: self.revision.to_string(),
                    file: name.to_string(),
                    message: format!("{} is not readable after download", path.display()),
                }))
            }
        }
    }

    /// An indicatif progress bar on stderr for one download.
    struct Bar(indicatif::ProgressBar);

    impl Bar {
        fn new() -> Self {
            Bar(indicatif::ProgressBar::with_draw_target(
                Some(0),
                indicatif::ProgressDrawTarget::stderr(),
            ))
        }
    }

    impl hf_hub::api::Progress for Bar {
        fn init(&mut self, size: usize, filename: &str) {
            self.0.set_length(size as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg:>24} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
            ) {
                self.0.set_style(style);
            }
            self.0.set_message(filename.to_string());
        }

        fn update(&mut self, size: usize) {
            self.0.inc(size as u64);
        }

        fn finish(&mut self) {
            self.0.finish();
        }
    }
}

/// One cached file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFile {
    /// The file name in the repo (`/`-separated for nested files).
    pub name: String,
    /// Its size in bytes (of the blob it points to).
    pub size: u64,
}

/// One cached commit of a repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSnapshot {
    pub commit: String,
    /// The revisions (`refs/...`) that point to this commit.
    pub refs: Vec<String>,
    pub files: Vec<CachedFile>,
}

/// One cached model repo, for `warta models list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRepo {
    pub id: String,
    /// `<cache>/models--org--name`.
    pub path: PathBuf,
    /// Bytes on disk: the sum of its blobs (files shared between commits count once).
    pub size: u64,
    pub snapshots: Vec<CachedSnapshot>,
}

/// Every model repo in the cache, sorted by id. A missing cache directory is an empty list.
pub fn list_cached(settings: &HubSettings) -> Result<Vec<CachedRepo>, HubError> {
    let cache = &settings.cache_dir;
    let entries = match std::fs::read_dir(cache) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(cache)(e)),
    };
    let mut repos = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(cache))?;
        let folder = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = folder.strip_prefix("models--") else {
            continue;
        };
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let id = rest.replace("--", "/");
        let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let refs_dir = path.join("refs");
        for ref_file in walk_files(&refs_dir)? {
            let name = relative_name(&refs_dir, &ref_file);
            if let Ok(commit) = std::fs::read_to_string(&ref_file) {
                refs.entry(commit.trim().to_string())
                    .or_default()
                    .push(name);
            }
        }
        let mut snapshots = Vec::new();
        let snapshots_dir = path.join("snapshots");
        if let Ok(commits) = std::fs::read_dir(&snapshots_dir) {
            for commit_dir in commits {
                let commit_dir = commit_dir.map_err(io_err(&snapshots_dir))?.path();
                if !commit_dir.is_dir() {
                    continue;
                }
                let commit = relative_name(&snapshots_dir, &commit_dir);
                let mut files = Vec::new();
                for file in walk_files(&commit_dir)? {
                    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    files.push(CachedFile {
                        name: relative_name(&commit_dir, &file),
                        size,
                    });
                }
                files.sort_by(|a, b| a.name.cmp(&b.name));
                let mut names = refs.get(&commit).cloned().unwrap_or_default();
                names.sort();
                snapshots.push(CachedSnapshot {
                    commit,
                    refs: names,
                    files,
                });
            }
        }
        snapshots.sort_by(|a, b| a.commit.cmp(&b.commit));
        let size = walk_files(&path.join("blobs"))?
            .iter()
            .filter(|b| {
                let name = b.to_string_lossy();
                !(name.ends_with(".lock")
                    || name.ends_with(".part")
                    || name.ends_with(".incomplete"))
            })
            .filter_map(|b| std::fs::metadata(b).ok())
            .map(|m| m.len())
            .sum();
        repos.push(CachedRepo {
            id,
            path,
            size,
            snapshots,
        });
    }
    repos.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(repos)
}

/// Files (and symlinks to files) under `dir`, recursively; a missing `dir` has none.
fn walk_files(dir: &Path) -> Result<Vec<PathBuf>, HubError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&current)(e)),
        };
        for entry in entries {
            let path = entry.map_err(io_err(&current))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn relative_name(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
