//! The Marian model's projections, `x @ w_t + bias` with `w_t: [d, cols]`: its dense layers
//! and its output projection, which are most of a decoding step's time.
//!
//! On the CPU in f32 the weights are stored the way gemm's kernel reads them. For a row-major
//! output gemm transposes the problem, so the weights become its left operand, which its f32
//! AVX-512 kernel reads as panels of 64 rows (here: 64 output columns) by the full depth.
//! Given `[d, cols]`, gemm copies every panel out on every call ("packing", 13 % of all
//! samples at beam 4), and for a single row its matrix-vector path strides across the whole
//! matrix. Kept as contiguous `d x 64` panels, each output panel is one small gemm call that
//! reads its weights straight from memory, once: at beam 4, batch 32 the output projection
//! ran at 330 GFLOP/s as one call and at 380 as panels, the dense layers at 270-310 and
//! 395-420; a matrix-vector product over the output projection streamed 25 GB/s and 44
//! (`BENCHMARKS.md`). Other devices and dtypes keep `[d, cols]` for candle's matmul.
//!
//! The sentence-embedding encoder (`summarize/bert.rs`) runs its dense layers through the
//! same [`Panels`], on host slices ([`Panels::forward_into`]) rather than tensors.
use std::sync::{Arc, Once};

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::bf16::Bf16Panels;
use super::int8::Int8Panels;
use super::tiles::column_tile;
use crate::device::Precision;

/// Output columns per panel: the height of gemm's f32 AVX-512 kernel (4 vectors of 16).
const PANEL: usize = 64;
// The panels are tiles in `tiles::column_tile`'s sense.
const _: () = assert!(PANEL == super::tiles::TILE);

/// gemm copies a left operand into panels when the right one has more than this many kernel
/// widths (6 columns) of columns; ours has one column per row of `x`. 64 leaves batches of up
/// to 384 rows (128 beam hypotheses, or a 32-sentence batch) reading the stored panels; the
/// default, 8, packed every call above 48 rows. gemm keeps the threshold per process, so it
/// also applies to candle's own single-threaded matmuls (the summariser's, the embedding
/// model's): packing changes their speed, never their results.
const PACKING_THRESHOLD: usize = 64;

/// A projection weight `w_t: [d, cols]`.
#[derive(Clone)]
pub enum Projection {
    /// `[d, cols]`, contiguous, for candle's matmul (other devices and dtypes).
    Matrix(Tensor),
    /// CPU f32, made by [`Projection::from_rows`].
    Panels(Panels),
    /// CPU int8 (`--dtype int8`), made by [`Projection::from_rows_int8`].
    Int8(Int8Panels),
    /// CPU bf16 (`--dtype bf16` on the CPU), made by [`Projection::from_rows_bf16`].
    Bf16(Bf16Panels),
}

