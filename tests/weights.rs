//! Tests for `warta::weights`: the same tiny state dict saved by torch as a legacy stream, as a
//! zip archive and as safetensors (tests/fixtures/make_weights.py) must load to the values
//! torch recorded, with tied weights, transposed and offset views, f16/bf16/f32 and an i64
//! buffer; damaged files must fail with an error naming the file, never panic.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use warta::weights::{
    detect_format, load_var_builder, read_pytorch_bin, Checkpoint, Weights, WeightsError,
    WeightsFormat, WEIGHT_CANDIDATES,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights")
        .join(name)
}

#[derive(serde::Deserialize)]
struct Expected {
    dtype: String,
    shape: Vec<usize>,
    values: Vec<f64>,
}

fn expected() -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(fixture("views_expected.json")).expect("expected json");
    serde_json::from_str(&text).expect("valid expected json")
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .expect("tensor values")
}

fn stored_dtype(name: &str) -> DType {
    match name {
        "float32" => DType::F32,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" => DType::I64,
        other => panic!("unexpected dtype {other} in fixture"),
    }
}

const ALL: [&str; 3] = ["views_legacy.bin", "views_zip.bin", "views.safetensors"];

#[test]
fn formats_are_detected() {
    let cases = [
        ("views_legacy.bin", WeightsFormat::PytorchLegacy),
        ("views_zip.bin", WeightsFormat::PytorchZip),
        ("views.safetensors", WeightsFormat::Safetensors),
    ];
    for (file, format) in cases {
        assert_eq!(detect_format(&fixture(file)).expect(file), format, "{file}");
    }
}

#[test]
fn pytorch_bins_match_torch_in_stored_dtypes() {
    let expected = expected();
    for file in ["views_legacy.bin", "views_zip.bin"] {
        let tensors = read_pytorch_bin(&fixture(file)).expect(file);
        let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names.len(),
            expected.len(),
            "{file}: every tensor, in state-dict order: {names:?}"
        );
        for (name, tensor) in &tensors {
            let want = &expected[name];
            assert_eq!(tensor.dims(), want.shape.as_slice(), "{file} {name} shape");
            assert_eq!(
                tensor.dtype(),
                stored_dtype(&want.dtype),
                "{file} {name} dtype"
            );
            assert_eq!(values(tensor), want.values, "{file} {name} values");
        }
    }
}

#[test]
fn every_format_loads_the_same_values_as_f32() {
    let expected = expected();
    for file in ALL {
        let weights = Weights::load(&[fixture(file)], DType::F32, &Device::Cpu).expect(file);
        assert_eq!(weights.len(), expected.len(), "{file}");
        for (name, want) in &expected {
            let t = weights.get(name).expect(name);
            assert_eq!(t.dims(), want.shape.as_slice(), "{file} {name} shape");
            let dtype = if want.dtype == "int64" {
                DType::I64 // integer buffers keep their type
            } else {
                DType::F32
            };
            assert_eq!(t.dtype(), dtype, "{file} {name} dtype");
            assert_eq!(values(&t), want.values, "{file} {name} values");
        }
    }
}

#[test]
fn views_are_rebuilt_from_shared_storage() {
    let w = Weights::load(&[fixture("views_legacy.bin")], DType::F32, &Device::Cpu)
        .expect("legacy loads");
    let base = values(&w.get("enc.weight").expect("enc.weight"));
    // Tied: same values under both names.
    assert_eq!(values(&w.get("dec.weight").expect("dec.weight")), base);
    // Transposed view: lm_head[j][i] == base[i][j].
    let t = values(&w.get("lm_head.weight").expect("lm_head"));
    for i in 0..3 {
        for j in 0..4 {
            assert_eq!(t[j * 3 + i], base[i * 4 + j]);
        }
    }
    // Offset views.
    assert_eq!(
        values(&w.get("enc.row1").expect("row1")),
        base[4..8].to_vec()
    );
    assert_eq!(
        values(&w.get("enc.col2").expect("col2")),
        vec![base[2], base[6], base[10]]
    );
    assert_eq!(
        values(&w.get("enc.block").expect("block")),
        vec![base[5], base[6], base[9], base[10]]
    );
}

#[test]
fn dtype_conversion_applies_to_floats_only() {
    let w = Weights::load(&[fixture("views_zip.bin")], DType::F16, &Device::Cpu).expect("zip");
    assert_eq!(w.get("enc.weight").expect("enc").dtype(), DType::F16);
    assert_eq!(w.get("bf.weight").expect("bf").dtype(), DType::F16);
    assert_eq!(w.get("position_ids").expect("ids").dtype(), DType::I64);
    let w = Weights::load(&[fixture("views.safetensors")], DType::BF16, &Device::Cpu)
        .expect("safetensors");
    assert_eq!(w.get("half.weight").expect("half").dtype(), DType::BF16);
    assert_eq!(w.get("position_ids").expect("ids").dtype(), DType::I64);
}

