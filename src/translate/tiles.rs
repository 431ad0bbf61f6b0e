//! What the packed CPU kernels share (`int8.rs`, `bf16.rs`): the parallel driver (an output
//! of `rows × cols` cut into tiles of [`TILE`] columns by runs of at most `R` rows, the
//! tiles spread over rayon's threads, each kernel call writing its part of the output once,
//! straight into the caller's buffer), the checks of a call, the lookup of a column's tile
//! and the gathering of chosen columns (the f32 panels use both too), and the AMX kernel
//! ([`amx`]).
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Output columns per tile: 4 blocks of 16 (a 512-bit register of 32-bit sums each).
pub(crate) const TILE: usize = 64;
/// Rows per kernel call at most for the register kernels: 24 accumulators with 4 blocks.
pub(crate) const ROWS: usize = 6;
/// Columns per block.
pub(crate) const BLOCK: usize = 16;
/// Blocks per tile.
pub(crate) const TILE_BLOCKS: usize = TILE / BLOCK;

/// How many of `left` rows the next kernel call takes: at most `R`, the rows spread evenly
/// over the calls (32 rows go 6, 6, 5, 5, 5, 5 with `R` = 6, not 6 × 5 and 2).
pub(crate) fn rows_next<const R: usize>(left: usize) -> usize {
    left.div_ceil(left.div_ceil(R))
}

