//! The hub cache on disk, laid out exactly as Python's `huggingface_hub` lays it out, so a
//! cache filled by Python is found here and one filled here is found by Python:
//!
//! ```text
//! models--Helsinki-NLP--opus-mt-id-en/
//!   blobs/<etag>                                   the file contents, named by their etag
//!   refs/main                                      the commit hash `main` points to (no newline)
//!   snapshots/<commit>/config.json -> ../../blobs/<etag>
//!   .no_exist/<commit>/model.safetensors           empty: "this file is not in the repo"
//! ```
//!
//! It exists so one file knows that layout: folder names, refs, snapshots, `.no_exist`
//! markers, what a model's files are in the cache alone, and the
//! listing `warta models list` prints ([`list_cached`]).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{io_err, AtCommit, HubError, HubSettings, OfflineReason, Want};
use crate::weights::checkpoint::{self, Checkpoint, WEIGHT_CANDIDATES};

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

/// One repo's folder in the cache, with Python's layout.
pub(super) struct CachedRepoDir {
    id: String,
    root: PathBuf,
}

/// What the cache alone says about a model at a revision.
pub(super) enum CacheLookup {
    /// Every needed file is cached.
    Complete(AtCommit),
    /// The cache lacks this file (or, when strict, cannot tell whether the repo has it).
    Missing(String),
}

/// A file as the cache knows it at one commit.
enum Cached {
    Present(PathBuf),
    /// `.no_exist/<commit>/<file>` says the repo has no such file.
    Absent,
    Unknown,
}

impl CachedRepoDir {
    pub(super) fn new(cache_dir: &Path, id: &str) -> Self {
        CachedRepoDir {
            id: id.to_string(),
            root: cache_dir.join(repo_folder_name(id)),
        }
    }

    pub(super) fn ref_path(&self, revision: &str) -> PathBuf {
        self.root.join("refs").join(revision)
    }

    pub(super) fn snapshot(&self, commit: &str) -> PathBuf {
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
    /// find more; otherwise (offline) unknown files count as absent.
    pub(super) fn lookup(
        &self,
        revision: &str,
        want: Want<'_>,
        strict: bool,
    ) -> Result<CacheLookup, HubError> {
        let first_missing = want
            .files
            .first()
            .copied()
            .or(want.weights.then_some(WEIGHT_CANDIDATES[0]))
            .unwrap_or("refs")
            .to_string();
        let Some(commit) = self.commit_for(revision)? else {
            return Ok(CacheLookup::Missing(first_missing));
        };
        let snapshot = self.snapshot(&commit);
        if !snapshot.is_dir() {
            return Ok(CacheLookup::Missing(first_missing));
        }
        let mut files = BTreeMap::new();
        for name in want.files {
            match self.file(&commit, name) {
                Cached::Present(path) => {
                    files.insert(name.to_string(), path);
                }
                _ => return Ok(CacheLookup::Missing(name.to_string())),
            }
        }
        for name in want.optional {
            match self.file(&commit, name) {
                Cached::Present(path) => {
                    files.insert(name.to_string(), path);
                }
                Cached::Absent => {}
                Cached::Unknown if strict => return Ok(CacheLookup::Missing(name.to_string())),
                Cached::Unknown => {}
            }
        }
        let mut weights = Vec::new();
        if want.weights {
            let chosen = checkpoint::choose(|candidate| match self.file(&commit, candidate) {
                Cached::Present(path) => Ok(Some(path)),
                Cached::Absent => Ok(None),
                Cached::Unknown if strict => Err(candidate),
                Cached::Unknown => Ok(None),
            });
            let path = match chosen {
                Ok(Some(path)) => path,
                Ok(None) => return Ok(CacheLookup::Missing(WEIGHT_CANDIDATES[0].to_string())),
                Err(unknown) => return Ok(CacheLookup::Missing(unknown.to_string())),
            };
            let mut missing_shard = None;
            let expanded = checkpoint::expand(&path, |shard| {
                let p = snapshot.join(shard);
                if p.is_file() {
                    Ok::<_, HubError>(p)
                } else {
                    missing_shard.get_or_insert_with(|| shard.to_string());
                    Ok(PathBuf::new())
                }
            })?;
            if let Some(shard) = missing_shard {
                return Ok(CacheLookup::Missing(shard));
            }
            weights = expanded;
        }
        Ok(CacheLookup::Complete(AtCommit {
            commit,
            files,
            checkpoint: Checkpoint {
                dir: snapshot,
                weights,
            },
        }))
    }

    /// The model from the cache alone, unknown files counting as absent; a file it lacks is
    /// [`HubError::NotCached`], for `reason`.
    pub(super) fn lookup_or_miss(
        &self,
        revision: &str,
        want: Want<'_>,
        reason: OfflineReason,
    ) -> Result<AtCommit, HubError> {
        match self.lookup(revision, want, false)? {
            CacheLookup::Complete(found) => Ok(found),
            CacheLookup::Missing(file) => Err(HubError::NotCached {
                repo: self.id.clone(),
                revision: revision.to_string(),
                file,
                cache_dir: self
                    .root
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                reason,
            }),
        }
    }

    /// Writes `refs/<revision>` (tmp file + rename), unless the revision is the commit itself.
    pub(super) fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
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
    pub(super) fn mark_absent(&self, commit: &str, name: &str) -> Result<(), HubError> {
        let path = self.root.join(".no_exist").join(commit).join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&path, b"").map_err(io_err(&path))
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