#[test]
fn var_builder_serves_tensors_and_names_missing_ones() {
    for file in ALL {
        let vb = load_var_builder(&[fixture(file)], DType::F32, &Device::Cpu).expect(file);
        let t = vb
            .get((3, 4), "enc.weight")
            .expect("enc.weight via VarBuilder");
        assert_eq!(t.dims(), &[3, 4]);
        let t = vb.pp("enc").get(4, "row1").expect("prefixed name");
        assert_eq!(t.dims(), &[4]);
        assert!(vb.contains_tensor("lm_head.weight"));
        assert!(!vb.contains_tensor("model.nope"));

        let err = vb
            .get((3, 4), "model.encoder.missing")
            .expect_err("missing tensor");
        let msg = err.to_string();
        assert!(msg.contains("model.encoder.missing"), "{file}: {msg}");
        assert!(msg.contains(file), "{file}: error names the file: {msg}");

        let err = vb.get((4, 4), "enc.weight").expect_err("wrong shape");
        let msg = err.to_string();
        assert!(msg.contains("enc.weight"), "{file}: {msg}");
    }
}

#[test]
fn missing_tensor_error_names_tensor() {
    let w =
        Weights::load(&[fixture("views_legacy.bin")], DType::F32, &Device::Cpu).expect("legacy");
    let err = w.get("decoder.layers.0.fc1.weight").expect_err("missing");
    assert!(matches!(err, WeightsError::MissingTensor { .. }));
    assert!(err.to_string().contains("decoder.layers.0.fc1.weight"));
}

#[test]
fn sharded_index_loads_every_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Tensor::arange(0f32, 6., &Device::Cpu)
        .and_then(|t| t.reshape((2, 3)))
        .expect("a");
    let b = Tensor::arange(0f32, 4., &Device::Cpu).expect("b");
    let shard1 = dir.path().join("model-00001-of-00002.safetensors");
    let shard2 = dir.path().join("model-00002-of-00002.safetensors");
    candle_core::safetensors::save(&[("a".to_string(), a)].into_iter().collect(), &shard1)
        .expect("save 1");
    candle_core::safetensors::save(&[("b".to_string(), b)].into_iter().collect(), &shard2)
        .expect("save 2");
    let index = dir.path().join("model.safetensors.index.json");
    std::fs::write(
        &index,
        r#"{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
    )
    .expect("index");
    let w = Weights::load(&[index], DType::F32, &Device::Cpu).expect("index loads");
    assert_eq!(w.names(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(w.files().len(), 2);
}

/// A shard index whose `weight_map` names a file outside the model directory is refused
/// when loading weights, as the hub refuses it when resolving a model.
#[test]
fn a_shard_name_that_leaves_the_directory_is_refused() {
    let outer = tempfile::tempdir().expect("tempdir");
    let dir = outer.path().join("model");
    std::fs::create_dir(&dir).expect("model dir");
    let a = Tensor::arange(0f32, 4., &Device::Cpu).expect("a");
    candle_core::safetensors::save(
        &[("a".to_string(), a)].into_iter().collect(),
        outer.path().join("outside.safetensors"),
    )
    .expect("save");
    for shard in [
        "../outside.safetensors",
        "/etc/passwd",
        "sub\\\\x.safetensors",
    ] {
        let index = dir.join("model.safetensors.index.json");
        std::fs::write(
            &index,
            format!(r#"{{"metadata": {{}}, "weight_map": {{"a": "{shard}"}}}}"#),
        )
        .expect("index");
        let err = Weights::load(std::slice::from_ref(&index), DType::F32, &Device::Cpu)
            .expect_err("refused");
        let msg = err.to_string();
        assert!(matches!(err, WeightsError::Corrupt { .. }), "{err:?}");
        assert!(msg.contains("leaves the model directory"), "{msg}");
        assert!(msg.contains("model.safetensors.index.json"), "{msg}");
        // The directory's checkpoint is refused the same way.
        let err = Checkpoint::find(&dir).expect_err("refused");
        assert!(
            err.to_string().contains("leaves the model directory"),
            "{err}"
        );
    }
}

/// A model directory's weights: the first of WEIGHT_CANDIDATES present, an index replaced by
/// its shards (each of which must exist), and an error naming the candidates when none is.
#[test]
fn a_directory_checkpoint_follows_the_one_preference_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Checkpoint::find(dir.path()).expect_err("no weights");
    assert!(matches!(err, WeightsError::NoWeights { .. }), "{err:?}");
    for candidate in WEIGHT_CANDIDATES {
        assert!(err.to_string().contains(candidate), "{err}");
    }
    std::fs::write(
        dir.path().join("pytorch_model.bin.index.json"),
        r#"{"weight_map": {"a": "pytorch_model-2.bin", "b": "pytorch_model-1.bin"}}"#,
    )
    .expect("index");
    let err = Checkpoint::find(dir.path()).expect_err("shards missing");
    assert!(matches!(err, WeightsError::MissingShard { .. }), "{err:?}");
    for shard in ["pytorch_model-1.bin", "pytorch_model-2.bin"] {
        std::fs::write(dir.path().join(shard), b"").expect("shard");
    }
    let found = Checkpoint::find(dir.path()).expect("sharded");
    assert_eq!(found.dir, dir.path());
    assert_eq!(
        found.weights,
        vec![
            dir.path().join("pytorch_model-1.bin"),
            dir.path().join("pytorch_model-2.bin")
        ]
    );
    std::fs::write(dir.path().join("pytorch_model.bin"), b"").expect("bin");
    assert_eq!(
        Checkpoint::find(dir.path()).expect("bin").weights,
        vec![dir.path().join("pytorch_model.bin")]
    );
    std::fs::write(dir.path().join("model.safetensors"), b"").expect("st");
    assert_eq!(
        Checkpoint::find(dir.path()).expect("st").weights,
        vec![dir.path().join("model.safetensors")]
    );
}

/// Loading a safetensors tensor drops the process's mapping of its bytes once copied out;
/// reading it again (tied weights are looked up under several names) maps the same bytes back.
/// Tensors larger than a page, so whole pages are dropped.
#[test]
fn tensors_read_twice_from_a_released_mapping_are_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = Tensor::arange(0f32, 50_000., &Device::Cpu)
        .and_then(|t| t.reshape((100, 500)))
        .expect("big");
    let other = (Tensor::arange(0f32, 3_000., &Device::Cpu).expect("other") * -1.5).expect("x");
    let path = dir.path().join("model.safetensors");
    let tensors = [
        ("big".to_string(), big.clone()),
        ("other".to_string(), other.clone()),
    ];
    candle_core::safetensors::save(&tensors.into_iter().collect(), &path).expect("save");
    let w = Weights::load(&[path], DType::F32, &Device::Cpu).expect("loads");
    for _ in 0..3 {
        for (name, want) in [("big", &big), ("other", &other)] {
            let got = w.get(name).expect("get");
            assert_eq!(values(&got), values(want), "{name}");
        }
    }
}

