//! `{weight}`, `{release}`, `{stage}`, `{service}` in user commands, substituted shell-quoted.

/// Quotes a value for `sh -c`: values are ours (validated names, numbers), but quoting keeps a
/// surprising one from ever becoming shell syntax.
pub fn shell_quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@%+=,".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// `template` with each `{name}` replaced by its value, shell-quoted.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), &shell_quote(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_quotes() {
        let v = [
            ("weight", "25".to_string()),
            ("release", "2026-11-27-a".to_string()),
            ("stage", "it's".to_string()),
        ];
        assert_eq!(
            fill("route --w {weight} --r {release} {stage}", &v),
            "route --w 25 --r 2026-11-27-a 'it'\\''s'"
        );
    }
}
