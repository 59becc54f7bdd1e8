//! Kayenta's Mann–Whitney test with the Hodges–Lehmann confidence interval of the location
//! shift: a port of spinnaker/kayenta kayenta-mannwhitney (MannWhitney.scala, itself R's
//! `wilcox.test(conf.int = TRUE, correct = TRUE)` with the normal approximation) and its
//! BrentSolver (R's zeroin), at a69573be9d8fededacf80817e4151a2c8df41276.

const EPS: f64 = 2.220_446_049_250_313e-16;
const TOL: f64 = 1e-4;

/// Average ranks (1-based), ties sharing the mean of their positions.
fn ranks(v: &[f64]) -> (Vec<f64>, f64) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut r = vec![0.0; v.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            r[*k] = rank;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    (r, ties)
}

/// The standardised statistic at shift `mu`, minus `q`; None when every value is tied.
fn wdiff(mu: f64, q: f64, x: &[f64], y: &[f64]) -> Option<f64> {
    let (n, m) = (x.len() as f64, y.len() as f64);
    let all: Vec<f64> = x.iter().map(|a| a - mu).chain(y.iter().copied()).collect();
    let (dr, ties) = ranks(&all);
    let dz = dr[..x.len()].iter().sum::<f64>() - n * (n + 1.0) / 2.0 - n * m / 2.0;
    let corr = if dz == 0.0 { 0.0 } else { 0.5 * dz.signum() };
    let sigma = ((n * m / 12.0) * ((n + m + 1.0) - ties / ((n + m) * (n + m - 1.0)))).sqrt();
    if sigma == 0.0 || sigma.is_nan() {
        return None;
    }
    Some((dz - corr) / sigma - q)
}

/// R's zeroin, as kayenta's BrentSolver.
fn brent(ax: f64, bx: f64, fa0: f64, fb0: f64, f: &dyn Fn(f64) -> Option<f64>) -> Option<f64> {
    let (mut a, mut b, mut fa, mut fb) = (ax, bx, fa0, fb0);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return Some(a);
    }
    if fb == 0.0 {
        return Some(b);
    }
    for _ in 0..1001 {
        let prev = b - a;
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * EPS * b.abs() + TOL / 2.0;
        let mut new = (c - b) / 2.0;
        if new.abs() <= tol || fb == 0.0 {
            return Some(b);
        }
        if prev.abs() >= tol && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                q = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0));
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < (0.75 * cb * q - (tol * q).abs() / 2.0) && p < (prev * q / 2.0).abs() {
                new = p / q;
            }
        }
        if new.abs() < tol {
            new = if new > 0.0 { tol } else { -tol };
        }
        a = b;
        fa = fb;
        b += new;
        fb = f(b)?;
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    Some(b)
}

/// (lower, upper) confidence bounds of the shift x − y at `conf`, and its estimate; None when
/// the test cannot be computed (all values tied: Kayenta's classification Error).
pub fn test(x: &[f64], y: &[f64], conf: f64) -> Option<((f64, f64), f64)> {
    let lo = x.iter().copied().fold(f64::INFINITY, f64::min)
        - y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - y.iter().copied().fold(f64::INFINITY, f64::min);
    let root = |zq: f64| -> Option<f64> {
        let fl = wdiff(lo, zq, x, y)?;
        let fu = wdiff(hi, zq, x, y)?;
        if fl <= 0.0 {
            return Some(lo);
        }
        if fu >= 0.0 {
            return Some(hi);
        }
        brent(lo, hi, fl, fu, &|m| wdiff(m, zq, x, y))
    };
    let zq = -normal_quantile_upper((1.0 - conf) / 2.0);
    let ci = (root(-zq)?, root(zq)?);
    let est = brent(lo, hi, wdiff(lo, 0.0, x, y)?, wdiff(hi, 0.0, x, y)?, &|m| {
        wdiff(m, 0.0, x, y)
    })?;
    Some((ci, est))
}

/// z such that P(Z > z) = p (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile_upper(p: f64) -> f64 {
    -normal_quantile(p)
}

fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383_577_518_672_69e2,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let lowp = 0.02425;
    if p < lowp {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - lowp {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kayentas_own_test_values() {
        // MannWhitneySuite: x = [10, 20, 30, 40], y = [1, 2, 3, 4] at 95 %: CI (6, 39), 22.5.
        let ((l, u), est) = test(&[10.0, 20.0, 30.0, 40.0], &[1.0, 2.0, 3.0, 4.0], 0.95).unwrap();
        assert!((l - 6.0).abs() < 1e-3 && (u - 39.0).abs() < 1e-3, "{l} {u}");
        assert!((est - 22.5).abs() < 1e-3, "{est}");
        assert!((normal_quantile_upper(0.01) - 2.326348).abs() < 1e-6);
        assert!(test(&[1.0], &[1.0], 0.98).is_none(), "all tied: no test");
    }
}
