//! git / OpenSSH `allowed_signers`: `principals [options] keytype base64-key [comment]` per line.
//! Options understood: `namespaces="a,b"`, `valid-after=`, `valid-before=`; `cert-authority`
//! lines are refused because certificate signatures are not supported.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ssh_key::public::KeyData;
use ssh_key::PublicKey;
use std::fmt;

/// The longest principals field ship reads on one line, in bytes (about a hundred addresses).
/// Checking which literal principals a line grants takes up to (field length)² steps, so a longer
/// line is refused for approvals rather than read (OpenSSH reads lines of any length; a 200 kB
/// line of long names and patterns took ship 33 s before this limit).
pub const MAX_PRINCIPALS_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
/// An allowed-signers file that does not parse: the line and what is wrong with it.
pub struct SignersError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for SignersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SignersError {}

#[derive(Debug, Clone)]
/// One line of an allowed-signers file: who may sign with which key, for what and when.
pub struct Entry {
    /// 1-based line in the file.
    pub line: usize,
    /// The principals (e-mail addresses or patterns) the line grants.
    pub principals: Vec<String>,
    /// The `namespaces=` option: the signature namespaces the key may sign in (None: any).
    pub namespaces: Option<Vec<String>>,
    /// The `valid-after=` option: the key signs nothing before this time.
    pub valid_after: Option<DateTime<Utc>>,
    /// The `valid-before=` option: the key signs nothing after this time.
    pub valid_before: Option<DateTime<Utc>>,
    /// The public key.
    pub key: PublicKey,
    /// Why this line cannot be used for approvals (principals with characters outside an
    /// e-mail address's, or too many bytes), or None. The file still parses, so the other
    /// lines work; the line's key cannot approve at all, since nobody can tell whom the line
    /// names.
    pub refused: Option<String>,
}

impl Entry {
    /// Whether this entry lets its key sign in `namespace` at time `at`.
    pub fn usable(&self, namespace: &str, at: DateTime<Utc>) -> bool {
        let ns_ok = self
            .namespaces
            .as_ref()
            .is_none_or(|list| match_list(namespace, list));
        ns_ok
            && self.valid_after.is_none_or(|t| at >= t)
            && self.valid_before.is_none_or(|t| at < t)
    }

    /// Whether `ssh-keygen -Y verify -I principal` would accept this line for `principal`:
    /// OpenSSH pattern-list semantics (`*`, `?`, `!` negation), case-sensitive.
    pub fn matches_principal(&self, principal: &str) -> bool {
        match_list(principal, &self.principals)
    }

    /// Whether any principal pattern of this line, negated or not, matches `principal` under
    /// any spelling (letter case ignored). This is the conservative reading the "a submitter
    /// never approves" rule needs: `Alice@Example.com` and `alice@example.com` are one person to
    /// a reader, and a line that names someone only to exclude them (`!alice@…`) still says the
    /// key is shared with people around them.
    ///
    /// Spellings of one address count as one person ([`crate::canonical_identity`]: a `+tag`, a
    /// domain's trailing dot, quotes), and every leading `!` is dropped (OpenSSH strips only one,
    /// so `!!alice@…` excludes the literal name `!alice@…`: it still names alice to a reader).
    pub fn may_name(&self, principal: &str) -> bool {
        let who = principal.trim().to_lowercase();
        let canon = crate::canonical_identity(&who);
        self.principals.iter().any(|p| {
            let p = p.trim_start_matches('!').replace('"', "").to_lowercase();
            glob(p.as_bytes(), who.as_bytes())
                || glob(crate::canonical_identity(&p).as_bytes(), canon.as_bytes())
        })
    }
}

#[derive(Debug, Clone, Default)]
/// A parsed allowed-signers file (OpenSSH's format): the approvers' keys.
pub struct AllowedSigners {
    /// The file's entries, in order.
    pub entries: Vec<Entry>,
}