/// What the low-precision weights (int8, bf16) give a projection: host rows in and out,
/// and their columns back in f32 (the tied embeddings).
trait LowPrecision {
    fn d(&self) -> usize;
    fn forward_into(
        &self,
        xs: &[f32],
        bias: Option<&[f32]>,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<()>;
    fn column(&self, j: usize, out: &mut Vec<f32>) -> candle_core::Result<()>;
}

macro_rules! low_precision {
    ($t:ty) => {
        impl LowPrecision for $t {
            fn d(&self) -> usize {
                <$t>::d(self)
            }
            fn forward_into(
                &self,
                xs: &[f32],
                bias: Option<&[f32]>,
                out: &mut Vec<f32>,
            ) -> candle_core::Result<()> {
                <$t>::forward_into(self, xs, bias, out)
            }
            fn column(&self, j: usize, out: &mut Vec<f32>) -> candle_core::Result<()> {
                <$t>::column(self, j, out)
            }
        }
    };
}
low_precision!(Int8Panels);
low_precision!(Bf16Panels);

/// `x @ w_t + bias` through low-precision weights, as host rows.
fn low_forward(
    p: &dyn LowPrecision,
    x: &Tensor,
    bias: Option<&Tensor>,
) -> candle_core::Result<Vec<f32>> {
    host_rows(x, bias, p.d(), |xs, b| {
        let mut out = Vec::new();
        p.forward_into(xs, b, &mut out)?;
        Ok(out)
    })
}

/// Columns `ids` of low-precision weights, as f32 rows `[n, d]`.
fn low_columns(p: &dyn LowPrecision, ids: &Tensor) -> candle_core::Result<Tensor> {
    let ids = ids.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let mut out = Vec::with_capacity(ids.len() * p.d());
    for &id in &ids {
        p.column(id as usize, &mut out)?;
    }
    Tensor::from_vec(out, (ids.len(), p.d()), &candle_core::Device::Cpu)
}

/// Panel `p` holds columns `64p .. 64p + 64` of `w_t: [d, cols]` as a contiguous row-major
/// `d x 64` block, zero-padded past `cols`. Shared by the clones (the tied embeddings).
/// Private fields: the kernels trust `data` to hold every panel.
#[derive(Clone)]
pub struct Panels {
    data: Arc<Vec<f32>>,
    d: usize,
    cols: usize,
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Projection::Matrix(t) => f.debug_tuple("Matrix").field(&t.shape()).finish(),
            Projection::Panels(Panels { d, cols, .. }) => f
                .debug_struct("Panels")
                .field("d", d)
                .field("cols", cols)
                .finish(),
            Projection::Int8(p) => p.fmt(f),
            Projection::Bf16(p) => p.fmt(f),
        }
    }
}

/// The panels of `w_t: [d, cols]` from its transpose `w: [cols, d]`, one source row (one
/// output column) at a time.
fn panels(w: &[f32], d: usize, cols: usize) -> Vec<f32> {
    let mut data = vec![0f32; cols.div_ceil(PANEL) * d * PANEL];
    for (p, panel) in data.chunks_exact_mut(d * PANEL).enumerate() {
        let (j0, n) = (p * PANEL, PANEL.min(cols - p * PANEL));
        for j in 0..n {
            let column = &w[(j0 + j) * d..(j0 + j + 1) * d];
            for (k, &x) in column.iter().enumerate() {
                panel[k * PANEL + j] = x;
            }
        }
    }
    data
}

/// A contiguous f32 slice of a tensor held in CPU memory.
pub(crate) fn cpu_f32<'a>(
    storage: &'a candle_core::Storage,
    layout: &candle_core::Layout,
) -> Option<&'a [f32]> {
    cpu_slice(storage, layout)
}

/// A contiguous slice of a tensor held in CPU memory, when its dtype is `T`.
pub(crate) fn cpu_slice<'a, T: candle_core::WithDType>(
    storage: &'a candle_core::Storage,
    layout: &candle_core::Layout,
) -> Option<&'a [T]> {
    match (storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(cpu), Some((start, end))) => {
            cpu.as_slice::<T>().ok().map(|s| &s[start..end])
        }
        _ => None,
    }
}

impl Projection {
    pub fn cols(&self) -> candle_core::Result<usize> {
        match self {
            Projection::Matrix(t) => t.dim(1),
            Projection::Panels(p) => Ok(p.cols),
            Projection::Int8(p) => Ok(p.cols()),
            Projection::Bf16(p) => Ok(p.cols()),
        }
    }

    /// `[d, cols]` for candle's matmul, whatever the device: the path other devices take
    /// (the CPU takes it when told to, so that the tests run it).
    pub fn matrix(w: &Tensor) -> candle_core::Result<Self> {
        Ok(Projection::Matrix(w.t()?.contiguous()?))
    }

    /// The projection of a weight in HF's `[cols, d]` layout in `precision`: int8, bf16
    /// on the CPU, or [`Self::from_rows`] for a float dtype (the weight's own).
    pub fn build(w: &Tensor, precision: crate::device::Precision) -> candle_core::Result<Self> {
        match precision {
            Precision::Int8 => Self::from_rows_int8(w),
            Precision::Bf16Cpu => Self::from_rows_bf16(w),
            Precision::Float(_) => Self::from_rows(w),
        }
    }

