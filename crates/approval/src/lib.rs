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
pub fn approval_message(release_id: &str, digest: &str, submitted_by: &str) -> String {
    format!(
        "shiploop release approval v1\nrelease: {release_id}\ndigest: {digest}\nsubmitted-by: {submitted_by}\n"
    )
}