/// Storage entries of a zip checkpoint are borrowed from the mapped file rather than read,
/// and still checked: a flipped byte inside one fails with the file and the checksum named.
#[test]
fn a_flipped_byte_in_a_zip_storage_fails_its_checksum() {
    let bytes = std::fs::read(fixture("views_zip.bin")).expect("fixture");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).expect("zip");
    let name = zip
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| n.contains("/data/"))
        .expect("a storage entry")
        .to_string();
    let (start, len) = {
        let entry = zip.by_name(&name).expect("entry");
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        (
            entry.data_start().expect("data start") as usize,
            entry.size() as usize,
        )
    };
    assert!(len > 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flipped_zip.bin");
    let mut damaged = bytes.clone();
    damaged[start + len / 2] ^= 0x01;
    std::fs::write(&path, &damaged).expect("write");
    let err = Weights::load(std::slice::from_ref(&path), DType::F32, &Device::Cpu)
        .expect_err("a damaged storage must not load");
    let msg = err.to_string();
    assert!(
        msg.contains("flipped_zip.bin") && msg.contains("checksum"),
        "{msg}"
    );
    // The undamaged file loads the values torch recorded.
    std::fs::write(&path, &bytes).expect("write");
    let weights = Weights::load(std::slice::from_ref(&path), DType::F32, &Device::Cpu)
        .expect("the undamaged file loads");
    let expected = expected();
    assert_eq!(weights.len(), expected.len());
    for (name, want) in &expected {
        let t = weights.get(name).expect(name);
        assert_eq!(values(&t), want.values, "{name}");
    }
}

fn assert_fails_naming(path: &Path, what: &str) {
    let result = Weights::load(&[path.to_path_buf()], DType::F32, &Device::Cpu);
    match result {
        Ok(w) => panic!("{what}: loaded {} tensors from a damaged file", w.len()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{what}: error does not name the file: {msg}"
            );
        }
    }
}

#[test]
fn every_truncation_fails_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ALL {
        let bytes = std::fs::read(fixture(file)).expect("fixture");
        let cut_path = dir.path().join(format!("cut_{file}"));
        // Every cut through the headers and the end, every 7th byte in between.
        let n = bytes.len();
        let cuts = (0..n).filter(|&len| len < 256 || len + 32 > n || len % 7 == 0);
        for len in cuts {
            std::fs::write(&cut_path, &bytes[..len]).expect("write");
            assert_fails_naming(&cut_path, &format!("{file} cut to {len} bytes"));
        }
    }
}

