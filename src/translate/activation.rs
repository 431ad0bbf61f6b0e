//! The feed-forward activations on host rows, in place and vectorised: the translator's
//! (`marian/layers.rs`) and the sentence embedder's (`summarize/bert.rs`).
//!
//! It exists because candle's CPU activations call libm's scalar `expf`/`erf` per element: in
//! an int8 greedy run of opus-mt's shape, SiLU alone was 6 % of the samples. These are row
//! loops written to vectorise, dispatched at run time to the widest SIMD the CPU has, on the
//! sampler's vectorisable `exp` (`generate/logits.rs`).
use crate::generate::logits::exp_nonpositive;

/// `x · sigmoid(x)` (SiLU, "swish"), in place. With `e = exp(-|x|)` (never overflowing),
/// `sigmoid(x)` is `1 / (1 + e)` for `x >= 0` and `e / (1 + e)` below.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn silu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| {
        let x = *v;
        let e = exp_nonpositive(-x.abs());
        let num = if x < 0.0 { e } else { 1.0 };
        *v = x * num / (1.0 + e);
    });
}

/// `max(x, 0)`, in place.
pub(crate) fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// `erfc(z)` for `z >= 0`: Abramowitz & Stegun 7.1.26, whose `erf = 1 - erfc` is within
/// 1.5e-7 of the true one; `erfc` itself is then accurate to that absolutely, and has no
/// cancellation for the small values that GELU of a negative input needs.
#[inline(always)]
fn erfc_nonnegative(z: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    poly * exp_nonpositive(-z * z)
}

/// BERT's GELU, `x/2 (1 + erf(x/√2))`, in place.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn gelu_erf(x: &mut [f32]) {
    x.iter_mut().for_each(|v| {
        let x = *v;
        // 1 + erf(x/√2) is erfc(|x|/√2) for x < 0 and 2 - erfc(|x|/√2) otherwise.
        let c = erfc_nonnegative(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
        let one_plus_erf = if x < 0.0 { c } else { 2.0 - c };
        *v = 0.5 * x * one_plus_erf;
    });
}

/// The tanh approximation of GELU, `x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))`, in place.
#[multiversion::multiversion(targets = "simd")]
pub(crate) fn gelu_tanh(x: &mut [f32]) {
    const K: f32 = 0.797_884_6; // √(2/π)
    x.iter_mut().for_each(|v| {
        let x = *v;
        let y = K * (x + 0.044_715 * x * x * x);
        // tanh(|y|) = (1 - e^-2|y|) / (1 + e^-2|y|), its sign put back.
        let e = exp_nonpositive(-2.0 * y.abs());
        let t = (1.0 - e) / (1.0 + e);
        let t = if y < 0.0 { -t } else { t };
        *v = 0.5 * x * (1.0 + t);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each activation against its definition in f64, over a range that covers the
    /// saturated tails and zero.
    #[test]
    fn activations_match_their_definitions() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 / 100.0).collect();
        let erf = erf_f64;
        type Case = (&'static str, fn(&mut [f32]), Box<dyn Fn(f64) -> f64>, f64);
        let cases: [Case; 4] = [
            (
                "silu",
                silu,
                Box::new(|x: f64| x / (1.0 + (-x).exp())),
                2e-6,
            ),
            (
                "gelu_erf",
                gelu_erf,
                Box::new(move |x: f64| 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))),
                4e-6,
            ),
            (
                "gelu_tanh",
                gelu_tanh,
                Box::new(|x: f64| {
                    let k = (2.0 / std::f64::consts::PI).sqrt();
                    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
                }),
                4e-6,
            ),
            ("relu", relu, Box::new(|x: f64| x.max(0.0)), 0.0),
        ];
        for (name, f, want, tol) in cases {
            let mut got = xs.clone();
            f(&mut got);
            for (&x, &g) in xs.iter().zip(&got) {
                let w = want(x as f64);
                let err = (g as f64 - w).abs() / w.abs().max(1.0);
                assert!(err <= tol, "{name}({x}) = {g}, want {w}");
            }
        }
    }

    /// erf(x) in f64 for the test (std has none): its Taylor series near 0, the continued
    /// fraction for erfc further out.
    fn erf_f64(x: f64) -> f64 {
        let a = x.abs();
        let r = if a < 3.0 {
            // sum_n (-1)^n x^(2n+1) / (n! (2n+1)), converges fast for |x| < 3.
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
        };
        r.copysign(x)
    }
}
