//! How fast warta's sentence embedder is on a file of sentences, for `benches/embed_bench.py`,
//! which runs sentence-transformers on the same sentences and threads and compares the two.
//!
//!     RAYON_NUM_THREADS=2 cargo bench --bench embed -- SENTENCES MODEL_DIR \
//!         [--repeat N] [--candle] [--out VECTORS]
//!
//! SENTENCES has one sentence a line; MODEL_DIR is a sentence-transformers checkpoint. The
//! model is loaded and embeds the first 64 sentences untimed (warm-up), then all of them in
//! one call, N times (default 1). Prints one JSON line: the number of sentences, each run's
//! seconds, the threads and the encoder. `--candle` runs candle-transformers' encoder instead
//! of the host one; `--out` writes the vectors as little-endian f32, row by row.
use std::io::Write;
use std::time::Instant;

use candle_core::Device;
use warta::summarize::embed::{Backend, Embedder};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (mut positional, mut repeat, mut backend, mut out) =
        (Vec::new(), 1usize, Backend::Host, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--repeat N")
            }
            "--candle" => backend = Backend::Candle,
            "--out" => out = Some(args.next().expect("--out FILE")),
            _ => positional.push(a),
        }
    }
    let [sentences, model] = positional.as_slice() else {
        panic!("usage: embed SENTENCES MODEL_DIR [--repeat N] [--candle] [--out FILE]");
    };
    let text = std::fs::read_to_string(sentences).expect("cannot read the sentences");
    let lines: Vec<&str> = text.lines().collect();
    let embedder = Embedder::load_with(std::path::Path::new(model), &Device::Cpu, backend)
        .expect("cannot load the model");
    embedder
        .embed(&lines[..lines.len().min(64)])
        .expect("warm-up");
    let mut seconds = Vec::new();
    let mut vectors = Vec::new();
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        vectors = embedder.embed(&lines).expect("embedding failed");
        seconds.push(start.elapsed().as_secs_f64());
    }
    if let Some(path) = out {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("--out"));
        for x in vectors.iter().flatten() {
            f.write_all(&x.to_le_bytes()).expect("writing --out");
        }
    }
    println!(
        "{{\"sentences\": {}, \"seconds\": {:?}, \"threads\": {}, \"backend\": \"{:?}\"}}",
        lines.len(),
        seconds,
        rayon::current_num_threads(),
        backend
    );
}
