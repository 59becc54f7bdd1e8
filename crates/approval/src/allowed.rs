//! git / OpenSSH `allowed_signers`: `principals [options] keytype base64-key [comment]` per line.
//! Options understood: `namespaces="a,b"`, `valid-after=`, `valid-before=`; `cert-authority`
//! lines are refused because certificate signatures are not supported.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ssh_key::public::KeyData;
use ssh_key::PublicKey;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct SignersError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SignersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SignersError {}

#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub principals: Vec<String>,
    pub namespaces: Option<Vec<String>>,
    pub valid_after: Option<DateTime<Utc>>,
    pub valid_before: Option<DateTime<Utc>>,
    pub key: PublicKey,
}

impl Entry {
    /// Whether this entry lets its key sign in `namespace` at time `at`.
    pub fn usable(&self, namespace: &str, at: DateTime<Utc>) -> bool {
        let ns_ok = self
            .namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| wildcard(p, namespace)));
        ns_ok
            && self.valid_after.is_none_or(|t| at >= t)
            && self.valid_before.is_none_or(|t| at < t)
    }

    pub fn matches_principal(&self, principal: &str) -> bool {
        self.principals.iter().any(|p| wildcard(p, principal))
    }
}

#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    pub entries: Vec<Entry>,
}

