//! The parallel driver the packed CPU kernels share (`int8.rs`, `bf16.rs`): an output of
//! `rows × cols` cut into tiles of [`TILE`] columns by runs of at most [`ROWS`] rows, the
//! tiles spread over rayon's threads, each kernel call writing its part of the output once,
//! straight into the caller's buffer.
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

/// One kernel call's part of the output: for each of its `mr` rows (of at most `R`), the
/// row's columns of the tile (as many as the tile has real columns), not yet written; the
/// rest are empty.
pub(crate) type TileOut<'a, const R: usize = ROWS> = [&'a mut [MaybeUninit<f32>]; R];

/// Fills `out` (cleared, then `rows × cols`) by `tile(t, r0, mr, outs)` for every tile `t`
/// (columns `64t..`) and run of at most `R` rows `r0..r0 + mr`, on rayon's threads. `tile`
/// must write every value of `outs`.
pub(crate) fn for_each_tile<const R: usize>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_written_once_by_its_tile() {
        for (rows, cols) in [(1, 1), (7, 64), (32, 130), (13, 200)] {
            let mut out = vec![1.0; 3];
            for_each_tile::<ROWS>(rows, cols, &mut out, |t, r0, mr, outs| {
                for (r, o) in outs.into_iter().enumerate() {
                    assert_eq!(o.is_empty(), r >= mr);
                    for (j, v) in o.iter_mut().enumerate() {
                        v.write(((r0 + r) * cols + t * TILE + j) as f32);
                    }
                }
            });
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
}
