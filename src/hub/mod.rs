//! The one model resolver: a model spec (a local directory, or a hub repo id with an optional
//! revision) turned into local file paths.
//!
//! It exists so that exactly one place knows where model files live. Hub repos use the very
//! cache Python's `huggingface_hub` uses (`$HF_HUB_CACHE`, default `$HF_HOME/hub`, default
//! `~/.cache/huggingface/hub`) with its layout, so a cache filled by Python is found here and a
//! cache filled here is found by Python. The work is split by job:
//!
//! - `settings`: [`HubSettings`], the `HF_*` environment read once ([`HubSettings::from_env`]);
//!   everything downstream receives a [`HubSettings`].
//! - `spec`: [`ModelSpec`], what the user named, with repo ids and revisions checked.
//! - `cache`: the cache layout (folder names, refs, snapshots, blobs, `.no_exist` markers)
//!   and [`list_cached`].
//! - `download`: asking the hub and downloading through `hf-hub`.
//! - this file: the entry points ([`resolve_files`], [`resolve`], [`resolve_with_weights`],
//!   [`fetch`]), the
//!   errors, and [`ModelFiles`].
//!
//! Which weight files a model has is not decided here: [`crate::weights::checkpoint`] holds
//! the one preference order and index reading, and the hub asks it with what it knows (a
//! directory, the cache, the hub's file list). What this module adds to `hf-hub`:
//! `HF_HUB_CACHE`/`HF_TOKEN`/`HF_HUB_OFFLINE`, revisions given as commit hashes, `.no_exist`
//! markers, falling back to the cache when the hub is unreachable, and one error per failure
//! that says which repo, revision and file, and how to fix it.
//!
//! Resolution reads the cache first and touches the network only when a needed file is not
//! cached (or, for optional files and weight formats, when the cache cannot tell whether the
//! repo has them); [`fetch`] always asks the hub which commit the revision points to now.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::weights::{Checkpoint, WeightsError, WEIGHT_CANDIDATES};

mod cache;
mod download;
mod settings;
mod spec;

pub use cache::{
    is_commit_hash, list_cached, repo_folder_name, CachedFile, CachedRepo, CachedSnapshot,
};
use cache::{CacheLookup, CachedRepoDir};
pub use settings::{HubSettings, DEFAULT_ENDPOINT};
pub use spec::{ModelSpec, DEFAULT_REVISION};

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

    /// A shard index that cannot be read or names a file outside the model.
    #[error(transparent)]
    Weights(Box<WeightsError>),
}

impl From<WeightsError> for HubError {
    fn from(err: WeightsError) -> Self {
        HubError::Weights(Box::new(err))
    }
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
    /// The commit hash the files come from (hub repos only), for provenance.
    pub commit: Option<String>,
    /// Every required file and every optional file that exists, by repo file name.
    pub files: BTreeMap<String, PathBuf>,
    /// The directory holding the files (the model directory, or `snapshots/<commit>`) and the
    /// weight files in load order (one file, or the shards of an index) when they were asked
    /// for: what the model loaders load.
    pub checkpoint: Checkpoint,
}

impl ModelFiles {
    /// The local path of a file that was asked for, if it exists.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.files.get(name).map(PathBuf::as_path)
    }

    /// The local path of a file that was asked for, or an error naming model and file.
    pub fn require(&self, name: &str) -> Result<&Path, HubError> {
        self.get(name).ok_or_else(|| HubError::MissingInDir {
            dir: self.checkpoint.dir.clone(),
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

/// A model's files found at one commit of its repo, by the cache or the hub.
struct AtCommit {
    commit: String,
    files: BTreeMap<String, PathBuf>,
    checkpoint: Checkpoint,
}

impl AtCommit {
    fn of(self, spec: &ModelSpec) -> ModelFiles {
        ModelFiles {
            spec: spec.clone(),
            commit: Some(self.commit),
            files: self.files,
            checkpoint: self.checkpoint,
        }
    }
}

/// What to resolve: required files, optional files, and whether to pick the weights (a
/// model's role says which: `cli/setup.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub files: &'a [&'a str],
    pub optional: &'a [&'a str],
    pub weights: bool,
}

/// Resolves what `want` names: a directory as it is, or the cache (downloading what is
/// missing unless offline). With `want.weights`, also picks the weights
/// ([`WEIGHT_CANDIDATES`], first found wins; an index file is replaced by its shards) into
/// [`ModelFiles::checkpoint`].
pub fn resolve_files(
    spec: &ModelSpec,
    settings: &HubSettings,
    want: Want<'_>,
) -> Result<ModelFiles, HubError> {
    resolve_want(spec, settings, want, false)
}

/// [`resolve_files`] of `files` (required) and `optional` files, without weights.
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
    resolve_files(spec, settings, want)
}

/// [`resolve`] with the weights.
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
    resolve_files(spec, settings, want)
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
    let weights = true;
    resolve_want(
        spec,
        settings,
        Want {
            files,
            optional,
            weights,
        },
        true,
    )
}

fn resolve_want(
    spec: &ModelSpec,
    settings: &HubSettings,
    want: Want<'_>,
    force_online: bool,
) -> Result<ModelFiles, HubError> {
    let (id, revision) = match spec {
        ModelSpec::Dir(dir) => return resolve_dir(spec, dir, want),
        ModelSpec::Repo { id, revision } => (id, revision),
    };
    let repo = CachedRepoDir::new(&settings.cache_dir, id);
    if !force_online {
        if let CacheLookup::Complete(found) = repo.lookup(revision, want, true)? {
            return Ok(found.of(spec));
        }
    }
    if settings.offline {
        return Ok(repo
            .lookup_or_miss(revision, want, OfflineReason::OfflineMode)?
            .of(spec));
    }
    match download::resolve(&repo, id, revision, settings, want) {
        Ok(found) => Ok(found.of(spec)),
        Err(download::Failure::Unreachable(why)) => {
            tracing::warn!("hub unreachable ({why}); using the cache for {spec}");
            Ok(repo
                .lookup_or_miss(revision, want, OfflineReason::Unreachable(why))?
                .of(spec))
        }
        Err(download::Failure::Hub(err)) => Err(err),
    }
}

/// A model directory: every required file must be there, and the weights as
/// [`Checkpoint::find`] picks them.
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
    let checkpoint = if want.weights {
        Checkpoint::find(dir).map_err(|e| match e {
            WeightsError::NoWeights { .. } => HubError::NoWeights {
                model: dir.display().to_string(),
            },
            WeightsError::MissingShard { shard, .. } => HubError::MissingInDir {
                dir: dir.to_path_buf(),
                file: shard,
            },
            e => e.into(),
        })?
    } else {
        Checkpoint {
            dir: dir.to_path_buf(),
            weights: Vec::new(),
        }
    };
    Ok(ModelFiles {
        spec: spec.clone(),
        commit: None,
        files,
        checkpoint,
    })
}
