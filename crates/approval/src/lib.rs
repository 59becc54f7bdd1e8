//! Human approval of release contracts with SSH signatures (SSHSIG, as `ssh-keygen -Y sign`
//! makes them) checked against a git-style `allowed_signers` file.
//!
//! The signed message binds the release id and the contract digest ([`approval_message`]), in the
//! namespace [`NAMESPACE`], so a signature can neither be moved to another release nor survive a
//! change to the approved content. An agent that deploys has no approver's private key, so it
//! cannot make such a signature.

mod allowed;
mod short_ecdsa;
mod sign;

pub use allowed::{AllowedSigners, Entry, SignersError, MAX_PRINCIPALS_BYTES};
pub use sign::{fingerprint, parse_signature, sign_with_key, verify_signature, SignError, Signed};

/// The SSHSIG namespace for release approvals; signatures in any other namespace are refused.
pub const NAMESPACE: &str = "shiploop-release";

/// Whether two principals name the same person, for the rules "a submitter never approves" and
/// "one approval per person": they are compared as [`canonical_identity`], so
/// `Alice@Example.com`, `alice+ship@example.com` and `alice@example.com.` are all
/// `alice@example.com`. (Which key may sign *as* a principal is a different, case-sensitive
/// question, answered like `ssh-keygen -Y verify` does.)
pub fn same_principal(a: &str, b: &str) -> bool {
    canonical_identity(a) == canonical_identity(b)
}

/// The person behind a principal, for comparing people: surrounding spaces and quotes dropped,
/// lower case, the `+tag` of the local part dropped and the trailing dots of the domain removed
/// (`Agent+ship@Example.com.` is `agent@example.com`). Applied to patterns too, it keeps their
/// `*` and `?`.
pub fn canonical_identity(p: &str) -> String {
    let p = p.trim().replace('"', "").to_lowercase();
    let (local, domain) = match p.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (p.as_str(), None),
    };
    let local = local.split('+').next().unwrap_or_default();
    match domain {
        Some(d) => format!("{local}@{}", d.trim_end_matches('.')),
        None => local.trim_end_matches('.').to_string(),
    }
}

/// The longest identity ship accepts, in bytes (the longest usable e-mail address).
pub const MAX_IDENTITY_BYTES: usize = 254;

/// The characters of an identity besides ASCII letters and digits.
pub const IDENTITY_PUNCTUATION: &str = "._%+-@";

/// Why `p` is not a plain identity ship accepts as a submitter or approver, or None when it is.
/// An identity is an e-mail-like ASCII name: letters, digits and `. _ % + - @`, at most one `@`
/// with something on both sides, no part starting or ending with a dot or holding two in a row,
/// not starting with `-`, at most [`MAX_IDENTITY_BYTES`] long. Anything else (look-alike letters
/// from other scripts, invisible characters, a fullwidth `＠`, quotes, a leading `!`, a domain's
/// trailing dot) could name the same person as a plain address without being equal to it.
pub fn identity_problem(p: &str) -> Option<String> {
    if p.is_empty() {
        return Some("is empty".into());
    }
    if let Some(c) = p
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !IDENTITY_PUNCTUATION.contains(*c))
    {
        return Some(format!(
            "contains {} (U+{:04X}): an identity uses only ASCII letters, digits and {}",
            c.escape_debug(),
            c as u32,
            IDENTITY_PUNCTUATION
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if p.len() > MAX_IDENTITY_BYTES {
        return Some(format!(
            "is {} bytes long; an identity has at most {MAX_IDENTITY_BYTES}",
            p.len()
        ));
    }
    if p.starts_with('-') {
        return Some("starts with -".into());
    }
    let parts: Vec<&str> = p.split('@').collect();
    if parts.len() > 2 {
        return Some("has more than one @".into());
    }
    if parts.iter().any(|part| part.is_empty()) {
        return Some("has nothing before or after its @".into());
    }
    if parts
        .iter()
        .any(|part| part.starts_with('.') || part.ends_with('.') || part.contains(".."))
    {
        return Some(
            "has a dot at the start or end of a part, or two dots in a row (write the address plainly, without a domain's trailing dot)".into(),
        );
    }
    None
}

/// The exact bytes an approver signs: `ship release digest` prints this.
///
/// ```text
/// shiploop release approval v1
/// release: <release id>
/// digest: sha256:<hex>
/// submitted-by: <principal>
/// ```
///
/// The submitter is bound too, so the record of who submitted cannot be rewritten after approval
/// to make an approver look like someone other than the submitter.
///
/// Each field must be a single token (no whitespace or control characters): otherwise two
/// different (release, digest, submitter) triples could produce the same bytes, and one
/// signature would approve both.
pub fn approval_message(
    release_id: &str,
    digest: &str,
    submitted_by: &str,
) -> Result<String, MessageFieldError> {
    for (field, value) in [
        ("release", release_id),
        ("digest", digest),
        ("submitted-by", submitted_by),
    ] {
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(MessageFieldError {
                field,
                value: value.to_string(),
            });
        }
    }
    Ok(format!(
        "shiploop release approval v1\nrelease: {release_id}\ndigest: {digest}\nsubmitted-by: {submitted_by}\n"
    ))
}

/// A field that cannot go into an approval message: empty, or more than one token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} cannot go into an approval message: it must be one token without spaces or control characters")]
pub struct MessageFieldError {
    /// `release`, `digest` or `submitted-by`.
    pub field: &'static str,
    /// What was given for it.
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_smuggle_lines() {
        assert!(approval_message("r", "sha256:00", "bot@x").is_ok());
        assert!(approval_message("r\ndigest: sha256:11", "sha256:00", "bot@x").is_err());
        assert!(approval_message("r", "sha256:00", "bot@x\ndigest: y").is_err());
        assert!(approval_message("r", "sha256:00", "").is_err());
    }

    #[test]
    fn principals_are_one_person_in_any_letter_case() {
        assert!(same_principal("Alice@Example.com", "alice@example.com"));
        assert!(same_principal(" alice@example.com", "ALICE@EXAMPLE.COM"));
        assert!(!same_principal("alice@example.com", "alice@corp.example"));
    }

    #[test]
    fn principals_are_one_person_in_any_spelling_of_an_address() {
        for variant in [
            "alice+ship@example.com",
            "alice@example.com.",
            "alice@example.com..",
            "\"alice@example.com\"",
            "Alice+x+y@EXAMPLE.com.",
        ] {
            assert!(same_principal(variant, "alice@example.com"), "{variant}");
        }
        assert!(!same_principal("alice@example.com", "alicia@example.com"));
        assert_eq!(canonical_identity("*+x@Example.com."), "*@example.com");
    }

    #[test]
    fn identities_are_plain_ascii_addresses() {
        for ok in [
            "alice@example.com",
            "a.b+c_d%e-f@x.example",
            "bob",
            &"a".repeat(254),
        ] {
            assert_eq!(identity_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("\u{430}gent@example.com", "U+0430"),
            ("agent\u{200B}@example.com", "U+200B"),
            ("agent\u{FF20}example.com", "U+FF20"),
            ("!agent@example.com", "U+0021"),
            ("\"agent@example.com\"", "U+0022"),
            ("a b@example.com", "U+0020"),
            ("agent@example.com.", "trailing dot"),
            (".agent@example.com", "dot"),
            ("agent@example..com", "dot"),
            ("agent@@example.com", "more than one @"),
            ("@example.com", "before or after"),
            ("-agent@example.com", "starts with -"),
            (&"a".repeat(255), "at most 254"),
        ] {
            let got = identity_problem(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(got.contains(why), "{bad:?}: {got}");
        }
    }
}