#[test]
fn garbage_fails_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.bin", Vec::new()),
        ("text.bin", b"this is not a checkpoint\n".to_vec()),
        ("pickle_garbage.bin", {
            let mut v = vec![0x80, 0x02];
            v.extend((0..500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            v
        }),
        ("zip_garbage.bin", {
            let mut v = b"PK\x03\x04".to_vec();
            v.extend((0..500u32).map(|i| (i.wrapping_mul(40_503) >> 3) as u8));
            v
        }),
        (
            "bad.safetensors",
            b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}       ".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        assert_fails_naming(&path, name);
    }
    let err = Weights::load(
        &[dir.path().join("does-not-exist.bin")],
        DType::F32,
        &Device::Cpu,
    )
    .expect_err("missing file");
    assert!(err.to_string().contains("does-not-exist.bin"));
    assert!(matches!(
        Weights::load(&[], DType::F32, &Device::Cpu),
        Err(WeightsError::NoFiles)
    ));
}

/// Flipping a byte (every third one) may change values or break the file, but must never panic.
#[test]
fn byte_flips_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["views_legacy.bin", "views_zip.bin"] {
        let bytes = std::fs::read(fixture(file)).expect("fixture");
        let path = dir.path().join(format!("flip_{file}"));
        for i in (0..bytes.len()).step_by(3) {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0xff;
            std::fs::write(&path, &damaged).expect("write");
            if let Err(e) = Weights::load(std::slice::from_ref(&path), DType::F32, &Device::Cpu) {
                assert!(e.to_string().contains("flip_"), "{file} byte {i}: {e}");
            }
        }
    }
}

/// The fixture helper's files (tests/fixtures/make_fixtures.py): the tiny Marian checkpoints
/// and the `mixed` dict (i32, u8, bool, f64, scalar, empty, views, tied), checked against its
/// expected.json.
#[test]
fn fixture_helper_checkpoints_match_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected_path = root.join("weights/expected.json");
    let text = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    let expected: serde_json::Value = serde_json::from_str(&text).expect("expected.json");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());

    // Every summary: dtype-independent values in float64, row-major.
    let check = |file: &Path, section: &str| {
        let Some(tensors) = expected.get(section).and_then(|s| s.as_object()) else {
            panic!("expected.json has no `{section}`");
        };
        let w = Weights::load(&[file.to_path_buf()], DType::F64, &Device::Cpu)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.len(), tensors.len(), "{}: tensor count", file.display());
        for (name, want) in tensors {
            let t = w.get(name).unwrap_or_else(|e| panic!("{e}"));
            let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).expect("shape");
            assert_eq!(t.dims(), shape.as_slice(), "{} {name}", file.display());
            let v = values(&t);
            if let Some(all) = want.get("values").and_then(|v| v.as_array()) {
                let all: Vec<f64> = all.iter().filter_map(|x| x.as_f64()).collect();
                assert_eq!(v.len(), all.len(), "{} {name}", file.display());
                for (a, b) in v.iter().zip(&all) {
                    assert!(close(*a, *b), "{} {name}: {a} != {b}", file.display());
                }
            }
            let sum: f64 = v.iter().sum();
            let abs_sum: f64 = v.iter().map(|x| x.abs()).sum();
            assert!(
                close(sum, want["sum"].as_f64().unwrap_or(f64::NAN)),
                "{name} sum"
            );
            assert!(
                close(abs_sum, want["abs_sum"].as_f64().unwrap_or(f64::NAN)),
                "{name}"
            );
            // serde_json's float parsing may be one ulp off Python's repr: compare closely.
            let first4: Vec<f64> = serde_json::from_value(want["first4"].clone()).expect("first4");
            for (a, b) in v.iter().zip(&first4) {
                assert!(close(*a, *b), "{name} first4: {a} != {b}");
            }
            match (v.last(), want["last"].as_f64()) {
                (Some(a), Some(b)) => assert!(close(*a, b), "{name} last: {a} != {b}"),
                (a, b) => assert_eq!(a.copied(), b, "{name} last"),
            }
        }
    };
    check(
        &root.join("marian-separate/pytorch_model.bin"),
        "separate_state_dict",
    );
    check(
        &root.join("weights/zip_pytorch_model.bin"),
        "separate_state_dict",
    );
    check(
        &root.join("marian-shared/model.safetensors"),
        "shared_model_safetensors",
    );
    for file in ["mixed_legacy.bin", "mixed_zip.bin", "mixed.safetensors"] {
        check(&root.join("weights").join(file), "mixed");
    }
    assert_eq!(
        detect_format(&root.join("marian-separate/pytorch_model.bin")).expect("format"),
        WeightsFormat::PytorchLegacy
    );
}
