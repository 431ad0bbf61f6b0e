//! Tests for `warta::hub`: caches laid out exactly as Python's `huggingface_hub` writes them
//! (refs/<revision> holding a commit hash, snapshots/<commit>/<file> symlinked to
//! ../../blobs/<etag>, .no_exist markers) are found; misses give one error naming repo,
//! revision, file and the fix; settings follow the HF_* variables like Python; and a download
//! from a stand-in hub on 127.0.0.1 lands in the same layout.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use warta::hub::{
    fetch, list_cached, resolve, resolve_with_weights, HubError, HubSettings, ModelSpec,
};

const REPO: &str = "Helsinki-NLP/opus-mt-id-en";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const OLD_COMMIT: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// An etag-like name for a blob: 40 hex digits (git sha1 style) from the content.
fn etag(content: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in content {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}{:024x}", content.len())
}

/// Writes one snapshot the way `huggingface_hub` does.
fn put_snapshot(cache: &Path, repo: &str, commit: &str, files: &[(&str, &[u8])]) {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    std::fs::create_dir_all(root.join("blobs")).expect("blobs");
    for (name, content) in files {
        let tag = etag(content);
        std::fs::write(root.join("blobs").join(&tag), content).expect("blob");
        let pointer = root.join("snapshots").join(commit).join(name);
        std::fs::create_dir_all(pointer.parent().expect("parent")).expect("snapshot dir");
        let depth = name.matches('/').count();
        let target = format!("{}../../blobs/{tag}", "../".repeat(depth));
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &pointer).expect("symlink");
        #[cfg(not(unix))]
        std::fs::write(&pointer, content).expect("copy");
    }
}

fn put_ref(cache: &Path, repo: &str, revision: &str, commit: &str) {
    let path = cache
        .join(format!("models--{}", repo.replace('/', "--")))
        .join("refs")
        .join(revision);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("refs");
    std::fs::write(path, commit).expect("ref"); // no trailing newline, like Python
}

fn put_no_exist(cache: &Path, repo: &str, commit: &str, name: &str) {
    let path = cache
        .join(format!("models--{}", repo.replace('/', "--")))
        .join(".no_exist")
        .join(commit)
        .join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("no_exist");
    std::fs::write(path, b"").expect("marker");
}

const MARIAN_FILES: [(&str, &[u8]); 5] = [
    ("config.json", b"{\"model_type\": \"marian\"}"),
    ("source.spm", b"spm-source"),
    ("target.spm", b"spm-target"),
    ("vocab.json", b"{\"<pad>\": 0}"),
    ("pytorch_model.bin", b"weights"),
];
const REQUIRED: [&str; 4] = ["config.json", "source.spm", "target.spm", "vocab.json"];

fn offline(cache: &Path) -> HubSettings {
    HubSettings {
        offline: true,
        ..HubSettings::for_cache(cache)
    }
}

/// Online, but nothing listens on the endpoint: the hub is unreachable.
fn unreachable(cache: &Path) -> HubSettings {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    HubSettings {
        endpoint: format!("http://127.0.0.1:{port}"),
        ..HubSettings::for_cache(cache)
    }
}

fn spec(s: &str) -> ModelSpec {
    s.parse().expect("valid spec")
}

#[test]
fn python_layout_is_found_by_ref() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), REPO, COMMIT, &MARIAN_FILES);
    put_ref(dir.path(), REPO, "main", COMMIT);
    let files = resolve_with_weights(
        &spec(REPO),
        &offline(dir.path()),
        &REQUIRED,
        &["tokenizer_config.json"],
    )
    .expect("resolves from the cache");
    assert_eq!(files.commit.as_deref(), Some(COMMIT));
    assert_eq!(
        files.checkpoint.dir,
        dir.path()
            .join("models--Helsinki-NLP--opus-mt-id-en/snapshots")
            .join(COMMIT)
    );
    assert_eq!(
        std::fs::read(files.require("config.json").expect("config")).expect("read"),
        b"{\"model_type\": \"marian\"}"
    );
    assert!(files.get("tokenizer_config.json").is_none());
    assert_eq!(
        files.checkpoint.weights,
        vec![files.checkpoint.dir.join("pytorch_model.bin")]
    );
    assert_eq!(files.provenance(), format!("{REPO}@{COMMIT}"));
}

