//! Making and checking SSHSIG signatures over approval messages.

use crate::NAMESPACE;
use ssh_key::{HashAlg, LineEnding, PrivateKey, SshSig};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum SignError {
    /// The private key file could not be parsed.
    BadKey(String),
    /// The key is encrypted and no passphrase (or a wrong one) was given.
    Passphrase(String),
    /// The signature text is not an SSH signature.
    BadSignature(String),
    /// The signature was made for another purpose than approving releases.
    WrongNamespace(String),
    /// The signature does not match the message (wrong release, changed contract, or forged).
    Mismatch,
    Other(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::BadKey(m) => write!(f, "not a usable OpenSSH private key: {m}"),
            SignError::Passphrase(m) => write!(f, "{m}"),
            SignError::BadSignature(m) => write!(f, "not an SSH signature: {m}"),
            SignError::WrongNamespace(ns) => write!(
                f,
                "the signature is for namespace {ns:?}, not {NAMESPACE:?} (sign with `ssh-keygen -Y sign -n {NAMESPACE}`)"
            ),
            SignError::Mismatch => write!(
                f,
                "the signature does not match this release's approval message (made for another release, or the contract or its recorded submitter changed)"
            ),
            SignError::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SignError {}

/// A signature made by `sign_with_key`.
#[derive(Debug, Clone)]
pub struct Signed {
    pub armored: String,
    pub fingerprint: String,
    pub signature: SshSig,
}

/// Signs `message` in the release namespace with an OpenSSH private key (decrypting it with
/// `passphrase` when it is encrypted).
pub fn sign_with_key(
    key_text: &str,
    passphrase: Option<&str>,
    message: &str,
) -> Result<Signed, SignError> {
    let mut key =
        PrivateKey::from_openssh(key_text).map_err(|e| SignError::BadKey(e.to_string()))?;
    if key.is_encrypted() {
        let pass = passphrase.ok_or_else(|| {
            SignError::Passphrase(
                "the private key is encrypted: set SHIP_KEY_PASSPHRASE, or sign with ssh-keygen and use --signature".into(),
            )
        })?;
        key = key
            .decrypt(pass)
            .map_err(|_| SignError::Passphrase("wrong passphrase for the private key".into()))?;
    }
    if key.algorithm().is_rsa() {
        // ssh-key 0.6 rebuilds RSA private keys wrongly (it passes p twice), so it cannot sign
        // with them; ssh-keygen can, and its signatures verify here.
        return Err(SignError::Other(
            "--key cannot sign with RSA keys: sign with `ssh-keygen -Y sign -n shiploop-release` and attach it with --signature".into(),
        ));
    }
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, message.as_bytes())
        .map_err(|e| SignError::Other(format!("signing failed: {e}")))?;
    let armored = sig
        .to_pem(LineEnding::LF)
        .map_err(|e| SignError::Other(e.to_string()))?;
    Ok(Signed {
        armored,
        fingerprint: fingerprint(sig.public_key()),
        signature: sig,
    })
}

pub fn parse_signature(armored: &str) -> Result<SshSig, SignError> {
    SshSig::from_pem(armored.trim()).map_err(|e| SignError::BadSignature(e.to_string()))
}

/// Checks namespace and cryptographic validity of `sig` over `message`. Who signed is a separate
/// question, answered by the allowed-signers file.
pub fn verify_signature(sig: &SshSig, message: &str) -> Result<(), SignError> {
    if sig.namespace() != NAMESPACE {
        return Err(SignError::WrongNamespace(sig.namespace().to_string()));
    }
    let key = ssh_key::PublicKey::new(sig.public_key().clone(), "");
    key.verify(NAMESPACE, message.as_bytes(), sig)
        .map_err(|_| SignError::Mismatch)
}

pub fn fingerprint(key: &ssh_key::public::KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval_message;

    // A throwaway test key (ed25519, unencrypted), made with ssh-keygen for these tests only.
    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACD7JcF9XPLcvAE4KOesDsPdzp3o3nzMvrtcowD3N5b0ZAAAAJhY05UsWNOV
LAAAAAtzc2gtZWQyNTUxOQAAACD7JcF9XPLcvAE4KOesDsPdzp3o3nzMvrtcowD3N5b0ZA
AAAED3EGUZ0RcgveNbPKpvNrSFp4DBoZRx02C9dDvC5ej1rPslwX1c8ty8ATgo56wOw93O
nejefMy+u1yjAPc3lvRkAAAAEnRlc3RAc2hpcGxvb3AudGVzdAECAw==
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn signs_and_verifies_and_binds_the_message() {
        let msg = approval_message("2026-11-27-a", "sha256:00", "bot@x").unwrap();
        let s = sign_with_key(KEY, None, &msg).unwrap();
        assert!(s.armored.starts_with("-----BEGIN SSH SIGNATURE-----"));
        assert!(s.fingerprint.starts_with("SHA256:"));
        let sig = parse_signature(&s.armored).unwrap();
        verify_signature(&sig, &msg).unwrap();
        let other = approval_message("2026-11-27-a", "sha256:01", "bot@x").unwrap();
        assert_eq!(verify_signature(&sig, &other), Err(SignError::Mismatch));
    }

    #[test]
    fn other_namespaces_are_refused() {
        let key = PrivateKey::from_openssh(KEY).unwrap();
        let msg = approval_message("r", "sha256:00", "bot@x").unwrap();
        let sig = key.sign("git", HashAlg::Sha512, msg.as_bytes()).unwrap();
        assert_eq!(
            verify_signature(&sig, &msg),
            Err(SignError::WrongNamespace("git".into()))
        );
    }

    #[test]
    fn garbage_is_not_a_signature_or_key() {
        assert!(matches!(
            parse_signature("hello"),
            Err(SignError::BadSignature(_))
        ));
        assert!(matches!(
            sign_with_key("nope", None, "m"),
            Err(SignError::BadKey(_))
        ));
    }
}