impl AllowedSigners {
    /// Parses an allowed-signers file; the error names the line.
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
            let refused = principals_problem(&principals_tok, &principals);
            entries.push(Entry {
                line: i + 1,
                principals,
                namespaces,
                valid_after,
                valid_before,
                key,
                refused,
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

    /// The literal (wildcard-free) principals this key may sign as: plain identities
    /// ([`crate::identity_problem`]) listed as themselves and not excluded by a `!` pattern on the
    /// same line. Refused lines ([`Entry::refused`]) grant nothing.
    pub fn principals_for_key(
        &self,
        key: &KeyData,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries_for_key(key, namespace, at)
            .filter(|e| e.refused.is_none())
            .flat_map(|e| {
                e.principals
                    .iter()
                    .filter(|p| crate::identity_problem(p).is_none())
                    .filter(|p| e.matches_principal(p))
            })
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

    /// The first line that lets `key` belong to `principal`: a line for this key (in any
    /// namespace, at any time) that names `principal` in any letter case, literally or through
    /// a pattern, even a negated one ([`Entry::may_name`]). A submitter's key is refused as an
    /// approver whenever there is one, so no spelling of the submitter, and no second principal
    /// on the submitter's line, can approve with it.
    ///
    /// Refused lines are not read here: check [`AllowedSigners::refused_line_for_key`] first.
    pub fn line_giving_key_to(&self, key: &KeyData, principal: &str) -> Option<usize> {
        self.entries
            .iter()
            .filter(|e| e.refused.is_none())
            .find(|e| e.key.key_data() == key && e.may_name(principal))
            .map(|e| e.line)
    }

    /// The first line listing `key` that ship refuses for approvals, with the reason: a key on
    /// such a line cannot approve, through that line or any other.
    pub fn refused_line_for_key(&self, key: &KeyData) -> Option<(usize, &str)> {
        self.entries.iter().find_map(|e| match &e.refused {
            Some(why) if e.key.key_data() == key => Some((e.line, why.as_str())),
            _ => None,
        })
    }
}

/// Why a line's principals cannot be used for approvals, or None. Patterns may use what an
/// identity may ([`crate::identity_problem`]) plus `*`, `?` and one leading `!`; the field may be
/// quoted as a whole, never in part.
fn principals_problem(field: &str, principals: &[String]) -> Option<String> {
    if field.len() > MAX_PRINCIPALS_BYTES {
        return Some(format!(
            "its principals take {} bytes; ship reads at most {MAX_PRINCIPALS_BYTES} bytes of principals per line",
            field.len()
        ));
    }
    for p in principals {
        let body = p.strip_prefix('!').unwrap_or(p);
        if body.starts_with('!') {
            return Some(format!(
                "principal {p:?} starts with `!!` (OpenSSH strips one `!`, so it excludes the name {body:?}, which is nobody's address)"
            ));
        }
        if let Some(c) = body.chars().find(|&c| {
            !c.is_ascii_alphanumeric()
                && !crate::IDENTITY_PUNCTUATION.contains(c)
                && c != '*'
                && c != '?'
        }) {
            return Some(format!(
                "principal {p:?} contains {} (U+{:04X}): principals use only ASCII letters, digits, . _ % + - @ and the patterns * ? !",
                c.escape_debug(),
                c as u32
            ));
        }
    }
    None
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

/// OpenSSH's `match_pattern_list` (match.c), which `ssh-keygen -Y verify` applies to the
/// principals and `namespaces=` of an allowed-signers line: `text` matches the list when some
/// pattern matches it and no `!`-negated pattern does. Case-sensitive, as for signers in
/// OpenSSH. Like OpenSSH, a pattern of 1,023 bytes or more makes the whole list match nothing.
pub(crate) fn match_list<S: AsRef<str>>(text: &str, patterns: &[S]) -> bool {
    let mut positive = false;
    for p in patterns {
        let p = p.as_ref();
        let (negated, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        if p.len() >= 1023 {
            return false;
        }
        if glob(p.as_bytes(), text.as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// OpenSSH's `match_pattern`: `*` matches any run of bytes, `?` any one byte, everything else
/// itself. Iterative, remembering only the last `*`: on a mismatch the text position after that
/// star moves on by one, so the work is at most pattern length × text length (OpenSSH's own
/// recursive version, like ship's before it, is exponential in the number of stars).
///
/// Kept here rather than taken from a crate: `wildmatch` has these two wildcards but matches
/// characters, not bytes (`?` is all of `é` there, half of it in OpenSSH), and `glob`/`globset`
/// add classes, braces and escapes that OpenSSH reads as literal characters.
pub(crate) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last star: (pattern index after it, text index it now covers).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
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
        assert_eq!(
            s.line_giving_key_to(k1.key_data(), "alice@example.com"),
            Some(2)
        );
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
    fn glob_is_openssh_match_pattern() {
        for (p, t, want) in [
            ("*@example.com", "a@example.com", true),
            ("*@example.com", "a@example.org", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a**b", "ab", true),
            ("*a*b", "xaxxb", true),
            ("*a*b", "xaxxbx", false),
            ("ab*", "a", false),
            ("*", "*", true),
            ("?", "*", true),
            ("a*", "b*", false),
            // Bytes, as OpenSSH's C loop reads them: `?` is one byte of a UTF-8 character, so
            // `é` (two bytes) takes `??`. This is why the `wildmatch` crate (which agrees on
            // ASCII, checked on 200 000 random pairs) is not used: it matches characters.
            ("?", "é", false),
            ("??", "é", true),
            ("j?se@x", "jose@x", true),
            ("j?se@x", "josé@x", false),
            ("jos??@x", "josé@x", true),
            // No character classes or escapes in OpenSSH patterns: `[`, `]`, `\` are literal.
            ("[ab]", "a", false),
            ("[ab]", "[ab]", true),
            ("a\\*", "a\\b", true),
            ("a\\*", "ab", false),
        ] {
            assert_eq!(glob(p.as_bytes(), t.as_bytes()), want, "{p:?} vs {t:?}");
        }
    }

    #[test]
    fn pattern_lists_negate_like_openssh() {
        // Each case checked against `ssh-keygen -Y verify -I` (OpenSSH 9.2); the key_types
        // test compares many random lists with ssh-keygen itself.
        for (list, who, want) in [
            (
                "Alice@Example.com,alice@corp.example",
                "alice@example.com",
                false,
            ),
            (
                "Alice@Example.com,alice@corp.example",
                "Alice@Example.com",
                true,
            ),
            ("*@example.com", "alice@Example.com", false),
            (
                "*@example.com,!alice@example.com",
                "alice@example.com",
                false,
            ),
            ("*@example.com,!alice@example.com", "bob@example.com", true),
            ("!alice@example.com,*@example.com", "bob@example.com", true),
            ("bob@example.com,!bob@example.com", "bob@example.com", false),
            ("al?ce@example.com", "alice@example.com", true),
        ] {
            let s = AllowedSigners::parse(&format!("{list} {K1}\n")).unwrap();
            assert_eq!(s.entries[0].matches_principal(who), want, "{list} -I {who}");
        }
        // A literal principal excluded on its own line cannot approve.
        let s = AllowedSigners::parse(&format!("bob@example.com,!bob@example.com {K1}\n")).unwrap();
        let k1 = PublicKey::from_openssh(K1).unwrap();
        assert!(s
            .principals_for_key(k1.key_data(), "shiploop-release", now())
            .is_empty());
        // namespaces= is a pattern list too: `*,!shiploop-release` excludes releases.
        let s = AllowedSigners::parse(&format!("x@y namespaces=\"*,!shiploop-release\" {K1}\n"))
            .unwrap();
        assert!(!s.entries[0].usable("shiploop-release", now()));
        assert!(s.entries[0].usable("git", now()));
    }

    #[test]
    fn pathological_patterns_match_in_linear_time() {
        let pattern = format!("{}b", "a*".repeat(12));
        for n in [100, 100_000] {
            let text = "a".repeat(n);
            let s = AllowedSigners::parse(&format!("{pattern},!{pattern}x {K1}\n")).unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            // On a thread, so a regression fails after a second instead of hanging the suite.
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                let hit = s.entries[0].matches_principal(&text) || s.entries[0].may_name(&text);
                let _ = tx.send((hit, start.elapsed()));
            });
            let (hit, took) = rx
                .recv_timeout(std::time::Duration::from_secs(1))
                .unwrap_or_else(|_| panic!("{pattern:?} against {n} a's took over 1 s"));
            println!("{pattern:?} against {n} a's: {took:?}");
            assert!(!hit);
            assert!(took < std::time::Duration::from_millis(500), "{took:?}");
        }
    }

    #[test]
    fn lines_with_odd_principals_are_refused_and_the_rest_still_work() {
        for (principals, why) in [
            ("\u{430}gent@example.com,bob@example.com", "U+0430"),
            ("agent\u{200B}@example.com,bob@example.com", "U+200B"),
            ("agent\u{FF20}example.com,bob@example.com", "U+FF20"),
            ("!!agent@example.com,bob@example.com", "`!!`"),
            ("bob@example.com,\"agent@example.com\"", "U+0022"),
        ] {
            let s = AllowedSigners::parse(&format!("{principals} {K1}\ncarol@example.com {K2}\n"))
                .unwrap();
            let k1 = PublicKey::from_openssh(K1).unwrap();
            let k2 = PublicKey::from_openssh(K2).unwrap();
            let (line, reason) = s.refused_line_for_key(k1.key_data()).unwrap();
            assert_eq!(line, 1);
            assert!(reason.contains(why), "{principals}: {reason}");
            assert!(s
                .principals_for_key(k1.key_data(), "shiploop-release", now())
                .is_empty());
            assert_eq!(s.refused_line_for_key(k2.key_data()), None);
            assert_eq!(
                s.principals_for_key(k2.key_data(), "shiploop-release", now()),
                vec!["carol@example.com"]
            );
        }
        // Quoting the whole list is fine, as in OpenSSH.
        let s = AllowedSigners::parse(&format!("\"a@x.example,b@x.example\" {K1}\n")).unwrap();
        assert_eq!(s.entries[0].refused, None);
    }

    #[test]
    fn a_long_principals_line_is_refused_in_linear_time() {
        // 100 literals of 1,020 letters and 100 patterns `*aaaa…b<i>`: every literal against
        // every pattern took 33 s; the line is refused after reading it once.
        let literals = (0..100).map(|i| format!("{}{i:03}", "a".repeat(1017)));
        let patterns = (0..100).map(|i| format!("*{}b{i}", "a".repeat(1010)));
        let field: Vec<String> = literals.chain(patterns).collect();
        let text = format!("{} {K1}\n", field.join(","));
        let start = std::time::Instant::now();
        let s = AllowedSigners::parse(&text).unwrap();
        let k1 = PublicKey::from_openssh(K1).unwrap();
        let granted = s.principals_for_key(k1.key_data(), "shiploop-release", now());
        let named = s.line_giving_key_to(k1.key_data(), "agent@example.com");
        let took = start.elapsed();
        println!("{} byte line: {took:?}", text.len());
        assert!(granted.is_empty() && named.is_none());
        let (_, why) = s.refused_line_for_key(k1.key_data()).unwrap();
        assert!(why.contains("bytes"), "{why}");
        assert!(took < std::time::Duration::from_millis(500), "{took:?}");
        // The worst a line under the limit can do: half literals, half patterns that almost
        // match them, every pair compared.
        let literals = (0..8).map(|i| format!("{}{i}", "a".repeat(250)));
        let patterns = (0..7).map(|i| format!("!*{}b{i}", "a".repeat(250)));
        let field: Vec<String> = literals.chain(patterns).collect();
        let field = field.join(",");
        assert!(field.len() <= MAX_PRINCIPALS_BYTES, "{}", field.len());
        let s = AllowedSigners::parse(&format!("{field} {K1}\n")).unwrap();
        let start = std::time::Instant::now();
        let granted = s.principals_for_key(k1.key_data(), "shiploop-release", now());
        let took = start.elapsed();
        println!(
            "{} byte principals field under the limit: {took:?}",
            field.len()
        );
        assert_eq!(granted.len(), 8);
        assert!(took < std::time::Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn literals_that_are_not_plain_identities_grant_nothing() {
        let s = AllowedSigners::parse(&format!(
            "agent@example.com.,{},bob@example.com {K1}\n",
            "a".repeat(300)
        ))
        .unwrap();
        let k1 = PublicKey::from_openssh(K1).unwrap();
        assert_eq!(s.entries[0].refused, None);
        assert_eq!(
            s.principals_for_key(k1.key_data(), "shiploop-release", now()),
            vec!["bob@example.com"]
        );
    }

    #[test]
    fn a_key_belongs_to_every_spelling_of_an_address() {
        let k1 = PublicKey::from_openssh(K1).unwrap();
        for principals in [
            "agent@example.com.,bob@example.com",
            "agent+ship@example.com,bob@example.com",
            "Agent+*@Example.com..,bob@example.com",
            "bob@example.com,!!agent@example.com",
        ] {
            let s = AllowedSigners::parse(&format!("{principals} {K1}\n")).unwrap();
            for submitter in [
                "agent@example.com",
                "agent+x@example.com",
                "AGENT@example.com",
            ] {
                assert!(
                    s.entries[0].may_name(submitter),
                    "{principals} should name {submitter}"
                );
            }
            assert!(s
                .line_giving_key_to(k1.key_data(), "carol@example.com")
                .is_none());
        }
        // The reverse: a literal plain address names its variants.
        let s = AllowedSigners::parse(&format!("agent@example.com {K1}\n")).unwrap();
        assert!(s.entries[0].may_name("agent+x@example.com"));
        assert!(s.entries[0].may_name("agent@example.com."));
    }

    #[test]
    fn a_key_belongs_to_every_spelling_of_the_principals_on_its_lines() {
        let s = AllowedSigners::parse(&format!(
            "Alice@Example.com,alice@corp.example namespaces=\"shiploop-release\" {K1}\n*@Ops.Example.com,!carol@ops.example.com {K2}\n"
        ))
        .unwrap();
        let k1 = PublicKey::from_openssh(K1).unwrap();
        let k2 = PublicKey::from_openssh(K2).unwrap();
        assert!(s
            .line_giving_key_to(k1.key_data(), "alice@example.com")
            .is_some());
        assert!(s
            .line_giving_key_to(k1.key_data(), "ALICE@corp.example")
            .is_some());
        assert!(s
            .line_giving_key_to(k1.key_data(), "bob@example.com")
            .is_none());
        assert!(s
            .line_giving_key_to(k2.key_data(), "alice@example.com")
            .is_none());
        assert!(s
            .line_giving_key_to(k2.key_data(), "dave@ops.example.com")
            .is_some());
        // Named only to be excluded: still treated as possibly theirs.
        assert!(s
            .line_giving_key_to(k2.key_data(), "Carol@ops.example.com")
            .is_some());
        assert!(s
            .line_giving_key_to(k2.key_data(), "dave@example.com")
            .is_none());
    }
}
