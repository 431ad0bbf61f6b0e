//! Why the CPU projections are stored as panels: `x @ w_t + bias` through candle's matmul on a
//! `[d, cols]` matrix (what warta did before) against `Projection`'s packed panels, for the
//! shapes of opus-mt-id-en's decoding steps and encoder, on rayon's threads.
//!
//!     cargo bench --bench projection [-- REPEATS]
//!
//! Prints one line per shape: GFLOP/s (GB/s of weights read, for one row) of each layout,
//! and of the int8 projection (`--dtype int8`: its integer multiply-adds counted as FLOPs,
//! or GB/s of its int8 weights).
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use warta::translate::project::Projection;

/// The fastest of `repeats` runs: on a shared machine the others' load only ever adds time.
fn time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> candle_core::Result<()> {
    let repeats: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let dev = Device::Cpu;
    println!(
        "{} threads, {repeats} repeats; matrix = candle matmul + bias on [d, cols], panels = Projection::from_rows",
        rayon::current_num_threads()
    );
    // (what, rows, d, cols): beam 4 x batch 32 = 128 rows; greedy batch 32; one sentence;
    // the encoder of a 32-sentence batch of 44 tokens.
    let shapes = [
        ("output projection, beam 4 b32", 128, 512, 54_796),
        ("q|k|v, beam 4 b32", 128, 512, 1536),
        ("fc1, beam 4 b32", 128, 512, 2048),
        ("fc2, beam 4 b32", 128, 2048, 512),
        ("output projection, greedy b32", 32, 512, 54_796),
        ("q|k|v, greedy b32", 32, 512, 1536),
        ("fc2, greedy b32", 32, 2048, 512),
        ("output projection, one row", 1, 512, 54_796),
        ("fc1, one row", 1, 512, 2048),
        ("encoder fc1, 32 x 44 tokens", 1408, 512, 2048),
    ];
    for (what, rows, d, cols) in shapes {
        let w_t = Tensor::randn(0f32, 0.05, (d, cols), &dev)?;
        let bias = Tensor::randn(0f32, 0.05, cols, &dev)?;
        let x = Tensor::randn(0f32, 1.0, (rows, d), &dev)?;
        let matrix = Projection::Matrix(w_t.clone());
        let panels = Projection::from_rows(&w_t.t()?)?;
        let int8 = Projection::from_rows_int8(&w_t.t()?)?;
        let n = if rows == 1 { repeats * 10 } else { repeats };
        let run = |p: &Projection| {
            time(n, || {
                let y = p.forward(&x, Some(&bias)).expect("forward");
                assert_eq!(y.dtype(), DType::F32);
            })
        };
        let (a, b, c) = (run(&matrix), run(&panels), run(&int8));
        let rate = |s: f64, bytes: usize| {
            if rows == 1 {
                format!("{:.1} GB/s", (d * cols * bytes) as f64 / s / 1e9)
            } else {
                format!("{:.0} GFLOP/s", 2.0 * (rows * d * cols) as f64 / s / 1e9)
            }
        };
        println!(
            "{what:<32} matrix {:>12}  panels {:>12}  ({:.2}x)  int8 {:>12}",
            rate(a, 4),
            rate(b, 4),
            a / b,
            rate(c, 1)
        );
    }
    Ok(())
}