#[test]
fn commit_hash_revision_needs_no_ref() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), REPO, COMMIT, &MARIAN_FILES);
    put_snapshot(dir.path(), REPO, OLD_COMMIT, &MARIAN_FILES[..1]);
    put_ref(dir.path(), REPO, "main", OLD_COMMIT);
    let s = offline(dir.path());
    let files = resolve(&spec(&format!("{REPO}@{COMMIT}")), &s, &REQUIRED, &[])
        .expect("commit hash resolves without refs");
    assert_eq!(files.commit.as_deref(), Some(COMMIT));
    // `main` points to the old commit, which lacks the tokenizer files.
    let err = resolve(&spec(REPO), &s, &REQUIRED, &[]).expect_err("main is incomplete");
    assert!(err.to_string().contains("source.spm"), "{err}");
}

#[test]
fn other_refs_and_nested_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), REPO, COMMIT, &MARIAN_FILES);
    put_ref(dir.path(), REPO, "refs/pr/3", COMMIT);
    put_ref(dir.path(), REPO, "v1.0", COMMIT);
    let s = offline(dir.path());
    for rev in ["refs/pr/3", "v1.0"] {
        let files = resolve(&spec(&format!("{REPO}@{rev}")), &s, &REQUIRED, &[]).expect(rev);
        assert_eq!(files.commit.as_deref(), Some(COMMIT));
    }
}

#[test]
fn offline_miss_names_repo_revision_file_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), REPO, COMMIT, &MARIAN_FILES[..2]);
    put_ref(dir.path(), REPO, "main", COMMIT);
    let err = resolve(&spec(REPO), &offline(dir.path()), &REQUIRED, &[]).expect_err("miss");
    assert!(matches!(err, HubError::NotCached { .. }), "{err:?}");
    let msg = err.to_string();
    for needle in [
        REPO,
        "`main`",
        "`target.spm`",
        "HF_HUB_OFFLINE",
        "warta models fetch",
        "models--Helsinki-NLP--opus-mt-id-en",
        "--model /path/to/dir",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
    }

    // A repo that was never cached: the first required file is named.
    let err = resolve(
        &spec("org/never-seen@v2"),
        &offline(dir.path()),
        &REQUIRED,
        &[],
    )
    .expect_err("never cached");
    let msg = err.to_string();
    assert!(
        msg.contains("org/never-seen") && msg.contains("`v2`"),
        "{msg}"
    );
    assert!(msg.contains("config.json"), "{msg}");
}

#[test]
fn unreachable_hub_falls_back_to_cache_or_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), REPO, COMMIT, &MARIAN_FILES);
    put_ref(dir.path(), REPO, "main", COMMIT);
    let s = unreachable(dir.path());
    // The optional file's existence is unknown, so the hub is asked; it is down: cache wins.
    let files = resolve_with_weights(&spec(REPO), &s, &REQUIRED, &["generation_config.json"])
        .expect("falls back to the cache");
    assert_eq!(files.commit.as_deref(), Some(COMMIT));

    let err = resolve(&spec(REPO), &s, &["special_tokens_map.json"], &[]).expect_err("miss");
    let msg = err.to_string();
    assert!(msg.contains("unreachable"), "{msg}");
    assert!(msg.contains("special_tokens_map.json"), "{msg}");
    assert!(msg.contains("warta models fetch"), "{msg}");
}

#[test]
fn weights_preference_and_no_exist_markers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = MARIAN_FILES.to_vec();
    files.push(("model.safetensors", b"st"));
    put_snapshot(dir.path(), REPO, COMMIT, &files);
    put_ref(dir.path(), REPO, "main", COMMIT);
    let found =
        resolve_with_weights(&spec(REPO), &offline(dir.path()), &REQUIRED, &[]).expect("resolves");
    assert_eq!(
        found.checkpoint.weights,
        vec![found.checkpoint.dir.join("model.safetensors")]
    );

    // Only pytorch_model.bin, and Python recorded that model.safetensors does not exist:
    // complete without asking the (here unreachable) hub.
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), "org/bin-only", COMMIT, &MARIAN_FILES);
    put_ref(dir.path(), "org/bin-only", "main", COMMIT);
    for name in ["model.safetensors", "model.safetensors.index.json"] {
        put_no_exist(dir.path(), "org/bin-only", COMMIT, name);
    }
    put_no_exist(dir.path(), "org/bin-only", COMMIT, "generation_config.json");
    let (server, hits) = StandInHub::start(HashMap::new());
    let s = HubSettings {
        endpoint: server,
        ..HubSettings::for_cache(dir.path())
    };
    let found = resolve_with_weights(
        &spec("org/bin-only"),
        &s,
        &REQUIRED,
        &["generation_config.json"],
    )
    .expect("resolves");
    assert!(found.checkpoint.weights[0].ends_with("pytorch_model.bin"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a complete cache needs no network"
    );
}