    /// The int8 projection `w^T` of a weight in HF's `[cols, d]` layout, quantised per
    /// output column (CPU only: the kernels are the CPU's).
    pub fn from_rows_int8(w: &Tensor) -> candle_core::Result<Self> {
        with_host_rows(w, "int8", |s, cols, d| {
            Int8Panels::from_host_rows(s, cols, d).map(Projection::Int8)
        })
    }

    /// The bf16 projection `w^T` of a weight in HF's `[cols, d]` layout, rounded to bf16
    /// (CPU only: the kernels are the CPU's).
    pub fn from_rows_bf16(w: &Tensor) -> candle_core::Result<Self> {
        with_host_rows(w, "bf16", |s, cols, d| {
            Bf16Panels::from_host_rows(s, cols, d).map(Projection::Bf16)
        })
    }

    /// The projection `w^T` of a weight in HF's `[cols, d]` (out x in) layout: panels made
    /// straight from it on the CPU in f32 (no transposed copy: the output projection is
    /// 112 MB), `[d, cols]` otherwise.
    pub fn from_rows(w: &Tensor) -> candle_core::Result<Self> {
        if !w.device().is_cpu() || w.dtype() != DType::F32 {
            return Self::matrix(w);
        }
        let (cols, d) = w.dims2()?;
        let w = w.contiguous()?;
        let (storage, layout) = w.storage_and_layout();
        let Some(slice) = cpu_f32(&storage, layout) else {
            candle_core::bail!("packing a projection: a contiguous CPU tensor without a slice");
        };
        Ok(Projection::Panels(Panels::from_host_rows(slice, cols, d)?))
    }

    /// `x @ w_t + bias` for `x: [rows, d]` and `bias: [cols]` (or `[1, cols]`).
    pub fn forward(&self, x: &Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        match self {
            Projection::Matrix(w_t) => {
                let y = x.matmul(w_t)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
            Projection::Panels(p) => Tensor::from_vec(
                host_rows(x, bias, p.d, |xs, b| p.forward(xs, b))?,
                (x.dim(0)?, p.cols),
                x.device(),
            ),
            Projection::Int8(p) => {
                Tensor::from_vec(low_forward(p, x, bias)?, (x.dim(0)?, p.cols()), x.device())
            }
            Projection::Bf16(p) => {
                Tensor::from_vec(low_forward(p, x, bias)?, (x.dim(0)?, p.cols()), x.device())
            }
        }
    }

    /// [`Self::forward`] as host rows, when the weights are panels (`None` otherwise).
    pub fn forward_host(
        &self,
        x: &Tensor,
        bias: Option<&Tensor>,
    ) -> candle_core::Result<Option<Vec<f32>>> {
        match self {
            Projection::Panels(p) => Ok(Some(host_rows(x, bias, p.d, |xs, b| p.forward(xs, b))?)),
            Projection::Int8(p) => low_forward(p, x, bias).map(Some),
            Projection::Bf16(p) => low_forward(p, x, bias).map(Some),
            Projection::Matrix(_) => Ok(None),
        }
    }

    /// Columns `ids` of `w_t` (in that order) as a projection of their own, in the same
    /// form: the output projection over a sentence batch's shortlist candidates.
    pub fn select_columns(&self, ids: &[u32]) -> candle_core::Result<Self> {
        Ok(match self {
            Projection::Matrix(w_t) => {
                let ids = Tensor::new(ids, w_t.device())?;
                Projection::Matrix(w_t.index_select(&ids, 1)?.contiguous()?)
            }
            Projection::Panels(Panels { data, d, cols }) => {
                let data = super::tiles::gather_columns(
                    data,
                    *cols,
                    d * PANEL,
                    *d,
                    1,
                    |k, c| k * PANEL + c,
                    ids,
                )?;
                Projection::Panels(Panels {
                    data: Arc::new(data),
                    d: *d,
                    cols: ids.len(),
                })
            }
            Projection::Int8(p) => Projection::Int8(p.select_columns(ids)?),
            Projection::Bf16(p) => Projection::Bf16(p.select_columns(ids)?),
        })
    }

    /// Columns `ids` of `w_t` as rows, `[n, d]`: the embeddings when the output projection is
    /// tied to them.
    pub fn columns(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Projection::Matrix(w_t) => w_t.index_select(ids, 1)?.t(),
            Projection::Panels(Panels { data, d, cols }) => {
                let d = *d;
                let ids = ids.to_dtype(DType::U32)?.to_vec1::<u32>()?;
                let mut out = Vec::with_capacity(ids.len() * d);
                for &id in &ids {
                    let panel = column_tile(data, id as usize, *cols, d * PANEL)?;
                    out.extend(
                        panel
                            .chunks_exact(PANEL)
                            .map(|row| row[id as usize % PANEL]),
                    );
                }
                Tensor::from_vec(out, (ids.len(), d), &candle_core::Device::Cpu)
            }
            Projection::Int8(p) => low_columns(p, ids),
            Projection::Bf16(p) => low_columns(p, ids),
        }
    }
}

