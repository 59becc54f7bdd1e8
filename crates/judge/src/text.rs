//! Numbers as the sentences print them: counts with thousands separators, rates in percent.

/// 1234567 → "1,234,567".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A fraction as a percentage with two decimals: 0.0333 → "3.33 %".
pub fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// A difference of fractions in percentage points, signed: 0.0243 → "+2.43 pp".
pub fn pp(x: f64) -> String {
    format!("{:+.2} pp", x * 100.0)
}

/// A limit in percentage points as configured: 0.01 → "1 pp", 0.005 → "0.5 pp".
pub fn margin(x: f64) -> String {
    format!("{} pp", trim(x * 100.0))
}

/// A confidence level: 0.01 → "99 %", 0.005 → "99.5 %".
pub fn confidence(alpha: f64) -> String {
    format!("{} %", trim((1.0 - alpha) * 100.0))
}

/// A number without trailing zeros (at most 4 decimals).
pub fn trim(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Seconds as people say them: 45 → "45s", 600 → "10m", 5400 → "1h30m".
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=3599 => {
            let (m, r) = (s / 60, s % 60);
            if r == 0 || m >= 10 {
                format!("{m}m")
            } else {
                format!("{m}m{r}s")
            }
        }
        _ => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h{m}m")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1230), "1,230");
        assert_eq!(count(23_400_000), "23,400,000");
        assert_eq!(pct(0.03333), "3.33 %");
        assert_eq!(pp(0.0243), "+2.43 pp");
        assert_eq!(pp(-0.001), "-0.10 pp");
        assert_eq!(margin(0.01), "1 pp");
        assert_eq!(margin(0.005), "0.5 pp");
        assert_eq!(confidence(0.01), "99 %");
        assert_eq!(confidence(0.005), "99.5 %");
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(150.0), "2m30s");
        assert_eq!(duration(600.0), "10m");
        assert_eq!(duration(5400.0), "1h30m");
    }
}