#[test]
fn sharded_weights_resolve_to_their_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = br#"{"metadata": {}, "weight_map": {"a": "pytorch_model-00002-of-00002.bin", "b": "pytorch_model-00001-of-00002.bin", "c": "pytorch_model-00001-of-00002.bin"}}"#;
    let files: Vec<(&str, &[u8])> = vec![
        ("config.json", b"{}"),
        ("pytorch_model.bin.index.json", index),
        ("pytorch_model-00001-of-00002.bin", b"one"),
        ("pytorch_model-00002-of-00002.bin", b"two"),
    ];
    put_snapshot(dir.path(), REPO, COMMIT, &files);
    put_ref(dir.path(), REPO, "main", COMMIT);
    let found = resolve_with_weights(&spec(REPO), &offline(dir.path()), &["config.json"], &[])
        .expect("resolves");
    let names: Vec<String> = found
        .checkpoint
        .weights
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        vec![
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin"
        ]
    );
}

/// An index naming a shard outside the model (`..`, an absolute path) is refused, in the
/// cache and in a local directory alike (one index reader, in `warta::weights`).
#[test]
fn a_shard_outside_the_model_is_refused() {
    for shard in ["../pytorch_model-00001-of-00001.bin", "/etc/passwd"] {
        let index = format!(r#"{{"weight_map": {{"a": "{shard}"}}}}"#);
        let dir = tempfile::tempdir().expect("tempdir");
        let files: Vec<(&str, &[u8])> = vec![
            ("config.json", b"{}"),
            ("pytorch_model.bin.index.json", index.as_bytes()),
        ];
        put_snapshot(dir.path(), REPO, COMMIT, &files);
        put_ref(dir.path(), REPO, "main", COMMIT);
        let err = resolve_with_weights(&spec(REPO), &offline(dir.path()), &["config.json"], &[])
            .expect_err("refused");
        assert!(
            err.to_string().contains("leaves the model directory"),
            "{err}"
        );

        let local = tempfile::tempdir().expect("tempdir");
        std::fs::write(local.path().join("pytorch_model.bin.index.json"), &index).expect("index");
        let err = resolve_with_weights(
            &ModelSpec::Dir(local.path().to_path_buf()),
            &offline(dir.path()),
            &[],
            &[],
        )
        .expect_err("refused");
        assert!(
            err.to_string().contains("leaves the model directory"),
            "{err}"
        );
    }
}

#[test]
fn local_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in MARIAN_FILES {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    let spec = ModelSpec::Dir(dir.path().to_path_buf());
    let s = offline(dir.path()); // settings do not matter for directories
    let found = resolve_with_weights(&spec, &s, &REQUIRED, &["tokenizer_config.json"])
        .expect("directory resolves");
    assert_eq!(found.commit, None);
    assert_eq!(found.checkpoint.dir, dir.path());
    assert_eq!(
        found.checkpoint.weights,
        vec![dir.path().join("pytorch_model.bin")]
    );

    let err = resolve(&spec, &s, &["special_tokens_map.json"], &[]).expect_err("missing");
    assert!(matches!(err, HubError::MissingInDir { .. }));
    assert!(err.to_string().contains("special_tokens_map.json"));

    let gone = ModelSpec::Dir(dir.path().join("nope"));
    let err = resolve(&gone, &s, &REQUIRED, &[]).expect_err("no dir");
    assert!(matches!(err, HubError::DirNotFound { .. }));

    let empty = tempfile::tempdir().expect("tempdir");
    let err = resolve_with_weights(&ModelSpec::Dir(empty.path().to_path_buf()), &s, &[], &[])
        .expect_err("no weights");
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}

#[test]
fn spec_parsing() {
    assert_eq!(
        spec(REPO),
        ModelSpec::Repo {
            id: REPO.into(),
            revision: "main".into()
        }
    );
    assert_eq!(
        spec("gpt2@v1.0"),
        ModelSpec::Repo {
            id: "gpt2".into(),
            revision: "v1.0".into()
        }
    );
    assert_eq!(
        spec(&format!("{REPO}@refs/pr/3")),
        ModelSpec::Repo {
            id: REPO.into(),
            revision: "refs/pr/3".into()
        }
    );
    for dir in ["./models/x", "/abs/model", "../up", "~/m", "a/b/c"] {
        assert_eq!(spec(dir), ModelSpec::Dir(PathBuf::from(dir)), "{dir}");
    }
    let existing = tempfile::tempdir().expect("tempdir");
    let s = existing.path().to_string_lossy().to_string();
    assert_eq!(spec(&s), ModelSpec::Dir(existing.path().to_path_buf()));
    for bad in [
        "",
        "org/na me",
        "org--x/name",
        "org/name@",
        "-org/name",
        "org/name@a/../b",
    ] {
        assert!(
            bad.parse::<ModelSpec>().is_err(),
            "{bad:?} should be rejected"
        );
    }
    assert_eq!(spec("org/name@v2").to_string(), "org/name@v2");
    assert_eq!(spec("org/name").to_string(), "org/name");
    assert_eq!(
        spec(REPO).cache_folder_name().as_deref(),
        Some("models--Helsinki-NLP--opus-mt-id-en")
    );
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn settings_follow_python_precedence() {
    let s = HubSettings::from_lookup(lookup(&[("HOME", "/home/u")]));
    assert_eq!(s.cache_dir, PathBuf::from("/home/u/.cache/huggingface/hub"));
    assert_eq!(s.endpoint, "https://huggingface.co");
    assert_eq!(s.token, None);
    assert!(!s.offline);

    let s = HubSettings::from_lookup(lookup(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")]));
    assert_eq!(s.cache_dir, PathBuf::from("/xdg/huggingface/hub"));

    let s = HubSettings::from_lookup(lookup(&[
        ("HOME", "/home/u"),
        ("XDG_CACHE_HOME", "/xdg"),
        ("HF_HOME", "~/hf"),
    ]));
    assert_eq!(s.cache_dir, PathBuf::from("/home/u/hf/hub"));

    let s = HubSettings::from_lookup(lookup(&[
        ("HF_HOME", "/hf"),
        ("HUGGINGFACE_HUB_CACHE", "/legacy"),
    ]));
    assert_eq!(s.cache_dir, PathBuf::from("/legacy"));
    let s = HubSettings::from_lookup(lookup(&[
        ("HF_HOME", "/hf"),
        ("HUGGINGFACE_HUB_CACHE", "/legacy"),
        ("HF_HUB_CACHE", "/cache"),
    ]));
    assert_eq!(s.cache_dir, PathBuf::from("/cache"));

    let s = HubSettings::from_lookup(lookup(&[("HF_ENDPOINT", "http://mirror.local:8080/")]));
    assert_eq!(s.endpoint, "http://mirror.local:8080");

    for (value, want) in [
        ("1", true),
        ("ON", true),
        ("yes", true),
        ("True", true),
        ("0", false),
        ("no", false),
    ] {
        let s = HubSettings::from_lookup(lookup(&[("HF_HUB_OFFLINE", value)]));
        assert_eq!(s.offline, want, "HF_HUB_OFFLINE={value}");
    }
    let s = HubSettings::from_lookup(lookup(&[("TRANSFORMERS_OFFLINE", "1")]));
    assert!(s.offline);
    // As in Python, a set HF_HUB_OFFLINE wins over TRANSFORMERS_OFFLINE.
    let s = HubSettings::from_lookup(lookup(&[
        ("HF_HUB_OFFLINE", "0"),
        ("TRANSFORMERS_OFFLINE", "1"),
    ]));
    assert!(!s.offline);
}

#[test]
fn token_from_env_beats_token_file() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(home.path().join("token"), "hf_from_file\n").expect("token file");
    let hf_home = home.path().to_string_lossy().to_string();
    let s = HubSettings::from_lookup(lookup(&[("HF_HOME", &hf_home)]));
    assert_eq!(s.token.as_deref(), Some("hf_from_file"));
    let s = HubSettings::from_lookup(lookup(&[("HF_HOME", &hf_home), ("HF_TOKEN", "hf_env")]));
    assert_eq!(s.token.as_deref(), Some("hf_env"));
    let other = home.path().join("elsewhere");
    std::fs::write(&other, "hf_path").expect("token path");
    let other = other.to_string_lossy().to_string();
    let s = HubSettings::from_lookup(lookup(&[("HF_HOME", &hf_home), ("HF_TOKEN_PATH", &other)]));
    assert_eq!(s.token.as_deref(), Some("hf_path"));
}

#[test]
fn list_reports_repos_commits_files_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    put_snapshot(dir.path(), REPO, COMMIT, &MARIAN_FILES);
    put_snapshot(dir.path(), REPO, OLD_COMMIT, &MARIAN_FILES[..1]); // shares config's blob
    put_ref(dir.path(), REPO, "main", COMMIT);
    put_ref(dir.path(), REPO, "refs/pr/1", OLD_COMMIT);
    put_snapshot(dir.path(), "org/other", COMMIT, &[("config.json", b"{}")]);
    std::fs::create_dir_all(dir.path().join("datasets--org--data")).expect("dataset");
    std::fs::create_dir_all(dir.path().join(".locks")).expect("locks");

    let repos = list_cached(&HubSettings::for_cache(dir.path())).expect("lists");
    let ids: Vec<&str> = repos.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec![REPO, "org/other"]);
    let opus = &repos[0];
    let blob_total: u64 = MARIAN_FILES.iter().map(|(_, c)| c.len() as u64).sum();
    assert_eq!(opus.size, blob_total, "shared blobs count once");
    assert_eq!(opus.snapshots.len(), 2);
    let main = opus
        .snapshots
        .iter()
        .find(|s| s.commit == COMMIT)
        .expect("main snapshot");
    assert_eq!(main.refs, vec!["main".to_string()]);
    assert_eq!(main.files.len(), MARIAN_FILES.len());
    let config = main
        .files
        .iter()
        .find(|f| f.name == "config.json")
        .expect("config");
    assert_eq!(config.size, MARIAN_FILES[0].1.len() as u64);
    let old = opus
        .snapshots
        .iter()
        .find(|s| s.commit == OLD_COMMIT)
        .expect("old snapshot");
    assert_eq!(old.refs, vec!["refs/pr/1".to_string()]);

    let empty = list_cached(&HubSettings::for_cache(dir.path().join("missing"))).expect("empty");
    assert!(empty.is_empty());
}

#[test]
fn fetch_refuses_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = fetch(&spec(REPO), &offline(dir.path()), &REQUIRED, &[]).expect_err("offline");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
}