/// Runs `f` on a CPU weight `w: [cols, d]` as f32 host rows, for the low-precision
/// projections (`what` names them in errors).
fn with_host_rows(
    w: &Tensor,
    what: &str,
    f: impl FnOnce(&[f32], usize, usize) -> candle_core::Result<Projection>,
) -> candle_core::Result<Projection> {
    if !w.device().is_cpu() {
        candle_core::bail!("{what} projections run on the CPU only");
    }
    let (cols, d) = w.dims2()?;
    let w = w.to_dtype(DType::F32)?.contiguous()?;
    let (storage, layout) = w.storage_and_layout();
    let Some(slice) = cpu_f32(&storage, layout) else {
        candle_core::bail!("{what} projection: a contiguous CPU tensor without a slice");
    };
    f(slice, cols, d)
}

/// Runs `f` on `x: [rows, d]` and the bias as host slices (the packed projections' input).
fn host_rows(
    x: &Tensor,
    bias: Option<&Tensor>,
    d: usize,
    f: impl FnOnce(&[f32], Option<&[f32]>) -> candle_core::Result<Vec<f32>>,
) -> candle_core::Result<Vec<f32>> {
    let (rows, xd) = x.dims2()?;
    if xd != d {
        candle_core::bail!("project: x is {rows} x {xd}, the weights take {d} inputs");
    }
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    let (x_storage, x_layout) = x.storage_and_layout();
    let bias_guard = bias.map(|b| b.storage_and_layout());
    let xs = cpu_f32(&x_storage, x_layout)
        .ok_or_else(|| candle_core::Error::Msg("project: x is not on the CPU".into()))?;
    let bias = match &bias_guard {
        Some((storage, layout)) => Some(cpu_f32(storage, layout).ok_or_else(|| {
            candle_core::Error::Msg("project: the bias is not contiguous f32 on the CPU".into())
        })?),
        None => None,
    };
    f(xs, bias)
}

/// Checks a weight `w: [cols, d]` given as host rows, for the packed projections.
pub(super) fn check_weights(w: &[f32], cols: usize, d: usize) -> candle_core::Result<()> {
    if d == 0 {
        candle_core::bail!("a projection from [{cols}, {d}] has no inputs");
    }
    if w.len() != cols * d {
        candle_core::bail!("packing a projection: {} values for [{cols}, {d}]", w.len());
    }
    Ok(())
}

/// Checks the host inputs of a packed projection (`xs`: rows of `d`; the bias: `cols`) and
/// returns the number of rows.
pub(super) fn check_inputs(
    xs: &[f32],
    bias: Option<&[f32]>,
    d: usize,
    cols: usize,
) -> candle_core::Result<usize> {
    if !xs.len().is_multiple_of(d) {
        candle_core::bail!("project: {} inputs for rows of {d}", xs.len());
    }
    if let Some(b) = bias.filter(|b| b.len() != cols) {
        candle_core::bail!("project: a bias of {} for {cols} columns", b.len());
    }
    Ok(xs.len() / d)
}

impl Panels {
    /// The panels of `w_t` from its transpose `w: [cols, d]` (HF's out x in layout) in host
    /// memory, row-major.
    pub fn from_host_rows(w: &[f32], cols: usize, d: usize) -> candle_core::Result<Self> {
        check_weights(w, cols, d)?;
        let data = panels(w, d, cols);
        static THRESHOLD: Once = Once::new();
        THRESHOLD.call_once(|| gemm::set_lhs_packing_threshold_single_thread(PACKING_THRESHOLD));
        Ok(Panels {
            data: Arc::new(data),
            d,
            cols,
        })
    }

