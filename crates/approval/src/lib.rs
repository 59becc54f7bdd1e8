//! Human approval of release contracts with SSH signatures (SSHSIG, as `ssh-keygen -Y sign`
//! makes them) checked against a git-style `allowed_signers` file.
//!
//! The signed message binds the release id and the contract digest ([`approval_message`]), in the
//! namespace [`NAMESPACE`], so a signature can neither be moved to another release nor survive a
//! change to the approved content. An agent that deploys has no approver's private key, so it
//! cannot make such a signature.

mod allowed;
mod sign;

pub use allowed::{AllowedSigners, Entry, SignersError};
pub use sign::{fingerprint, parse_signature, sign_with_key, verify_signature, SignError, Signed};

/// The SSHSIG namespace for release approvals; signatures in any other namespace are refused.
pub const NAMESPACE: &str = "shiploop-release";

/// Whether two principals name the same person, for the rules "a submitter never approves" and
/// "one approval per person": letter case and surrounding spaces are ignored, so
/// `Alice@Example.com` is `alice@example.com`. (Which key may sign *as* a principal is a
/// different, case-sensitive question, answered like `ssh-keygen -Y verify` does.)
pub fn same_principal(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
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
) -> Result<String, String> {
    for (name, value) in [
        ("release", release_id),
        ("digest", digest),
        ("submitted-by", submitted_by),
    ] {
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{name} {value:?} cannot go into an approval message: it must be one token without spaces or control characters"));
        }
    }
    Ok(format!(
        "shiploop release approval v1\nrelease: {release_id}\ndigest: {digest}\nsubmitted-by: {submitted_by}\n"
    ))
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
}