/// A stand-in for the hub's two endpoints hf-hub uses, on 127.0.0.1 only:
/// `GET /api/models/<id>/revision/<rev>` and `GET /<id>/resolve/<rev>/<file>` (with Range).
struct StandInHub;

impl StandInHub {
    /// Serves `files` (repo id -> file name -> content) at commit [`COMMIT`]. Returns the
    /// endpoint and a request counter.
    fn start(files: HashMap<String, HashMap<String, Vec<u8>>>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let files = Arc::new(Mutex::new(files));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let files = files.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &files);
                });
            }
        });
        (endpoint, hits)
    }
}

fn serve(
    stream: std::net::TcpStream,
    files: &Mutex<HashMap<String, HashMap<String, Vec<u8>>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let files = files.lock().map(|f| f.clone()).unwrap_or_default();
    let mut out = stream;
    let respond = |out: &mut std::net::TcpStream,
                   status: &str,
                   headers: &[(String, String)],
                   body: &[u8]|
     -> std::io::Result<()> {
        let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        out.write_all(head.as_bytes())?;
        out.write_all(body)?;
        out.flush()
    };
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((id, _rev)) = rest.split_once("/revision/") else {
            return respond(&mut out, "404 Not Found", &[], b"");
        };
        let Some(repo) = files.get(id) else {
            return respond(
                &mut out,
                "401 Unauthorized",
                &[],
                b"{\"error\":\"Repository not found\"}",
            );
        };
        let siblings: Vec<String> = repo
            .keys()
            .map(|n| format!("{{\"rfilename\": \"{n}\"}}"))
            .collect();
        let body = format!(
            "{{\"sha\": \"{COMMIT}\", \"siblings\": [{}]}}",
            siblings.join(",")
        );
        let headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        return respond(&mut out, "200 OK", &headers, body.as_bytes());
    }
    if let Some((id, rest)) = path[1..].split_once("/resolve/") {
        let file = rest.split_once('/').map(|(_, f)| f).unwrap_or("");
        let Some(content) = files.get(id).and_then(|r| r.get(file)) else {
            return respond(&mut out, "404 Not Found", &[], b"");
        };
        let size = content.len();
        let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
            Some(r) => {
                let (a, b) = r.split_once('-').unwrap_or((r, ""));
                let a: usize = a.parse().unwrap_or(0);
                let b: usize = b.parse().map(|b: usize| b + 1).unwrap_or(size);
                (a.min(size), b.min(size))
            }
            None => (0, size),
        };
        let headers = vec![
            ("ETag".to_string(), format!("\"{}\"", etag(content))),
            ("X-Repo-Commit".to_string(), COMMIT.to_string()),
            (
                "Content-Range".to_string(),
                format!("bytes {start}-{}/{size}", end.saturating_sub(1)),
            ),
        ];
        return respond(
            &mut out,
            "206 Partial Content",
            &headers,
            &content[start..end],
        );
    }
    let mut sink = Vec::new();
    let _ = reader.read_to_end(&mut sink);
    respond(&mut out, "404 Not Found", &[], b"")
}