impl AllowedSigners {
    pub fn parse(text: &str) -> Result<AllowedSigners, SignersError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| SignersError {
                line: i + 1,
                message,
            };
            let tokens = tokenize(line).map_err(err)?;
            let mut it = tokens.into_iter();
            let principals_tok = it.next().ok_or_else(|| err("empty line".into()))?;
            let mut next = it
                .next()
                .ok_or_else(|| err("expected a key after the principals".into()))?;
            let mut namespaces = None;
            let mut valid_after = None;
            let mut valid_before = None;
            if !is_key_type(&next) {
                for opt in split_options(&next) {
                    let (name, value) = match opt.split_once('=') {
                        Some((n, v)) => (
                            n.to_ascii_lowercase(),
                            Some(v.trim_matches('"').to_string()),
                        ),
                        None => (opt.to_ascii_lowercase(), None),
                    };
                    match (name.as_str(), value) {
                        ("namespaces", Some(v)) => {
                            namespaces = Some(v.split(',').map(|s| s.trim().to_string()).collect())
                        }
                        ("valid-after", Some(v)) => valid_after = Some(parse_time(&v).map_err(err)?),
                        ("valid-before", Some(v)) => valid_before = Some(parse_time(&v).map_err(err)?),
                        ("cert-authority", None) => {
                            return Err(err(
                                "cert-authority entries are not supported: list each approver's own key".into(),
                            ))
                        }
                        (other, _) => return Err(err(format!("unknown option `{other}`"))),
                    }
                }
                next = it
                    .next()
                    .ok_or_else(|| err("expected a key type after the options".into()))?;
            }
            let b64 = it
                .next()
                .ok_or_else(|| err(format!("expected the base64 key after `{next}`")))?;
            let key = PublicKey::from_openssh(&format!("{next} {b64}"))
                .map_err(|e| err(format!("invalid {next} public key: {e}")))?;
            let principals: Vec<String> = principals_tok
                .trim_matches('"')
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            if principals.is_empty() {
                return Err(err("no principal before the key".into()));
            }
            entries.push(Entry {
                line: i + 1,
                principals,
                namespaces,
                valid_after,
                valid_before,
                key,
            });
        }
        Ok(AllowedSigners { entries })
    }

    /// Entries for this key that may sign in `namespace` at `at`.
    pub fn entries_for_key<'a>(
        &'a self,
        key: &'a KeyData,
        namespace: &'a str,
        at: DateTime<Utc>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key.key_data() == key && e.usable(namespace, at))
    }

    /// The literal (wildcard-free) principals this key may sign as.
    pub fn principals_for_key(
        &self,
        key: &KeyData,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries_for_key(key, namespace, at)
            .flat_map(|e| e.principals.iter())
            .filter(|p| !p.contains(['*', '?']) && !p.starts_with('!'))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `principal` may sign with `key` in `namespace` at `at`.
    pub fn allows(
        &self,
        principal: &str,
        key: &KeyData,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> bool {
        self.entries_for_key(key, namespace, at)
            .any(|e| e.matches_principal(principal))
    }

    /// Every key listed for `principal` (any namespace or time), to spot a submitter's key.
    pub fn keys_of(&self, principal: &str) -> Vec<&KeyData> {
        self.entries
            .iter()
            .filter(|e| e.matches_principal(principal))
            .map(|e| e.key.key_data())
            .collect()
    }
}

fn is_key_type(tok: &str) -> bool {
    tok.starts_with("ssh-") || tok.starts_with("ecdsa-") || tok.starts_with("sk-")
}

/// Splits on whitespace, keeping double-quoted runs (which may contain spaces) together.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Splits `a,b="x,y",c` on commas outside quotes.
fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `YYYYMMDD[Z]`, `YYYYMMDDHHMM[Z]` or `YYYYMMDDHHMMSS[Z]`. Times are taken as UTC (OpenSSH reads
/// times without `Z` as local time; ship runs on servers kept in UTC and does not guess).
fn parse_time(v: &str) -> Result<DateTime<Utc>, String> {
    let t = v.trim_end_matches(['Z', 'z']);
    let bad = || format!("invalid time `{v}` (expected YYYYMMDD[HHMM[SS]][Z])");
    let naive = match t.len() {
        8 => NaiveDate::parse_from_str(t, "%Y%m%d")
            .map_err(|_| bad())?
            .and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?,
        12 => NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M").map_err(|_| bad())?,
        14 => NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M%S").map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok(naive.and_utc())
}

/// OpenSSH-style pattern match with `*` and `?`.
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPslwX1c8ty8ATgo56wOw93OnejefMy+u1yjAPc3lvRk";
    const K2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTT7ilWaY33+UHqE9UFohxPtZs5+wRxJWjWQoWuarxU";

    fn now() -> DateTime<Utc> {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn parses_principals_options_and_keys() {
        let text = format!(
            "# approvers\nalice@example.com,a@example.com {K1} alice laptop\n\nbob@example.com namespaces=\"shiploop-release,git\",valid-after=\"20260101\" {K2}\n*@ops.example.com {K2}\n"
        );
        let s = AllowedSigners::parse(&text).unwrap();
        assert_eq!(s.entries.len(), 3);
        let k1 = PublicKey::from_openssh(K1).unwrap();
        let k2 = PublicKey::from_openssh(K2).unwrap();
        assert_eq!(
            s.principals_for_key(k1.key_data(), "shiploop-release", now()),
            vec!["a@example.com", "alice@example.com"]
        );
        assert_eq!(
            s.principals_for_key(k2.key_data(), "shiploop-release", now()),
            vec!["bob@example.com"]
        );
        assert!(s.allows(
            "carol@ops.example.com",
            k2.key_data(),
            "shiploop-release",
            now()
        ));
        assert!(!s.allows(
            "carol@ops.example.com",
            k1.key_data(),
            "shiploop-release",
            now()
        ));
        // bob's line is restricted to two namespaces and starts in 2026.
        assert!(s
            .principals_for_key(k2.key_data(), "file", now())
            .is_empty());
        let early: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        assert!(s.principals_for_key(k2.key_data(), "git", early).is_empty());
        assert_eq!(s.keys_of("alice@example.com").len(), 1);
    }

    #[test]
    fn errors_name_the_line() {
        let e = AllowedSigners::parse(&format!("ok@x {K1}\nbroken@x ssh-ed25519 AAAAnotbase64\n"))
            .unwrap_err();
        assert_eq!(e.line, 2);
        let e = AllowedSigners::parse(&format!("ca@x cert-authority {K1}\n")).unwrap_err();
        assert!(e.message.contains("cert-authority"));
        let e = AllowedSigners::parse("lonely@x\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*@example.com", "a@example.com"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(!wildcard("*@example.com", "a@example.org"));
    }
}