    /// Inputs per row.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Outputs per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `x @ w_t + bias` for host rows `x: [rows, d]` (row-major) and `bias: [cols]`, as host
    /// rows `[rows, cols]`.
    ///
    /// gemm writes into a fresh buffer and the bias is added in place: candle's matmul
    /// zero-fills its output first and the bias add makes another tensor, two extra passes
    /// over every layer's output and over the 28 MB of logits a beam step has. Panels are
    /// shared among rayon's threads, a few tasks per thread so a slow one does not hold up
    /// the step.
    pub fn forward(&self, xs: &[f32], bias: Option<&[f32]>) -> candle_core::Result<Vec<f32>> {
        let mut out = Vec::new();
        self.forward_into(xs, bias, &mut out)?;
        Ok(out)
    }

    /// [`Self::forward`] into `out`, whose allocation is reused (its values are replaced):
    /// a caller running many projections in a row (the embedding encoder's layers) does not
    /// fault fresh memory in for each.
    pub fn forward_into(
        &self,
        xs: &[f32],
        bias: Option<&[f32]>,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        out.clear();
        let Panels { data, d, cols } = self;
        let (d, cols) = (*d, *cols);
        let rows = check_inputs(xs, bias, d, cols)?;
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let len = rows * cols;
        out.reserve(len);
        // Tests fill the buffer with NaN first, so an element gemm failed to write shows.
        #[cfg(test)]
        out.spare_capacity_mut()
            .fill(std::mem::MaybeUninit::new(f32::NAN));
        let out_at = out.as_mut_ptr() as usize;
        let panels = cols.div_ceil(PANEL);
        let per_task = panels.div_ceil(rayon::current_num_threads() * 4);
        (0..panels.div_ceil(per_task))
            .into_par_iter()
            .for_each(|task| {
                for p in task * per_task..((task + 1) * per_task).min(panels) {
                    let (j0, n) = (p * PANEL, PANEL.min(cols - p * PANEL));
                    // SAFETY: writes only columns j0..j0 + n of `out` (rows x cols, row
                    // stride cols, empty with a capacity of at least rows * cols), which no
                    // other panel touches; reads `xs` (rows x d) and panel p (d x 64, row
                    // stride 64, the first n columns), all inside their slices. With
                    // `read_dst = false` gemm writes every output element in its first block
                    // of the depth before it reads any (it accumulates over later blocks), so
                    // nothing uninitialised is read.
                    unsafe {
                        gemm::gemm(
                            rows,
                            n,
                            d,
                            (out_at as *mut f32).add(j0),
                            1,
                            cols as isize,
                            false,
                            xs.as_ptr(),
                            1,
                            d as isize,
                            data.as_ptr().add(p * d * PANEL),
                            1,
                            PANEL as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            });
        // SAFETY: the panels cover columns 0..cols, and gemm with `read_dst = false` writes all
        // of its output, so every element of every row is written (the tests check this on a
        // buffer filled with NaN first).
        unsafe { out.set_len(len) };
        if let Some(b) = bias {
            let add = |row: &mut [f32]| row.iter_mut().zip(b).for_each(|(o, &b)| *o += b);
            if len >= crate::generate::PARALLEL_MIN {
                out.par_chunks_mut(cols).for_each(add);
            } else {
                out.chunks_mut(cols).for_each(add);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Panels give candle's `matmul` + `broadcast_add`, for one row (gemm's matrix-vector
    /// path), a few, and many (packed by gemm above the threshold), with and without a bias,
    /// on the output buffer filled with NaN first (an element gemm did not write fails). The
    /// shapes: 33 x 2,100 outputs take the parallel bias add and end in a partial panel;
    /// a depth of 600 makes gemm split the depth (it reads its output from the second block
    /// on) and ends in a panel of one column; a depth of 2 takes its outer-product path.
    /// The panels are made from HF's `[cols, d]` layout, and their columns are the tied
    /// embeddings.
    #[test]
    fn panels_equal_matmul_plus_bias() {
        let dev = Device::Cpu;
        for (d, cols) in [(24, 2100), (600, 65), (2, 130)] {
            let w_t = Tensor::randn(0f32, 1.0, (d, cols), &dev).unwrap();
            let bias = Tensor::randn(0f32, 1.0, cols, &dev).unwrap();
            let packed = Projection::from_rows(&w_t.t().unwrap()).unwrap();
            assert!(matches!(packed, Projection::Panels(_)));
            for rows in [1, 3, 4, 5, 33, 400] {
                let x = Tensor::randn(0f32, 1.0, (rows, d), &dev).unwrap();
                let want = x.matmul(&w_t).unwrap();
                for b in [None, Some(&bias)] {
                    let want = match b {
                        Some(b) => want.broadcast_add(b).unwrap(),
                        None => want.clone(),
                    };
                    let got = packed.forward(&x, b).unwrap();
                    // Into a buffer holding other values, of another length.
                    if let Projection::Panels(p) = &packed {
                        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                        let bias = b.map(|b| b.to_vec1::<f32>().unwrap());
                        let mut reused = vec![7f32; 5];
                        p.forward_into(&xs, bias.as_deref(), &mut reused).unwrap();
                        let want = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                        assert_eq!(reused, want);
                    }
                    assert_eq!(got.dims(), &[rows, cols]);
                    let (got, want) = (
                        got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                        want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    );
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        // Another summation order than candle's single call: a few ulp.
                        assert!(
                            (g - w).abs() <= 1e-5 * w.abs().max(1.0) * (d as f32).sqrt(),
                            "d {d}, {rows} rows, bias {}: element {i} is {g}, want {w}",
                            b.is_some()
                        );
                    }
                }
            }
        }
        let w_t = Tensor::randn(0f32, 1.0, (24, 2100), &dev).unwrap();
        let packed = Projection::from_rows(&w_t.t().unwrap()).unwrap();
        let ids = Tensor::new(&[0u32, 63, 64, 2099, 5], &dev).unwrap();
        let want = w_t.index_select(&ids, 1).unwrap().t().unwrap();
        assert_eq!(
            packed.columns(&ids).unwrap().to_vec2::<f32>().unwrap(),
            want.to_vec2::<f32>().unwrap()
        );
        assert!(packed
            .columns(&Tensor::new(&[2100u32], &dev).unwrap())
            .is_err());
        let x = Tensor::zeros((2, 5), DType::F32, &dev).unwrap();
        assert!(packed.forward(&x, None).is_err());
        let no_inputs = Tensor::zeros((5, 0), DType::F32, &dev).unwrap();
        assert!(Projection::from_rows(&no_inputs).is_err());
    }

    /// The int8 projection is the int8 kernel on tensors, close to the f32 product, and its
    /// columns (the tied embeddings) are the weights to within half a quantisation step.
    #[test]
    fn int8_projection_is_the_int8_kernel_on_tensors() {
        let dev = Device::Cpu;
        let (d, cols, rows) = (40, 130, 6);
        let w = Tensor::randn(0f32, 1.0, (cols, d), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1.0, cols, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (rows, d), &dev).unwrap();
        let q = Projection::from_rows_int8(&w).unwrap();
        let Projection::Int8(p) = &q else {
            panic!("not int8: {q:?}")
        };
        let got = q.forward(&x, Some(&bias)).unwrap();
        assert_eq!(got.dims(), &[rows, cols]);
        let mut want = Vec::new();
        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = bias.to_vec1::<f32>().unwrap();
        p.forward_into(&xs, Some(&b), &mut want).unwrap();
        assert_eq!(got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
        assert_eq!(q.forward_host(&x, Some(&bias)).unwrap(), Some(want.clone()));
        let exact = x
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&bias)
            .unwrap();
        let exact = exact.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let worst = exact
            .iter()
            .zip(&want)
            .map(|(e, g)| (e - g).abs())
            .fold(0f32, f32::max);
        assert!(worst < 0.5, "largest difference from f32: {worst}");
        let ids = Tensor::new(&[0u32, 17, 129], &dev).unwrap();
        let cols_got = q.columns(&ids).unwrap().to_vec2::<f32>().unwrap();
        let rows_w = w.to_vec2::<f32>().unwrap();
        for (got, id) in cols_got.iter().zip([0, 17, 129]) {
            let step = rows_w[id].iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (g, w) in got.iter().zip(&rows_w[id]) {
                assert!((g - w).abs() <= step / 2.0 + 1e-6, "{g} vs {w}");
            }
        }
    }

    /// Chosen columns (out of order, repeated, across panels, the last one included) make a
    /// projection in the same form whose outputs are those columns' outputs of the whole one:
    /// with the same bits in int8 and bf16 (integer sums, and each column summed alone), and
    /// within a few ulp in f32 (gemm may sum a column otherwise in a panel of another width)
    /// and for the matrix candle multiplies.
    #[test]
    fn selected_columns_give_those_columns_outputs() {
        let dev = Device::Cpu;
        // A depth neither int8's groups of 4 nor bf16's pairs divide.
        let (d, cols) = (43, 150);
        let w = Tensor::new(super::super::tiles::test_values(cols * d, 7), &dev)
            .unwrap()
            .reshape((cols, d))
            .unwrap();
        let bias = Tensor::new(super::super::tiles::test_values(cols, 8), &dev).unwrap();
        let ids: Vec<u32> = vec![149, 3, 64, 65, 0, 100, 3, 63, 127, 128];
        let ids_t = Tensor::new(ids.as_slice(), &dev).unwrap();
        let sub_bias = bias.index_select(&ids_t, 0).unwrap();
        let x = Tensor::new(super::super::tiles::test_values(5 * d, 9), &dev)
            .unwrap()
            .reshape((5, d))
            .unwrap();
        let forms = [
            ("f32", Projection::from_rows(&w).unwrap(), false),
            ("int8", Projection::from_rows_int8(&w).unwrap(), true),
            ("bf16", Projection::from_rows_bf16(&w).unwrap(), true),
            ("matrix", Projection::matrix(&w).unwrap(), false),
        ];
        for (what, whole, exact) in forms {
            let sub = whole.select_columns(&ids).unwrap();
            assert_eq!(sub.cols().unwrap(), ids.len(), "{what}");
            assert_eq!(
                std::mem::discriminant(&sub),
                std::mem::discriminant(&whole),
                "{what}"
            );
            let want = whole
                .forward(&x, Some(&bias))
                .unwrap()
                .index_select(&ids_t, 1)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let got = sub
                .forward(&x, Some(&sub_bias))
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                for (c, (g, w)) in g.iter().zip(w).enumerate() {
                    if exact {
                        assert_eq!(g.to_bits(), w.to_bits(), "{what}: row {r}, column {c}");
                    } else {
                        assert!(
                            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                            "{what}: {g} vs {w}"
                        );
                    }
                }
            }
            // The columns themselves (the tied embeddings) come along too.
            assert_eq!(
                sub.columns(&Tensor::new(&[0u32, 6], &dev).unwrap())
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap(),
                whole
                    .columns(&Tensor::new(&[149u32, 3], &dev).unwrap())
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap(),
                "{what}"
            );
            // An id past the vocabulary is an error, not a read past the weights.
            assert!(whole.select_columns(&[cols as u32]).is_err(), "{what}");
        }
    }

    /// Other dtypes stay matrices and go through candle.
    #[test]
    fn other_dtypes_stay_matrices() {
        let dev = Device::Cpu;
        let w_t = Tensor::randn(0f64, 1.0, (4, 3), &dev).unwrap();
        let p = Projection::from_rows(&w_t.t().unwrap()).unwrap();
        assert!(matches!(p, Projection::Matrix(_)));
        let x = Tensor::randn(0f64, 1.0, (2, 4), &dev).unwrap();
        assert!(p.forward_host(&x, None).unwrap().is_none());
        assert_eq!(
            p.forward(&x, None).unwrap().to_vec2::<f64>().unwrap(),
            x.matmul(&w_t).unwrap().to_vec2::<f64>().unwrap()
        );
    }
}
