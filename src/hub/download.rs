//! Fetching from the hub through the `hf-hub` crate (0.4, blocking `ureq` client): which
//! commit a revision is now, which files the repo has, and downloads into the cache.
//!
//! `hf-hub` writes a `.part` file next to the blob and renames it into place, so nothing
//! half-written is ever visible under `snapshots/`, and it links `snapshots/<commit>/<file>`
//! to `../../blobs/<etag>` exactly as Python does. This file adds downloads by commit hash
//! (every file from the same commit), `.no_exist` markers for what the repo lacks, a progress
//! bar on stderr, and the sorting of failures into "the hub is unreachable" (the caller falls
//! back to the cache) and "the hub said no" (an error naming repo, revision and file).
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use super::cache::{is_commit_hash, CachedRepoDir};
use super::{AtCommit, HubError, HubSettings, Want};
use crate::weights::checkpoint::{self, Checkpoint};

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

/// Asks the hub which commit `revision` is, records it in `refs/`, and downloads each needed
/// file of that commit that is not cached yet (recording in `.no_exist` what the repo lacks).
pub(super) fn resolve(
    repo: &CachedRepoDir,
    id: &str,
    revision: &str,
    settings: &HubSettings,
    want: Want<'_>,
) -> Result<AtCommit, Failure> {
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
        let chosen = checkpoint::choose(|candidate| {
            if listed.contains(candidate) {
                Ok(Some(candidate))
            } else {
                repo.mark_absent(&commit, candidate).map(|()| None)
            }
        })?;
        let Some(name) = chosen else {
            return Err(HubError::NoWeights {
                model: format!("{id}@{revision}"),
            }
            .into());
        };
        weight_file = Some(name);
        needed.push(name);
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
        weights = checkpoint::expand(&path, |shard| {
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
    Ok(AtCommit {
        checkpoint: Checkpoint {
            dir: repo.snapshot(&commit),
            weights,
        },
        commit,
        files,
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
        let path =
            result.map_err(|e| classify(e, self.id, self.revision, Some(name), self.settings))?;
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