fn hub_with_marian() -> HashMap<String, HashMap<String, Vec<u8>>> {
    let repo: HashMap<String, Vec<u8>> = MARIAN_FILES
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_vec()))
        .collect();
    [(REPO.to_string(), repo)].into_iter().collect()
}

#[test]
fn download_writes_python_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (endpoint, hits) = StandInHub::start(hub_with_marian());
    let s = HubSettings {
        endpoint,
        ..HubSettings::for_cache(dir.path())
    };
    let files = resolve_with_weights(&spec(REPO), &s, &REQUIRED, &["generation_config.json"])
        .expect("downloads");
    assert_eq!(files.commit.as_deref(), Some(COMMIT));
    let root = dir.path().join("models--Helsinki-NLP--opus-mt-id-en");
    assert_eq!(
        std::fs::read_to_string(root.join("refs/main")).expect("ref"),
        COMMIT,
        "refs/main holds the bare commit hash"
    );
    assert!(!root.join("refs").join(COMMIT).exists(), "no refs/<commit>");
    for (name, content) in MARIAN_FILES {
        let pointer = root.join("snapshots").join(COMMIT).join(name);
        let target = std::fs::read_link(&pointer).expect("a symlink");
        assert_eq!(
            target,
            PathBuf::from(format!("../../blobs/{}", etag(content)))
        );
        assert_eq!(std::fs::read(&pointer).expect("read"), content);
    }
    assert!(root
        .join(".no_exist")
        .join(COMMIT)
        .join("generation_config.json")
        .is_file());
    assert!(root
        .join(".no_exist")
        .join(COMMIT)
        .join("model.safetensors")
        .is_file());
    let blobs: Vec<String> = std::fs::read_dir(root.join("blobs"))
        .expect("blobs")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        blobs
            .iter()
            .all(|b| !b.ends_with(".part") && !b.ends_with(".lock")),
        "nothing half-written left: {blobs:?}"
    );

    // Now complete: the second resolution needs no network, even offline.
    let before = hits.load(Ordering::SeqCst);
    resolve_with_weights(&spec(REPO), &s, &REQUIRED, &["generation_config.json"]).expect("cached");
    assert_eq!(hits.load(Ordering::SeqCst), before);
    resolve_with_weights(&spec(REPO), &offline(dir.path()), &REQUIRED, &[]).expect("offline");

    // fetch asks the hub again but downloads nothing new.
    let fetched = fetch(&spec(REPO), &s, &REQUIRED, &[]).expect("fetch");
    assert_eq!(hits.load(Ordering::SeqCst), before + 1, "one info request");
    assert_eq!(fetched.checkpoint.weights.len(), 1);
}

#[test]
fn hub_errors_name_repo_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (endpoint, _) = StandInHub::start(hub_with_marian());
    let s = HubSettings {
        endpoint: endpoint.clone(),
        ..HubSettings::for_cache(dir.path())
    };
    let err = resolve(&spec(REPO), &s, &["special_tokens_map.json"], &[]).expect_err("absent");
    assert!(matches!(err, HubError::NotInRepo { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(REPO) && msg.contains("special_tokens_map.json"),
        "{msg}"
    );
    assert!(msg.contains(&endpoint), "{msg}");

    let err = resolve(&spec("org/private"), &s, &REQUIRED, &[]).expect_err("no repo");
    let msg = err.to_string();
    assert!(
        msg.contains("org/private") && msg.contains("HF_TOKEN"),
        "{msg}"
    );
}
