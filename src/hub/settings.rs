//! Hub settings: the `HF_*` environment read once into a [`HubSettings`] value that
//! everything downstream receives (nothing else in the crate reads these variables).
//!
//! The rules follow `huggingface_hub.constants`, so Python and warta agree on where the cache
//! is, which endpoint to ask, which token to send and whether to go online at all.
use std::path::{Path, PathBuf};

/// Where the hub is when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

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