/// `n` values in `[-2, 2)` from a small deterministic generator, for the kernels' tests:
/// their shapes, not their values, are what vary.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let step = |s: u64| {
        s.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut state = step(seed);
    (0..n)
        .map(|_| {
            state = step(state);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Asserts that `forward` (a projection of rows of `d` into rows of `cols`, the kernel
/// picked by the row count) gives rows alone and in small runs the bits it gives them in one
/// call of 20, for the kernels' tests: a sentence's result must not depend on its batch.
#[cfg(test)]
pub(crate) fn rows_alone_as_in_a_batch(
    d: usize,
    cols: usize,
    forward: impl Fn(&[f32], &mut Vec<f32>),
) {
    let rows = 20;
    let xs = test_values(rows * d, 2);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut all = Vec::new();
    forward(&xs, &mut all);
    assert_eq!(all.len(), rows * cols);
    for (r0, n) in [(0, 1), (7, 1), (19, 1), (3, 3), (4, 5)] {
        let mut part = Vec::new();
        forward(&xs[r0 * d..(r0 + n) * d], &mut part);
        assert_eq!(
            bits(&part),
            bits(&all[r0 * cols..(r0 + n) * cols]),
            "rows {r0}+{n}"
        );
    }
}

/// Column `j` of a packed matrix's `cols`, as the tile of `tile_len` values (64 columns)
/// that holds it: for the embeddings tied to an output projection.
pub(crate) fn column_tile<E>(
    data: &[E],
    j: usize,
    cols: usize,
    tile_len: usize,
) -> candle_core::Result<&[E]> {
    if j >= cols {
        candle_core::bail!("embedding: id {j} of a vocabulary of {cols}");
    }
    Ok(&data[(j / TILE) * tile_len..][..tile_len])
}

/// Columns `ids` of a packed matrix of `cols` columns, packed again in that order: column
/// `ids[n]` becomes column `n`, the rest of the last tile zeros. `at(k, c)` places depth `k`
/// of a tile's column `c` in the tile, and a column's depths come in contiguous runs of `run`
/// (`at(k + i, c) = at(k, c) + i` for `k` a multiple of `run`, `i < run`: int8's groups of
/// 4, bf16's pairs, f32's single values); the first `depth` of each column are copied, rounded
/// up to whole runs (the packing pads the depth). A column's values (and so, in the integer
/// and per-column kernels, its outputs) are the same wherever it sits: the vocabulary
/// shortlist's output projection.
pub(crate) fn gather_columns<E: Copy + Default>(
    data: &[E],
    cols: usize,
    tile_len: usize,
    depth: usize,
    run: usize,
    at: impl Fn(usize, usize) -> usize,
    ids: &[u32],
) -> candle_core::Result<Vec<E>> {
    let mut out = vec![E::default(); ids.len().div_ceil(TILE) * tile_len];
    for (n, &j) in ids.iter().enumerate() {
        let j = j as usize;
        let from = column_tile(data, j, cols, tile_len)?;
        let to = &mut out[(n / TILE) * tile_len..][..tile_len];
        for k in (0..depth).step_by(run) {
            let (src, dst) = (at(k, j % TILE), at(k, n % TILE));
            to[dst..dst + run].copy_from_slice(&from[src..src + run]);
        }
    }
    Ok(out)
}

/// Checks a packed projection's call: the inputs' shapes (rows of `d`, a bias of `cols`)
/// and that `kernel` is among the `available` ones of `what` (int8, bf16); the rows.
pub(crate) fn check_call<K: PartialEq + std::fmt::Debug>(
    what: &str,
    available: &[K],
    kernel: K,
    xs: &[f32],
    bias: Option<&[f32]>,
    d: usize,
    cols: usize,
) -> candle_core::Result<usize> {
    let rows = super::project::check_inputs(xs, bias, d, cols)?;
    if !available.contains(&kernel) {
        candle_core::bail!(
            "the {kernel:?} {what} kernel is not available here (CPU features, or for AMX the \
             kernel's permission)"
        );
    }
    Ok(rows)
}

/// One kernel call's part of the output: for each of its `mr` rows (of at most `R`), the
/// row's columns of the tile (as many as the tile has real columns), not yet written; the
/// rest are empty.
pub(crate) type TileOut<'a, const R: usize = ROWS> = [&'a mut [MaybeUninit<f32>]; R];

/// Fills `out` (cleared, then `rows × cols`) by `tile(t, r0, mr, outs)` for every tile `t`
/// (columns `64t..`) and run of at most `R` rows `r0..r0 + mr`, on rayon's threads.
///
/// # Safety
/// `tile` must write every value of `outs`: `out`'s length covers them all after.
pub(crate) unsafe fn for_each_tile<const R: usize>(
    rows: usize,
    cols: usize,
    out: &mut Vec<f32>,
    tile: impl Fn(usize, usize, usize, TileOut<R>) + Sync,
) {
    out.clear();
    if rows == 0 || cols == 0 {
        return;
    }
    out.reserve(rows * cols);
    #[cfg(test)]
    out.spare_capacity_mut().fill(MaybeUninit::new(f32::NAN));
    let out_at = out.as_mut_ptr() as usize;
    let tiles = cols.div_ceil(TILE);
    let per_task = tiles.div_ceil(rayon::current_num_threads() * 4);
    (0..tiles.div_ceil(per_task))
        .into_par_iter()
        .for_each(|task| {
            for t in task * per_task..((task + 1) * per_task).min(tiles) {
                let (j0, n) = (t * TILE, TILE.min(cols - t * TILE));
                let mut r0 = 0;
                while r0 < rows {
                    let mr = rows_next::<R>(rows - r0);
                    // SAFETY: columns j0..j0 + n of rows r0..r0 + mr of `out`'s spare
                    // capacity (at least rows * cols), as not-yet-written values: only
                    // this call touches them, and `tile` writes each.
                    let outs: TileOut<R> = std::array::from_fn(|r| {
                        if r < mr {
                            unsafe {
                                let at =
                                    (out_at as *mut MaybeUninit<f32>).add((r0 + r) * cols + j0);
                                std::slice::from_raw_parts_mut(at, n)
                            }
                        } else {
                            &mut []
                        }
                    });
                    tile(t, r0, mr, outs);
                    r0 += mr;
                }
            }
        });
    // SAFETY: the tiles cover columns 0..cols of every row, each written by `tile`.
    unsafe { out.set_len(rows * cols) };
}

/// AMX, the tile unit of recent Xeons, for both low-precision projections: one call
/// multiplies up to 16 rows of activations by a tile's 64 columns, 64 bytes of the depth a
/// step (32 bf16 or 64 int8 values), the activations one A tile, each 16-column block of
/// weights one B tile, each block's sums one C tile. Both packings hold a block's depth
/// groups (2 bf16 or 4 int8 values: 4 bytes, what one lane sums) in 64-byte rows 256 bytes
/// apart, which is the B tile's layout as it stands.
pub(crate) mod amx {
    use super::TILE;

    /// Rows per call at most: an AMX tile's rows.
    pub(crate) const ROWS: usize = 16;
    /// Fewer rows than this go to the register kernels: at one row (a sentence decoded
    /// alone) AMX int8 took 3.14 s where VNNI took 2.71 on the benchmark; at 32 and 128
    /// rows AMX was 11-14 % faster.
    pub(crate) const MIN_ROWS: usize = 4;
    /// Bytes of the depth per step: an A tile's row. The packings pad the depth to it.
    pub(crate) const DEPTH_BYTES: usize = 64;

    /// Of `available` kernels (fastest first, never empty), the one for a call of `rows`
    /// rows: the fastest, but `amx` only from [`MIN_ROWS`] rows (below, its tiles are mostly
    /// empty and the register kernel after it is faster).
    pub(crate) fn pick<K: Copy + PartialEq>(available: &[K], amx: K, rows: usize) -> K {
        match available {
            [first, next, ..] if *first == amx && rows < MIN_ROWS => *next,
            _ => available[0],
        }
    }

    /// The dot product a kernel runs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Op {
        /// `tdpbf16ps`: bf16 pairs into f32 sums.
        Bf16 = 0,
        /// `tdpbssd`: signed int8 quadruples into int32 sums.
        Int8 = 1,
    }

    /// Whether this CPU has AMX tiles and `op` (CPUID leaf 7: AMX-TILE, AMX-BF16, AMX-INT8)
    /// and Linux lets this process use them (the tile data is a permission each process
    /// asks for). Decided once: CPUID leaves a virtual machine, which is slow.
    pub(crate) fn ready(op: Op) -> bool {
        static READY: std::sync::OnceLock<[bool; 2]> = std::sync::OnceLock::new();
        READY.get_or_init(detect)[op as usize]
    }

    /// [`ready`] for `[Op::Bf16, Op::Int8]`.
    fn detect() -> [bool; 2] {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
            const XFEATURE_XTILEDATA: libc::c_long = 18;
            let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
            let bit = |b: u32| edx & (1 << b) != 0;
            // SAFETY: this arch_prctl request only asks the kernel for a permission; it
            // reads and writes no memory of ours.
            let permitted = bit(24)
                && unsafe {
                    libc::syscall(
                        libc::SYS_arch_prctl,
                        ARCH_REQ_XCOMP_PERM,
                        XFEATURE_XTILEDATA,
                    )
                } == 0;
            [permitted && bit(22), permitted && bit(25)]
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            [false, false]
        }
    }

    /// The 4-byte sums AMX writes, f32 or i32: any bits are a value of either.
    pub(crate) trait Lane: Copy {}
    impl Lane for f32 {}
    impl Lane for i32 {}

    /// The values AMX reads, bf16 bits or int8.
    pub(crate) trait Element: Copy {}
    impl Element for u16 {}
    impl Element for i8 {}

    /// `Σ a[r] · w[c]` for `mr` rows (at most 16) of `a` (`a_stride` bytes apart) and a
    /// packed tile `w` of 64 columns, over the depth both hold (a multiple of 64 bytes per
    /// row), written into the first `mr` rows of `acc` (left as they are found: the kernel
    /// writes them whole; zeroing 4 KB a call was 7 % of an int8 run's samples) and returned.
    /// The lane is f32 for [`Op::Bf16`], i32 for [`Op::Int8`]. Panics unless [`ready`]
    /// said yes for `op` and the sizes fit.
    pub(crate) fn tile<'a, W: Element, T: Lane>(
        op: Op,
        w: &[W],
        a: &[W],
        mr: usize,
        a_stride: usize,
        acc: &'a mut [[std::mem::MaybeUninit<T>; TILE]],
    ) -> &'a [[T; TILE]] {
        let depth = a_stride;
        assert!(ready(op), "AMX {op:?} is not available");
        assert!(std::mem::size_of::<T>() == 4 && (1..=ROWS.min(acc.len())).contains(&mr));
        assert!(depth.is_multiple_of(DEPTH_BYTES) && depth > 0);
        assert!(std::mem::size_of_val(w) >= depth * TILE);
        assert!(std::mem::size_of_val(a) >= (mr - 1) * a_stride + depth);
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        // SAFETY: checked above: AMX and `op` are there and permitted, `a` holds `mr`
        // rows and `w` the tile, both `depth` bytes deep; `acc` holds `mr` rows of 256
        // bytes, which the kernel writes whole, and any 4 bytes are a `T` (`Lane`), so the
        // first `mr` rows are initialised `[T; 64]`s afterwards.
        unsafe {
            x86::tile(
                op,
                w.as_ptr().cast(),
                a.as_ptr().cast(),
                mr,
                a_stride,
                depth,
                acc.as_mut_ptr().cast(),
            );
            &*(&acc[..mr] as *const [[std::mem::MaybeUninit<T>; TILE]] as *const [[T; TILE]])
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        unreachable!("ready() is false off Linux on x86-64")
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    mod x86 {
        use super::{Op, DEPTH_BYTES, TILE};
        use std::arch::asm;

        /// # Safety
        /// AMX with `op` must be available and permitted; `a` must hold `mr` (1 to 16) rows
        /// of `depth` bytes `a_stride` apart, `w` a packed tile `depth` deep (`depth` a
        /// multiple of 64), `acc` `mr` rows of 64 four-byte lanes.
        pub(super) unsafe fn tile(
            op: Op,
            w: *const u8,
            a: *const u8,
            mr: usize,
            a_stride: usize,
            depth: usize,
            acc: *mut u8,
        ) {
            // Palette 1; tmm0-3 the sums and tmm4 the activations (mr rows of 64 bytes),
            // tmm5-7 the weights (16 rows of 64 bytes).
            let mut cfg = [0u8; 64];
            cfg[0] = 1;
            for t in 0..8 {
                cfg[16 + 2 * t] = 64;
                cfg[48 + t] = if t < 5 { mr as u8 } else { 16 };
            }
            // A row of a weight tile is one depth group of a block; the next is 4 blocks on.
            let w_stride = 4 * 64;
            let steps = depth / DEPTH_BYTES;
            // The whole call is one asm block, so that the tile registers it uses are
            // declared clobbered (tmm0-3 the sums, tmm4 the activations, tmm5-7 the
            // weights, tmm5 again for the fourth block). A step: 64 bytes of the depth, 16
            // depth groups of all 4 blocks (16 rows of 256 bytes) of the weights.
            // SAFETY: the configuration is valid for palette 1; each load reads its rows of
            // 64 bytes inside `a` and `w` (the caller's contract: `steps` steps of 64 bytes
            // of `a`, of 16 · 256 bytes of `w`); the stores write `mr` rows of 64 bytes, 256
            // bytes apart, inside `acc`; the tile state is released at the end.
            macro_rules! call {
                ($dot:literal) => {
                    asm!(
                        "ldtilecfg [{cfg}]",
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        "2:",
                        "tileloadd tmm4, [{a} + {sa}*1]",
                        "tileloadd tmm5, [{w} + {sw}*1]",
                        concat!($dot, " tmm0, tmm4, tmm5"),
                        "tileloadd tmm6, [{w} + {sw}*1 + 64]",
                        concat!($dot, " tmm1, tmm4, tmm6"),
                        "tileloadd tmm7, [{w} + {sw}*1 + 128]",
                        concat!($dot, " tmm2, tmm4, tmm7"),
                        "tileloadd tmm5, [{w} + {sw}*1 + 192]",
                        concat!($dot, " tmm3, tmm4, tmm5"),
                        "add {a}, 64",
                        "add {w}, {wstep}",
                        "dec {n}",
                        "jnz 2b",
                        "tilestored [{c} + {sw}*1], tmm0",
                        "tilestored [{c} + {sw}*1 + 64], tmm1",
                        "tilestored [{c} + {sw}*1 + 128], tmm2",
                        "tilestored [{c} + {sw}*1 + 192], tmm3",
                        "tilerelease",
                        cfg = in(reg) cfg.as_ptr(),
                        a = inout(reg) a => _,
                        w = inout(reg) w => _,
                        n = inout(reg) steps => _,
                        sa = in(reg) a_stride,
                        sw = in(reg) w_stride,
                        wstep = in(reg) 16 * w_stride,
                        c = in(reg) acc,
                        out("tmm0") _, out("tmm1") _, out("tmm2") _, out("tmm3") _,
                        out("tmm4") _, out("tmm5") _, out("tmm6") _, out("tmm7") _,
                        options(nostack)
                    )
                };
            }
            debug_assert!(steps > 0 && w_stride == TILE * 4);
            unsafe {
                match op {
                    Op::Bf16 => call!("tdpbf16ps"),
                    Op::Int8 => call!("tdpbssd"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_written_once_by_its_tile() {
        for (rows, cols) in [(1, 1), (7, 64), (32, 130), (13, 200)] {
            let mut out = vec![1.0; 3];
            // SAFETY: the closure writes every value of its part.
            unsafe {
                for_each_tile::<ROWS>(rows, cols, &mut out, |t, r0, mr, outs| {
                    for (r, o) in outs.into_iter().enumerate() {
                        assert_eq!(o.is_empty(), r >= mr);
                        for (j, v) in o.iter_mut().enumerate() {
                            v.write(((r0 + r) * cols + t * TILE + j) as f32);
                        }
                    }
                })
            };
            let want: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            assert_eq!(out, want, "{rows} x {cols}");
        }
    }

    #[test]
    fn rows_are_spread_evenly() {
        let split = |mut left: usize| {
            let mut s = vec![];
            while left > 0 {
                s.push(rows_next::<ROWS>(left));
                left -= s[s.len() - 1];
            }
            s
        };
        assert_eq!(split(32), [6, 6, 5, 5, 5, 5]);
        assert_eq!(split(6), [6]);
        assert_eq!(split(7), [4, 3]);
        assert_eq!(split(1), [1]);
        assert_eq!(rows_next::<16>(32), 16);
        assert_eq!(rows_next::<16>(20), 10);
    }

    #[test]
    fn amx_is_picked_from_four_rows_when_it_is_there() {
        assert_eq!(amx::pick(&["amx", "vnni", "portable"], "amx", 1), "vnni");
        assert_eq!(amx::pick(&["amx", "vnni", "portable"], "amx", 3), "vnni");
        assert_eq!(amx::pick(&["amx", "vnni", "portable"], "amx", 4), "amx");
        assert_eq!(amx::pick(&["vnni", "portable"], "amx", 32), "vnni");
        assert_eq!(amx::pick(&["portable"], "amx", 1), "portable");
    }
}
