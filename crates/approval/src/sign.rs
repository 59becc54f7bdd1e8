//! Making and checking SSHSIG signatures over approval messages.

use crate::{short_ecdsa, NAMESPACE};
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, SshSig};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
/// Why signing or verifying an approval failed.
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
    /// The key or signature type is one ship does not accept; the text names it and why.
    UnsupportedKey(String),
    /// Any other failure; the text says what.
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
            SignError::UnsupportedKey(m) => write!(f, "{m}"),
            SignError::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SignError {}

/// A signature made by `sign_with_key`.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The signature, ASCII-armored (`-----BEGIN SSH SIGNATURE-----`).
    pub armored: String,
    /// The signing key's SHA256 fingerprint.
    pub fingerprint: String,
    /// The parsed signature.
    pub signature: SshSig,
}

/// Signs `message` in the release namespace with an OpenSSH private key (decrypting it with
/// `passphrase` when it is encrypted).
pub fn sign_with_key(
    key_text: &str,
    passphrase: Option<&str>,
    message: &str,
) -> Result<Signed, SignError> {
    let ecdsa = || {
        matches!(
            private_key_algorithm(key_text),
            Some(Algorithm::Ecdsa { .. })
        )
    };
    let mut key = match PrivateKey::from_openssh(key_text) {
        Ok(key) => key,
        // ssh-key cannot read an ECDSA private number stored one byte short: read here.
        Err(ssh_key::Error::Encoding(_)) if ecdsa() => short_ecdsa::read(key_text, passphrase)?,
        Err(e) => return Err(SignError::BadKey(e.to_string())),
    };
    if key.is_encrypted() {
        let pass = passphrase.ok_or_else(no_passphrase)?;
        key = match key.decrypt(pass) {
            Ok(key) => key,
            // A right passphrase (the check words matched), then a number ssh-key cannot read.
            Err(ssh_key::Error::Encoding(_)) if ecdsa() => short_ecdsa::read(key_text, Some(pass))?,
            Err(_) => return Err(wrong_passphrase()),
        };
    }
    supported_key(key.public_key().key_data())?;
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

/// The key type of an OpenSSH private key file, read from its unencrypted public part.
fn private_key_algorithm(key_text: &str) -> Option<Algorithm> {
    use ssh_encoding::Decode;
    let blob = armored_bytes(key_text)?;
    let mut r = blob.strip_prefix(b"openssh-key-v1\0")?;
    // cipher name, KDF name, KDF options
    for _ in 0..3 {
        Vec::<u8>::decode(&mut r).ok()?;
    }
    u32::decode(&mut r).ok()?;
    let public = Vec::<u8>::decode(&mut r).ok()?;
    KeyData::decode(&mut public.as_slice())
        .ok()
        .map(|k| k.algorithm())
}

/// Parses an ASCII-armored SSH signature; an unsupported type is named in the error.
pub fn parse_signature(armored: &str) -> Result<SshSig, SignError> {
    SshSig::from_pem(armored.trim()).map_err(|e| match signature_type(armored).as_deref() {
        Some("ssh-rsa") => SignError::UnsupportedKey(RSA_SHA1.into()),
        _ => SignError::BadSignature(e.to_string()),
    })
}

const RSA_SHA1: &str = "ssh-rsa signatures (RSA with SHA-1) are not accepted, as by OpenSSH: sign with `ssh-keygen -Y sign`, which uses rsa-sha2-512";

/// An encrypted key and no passphrase.
pub(crate) fn no_passphrase() -> SignError {
    SignError::Passphrase(
        "the private key is encrypted: set SHIP_KEY_PASSPHRASE, or sign with ssh-keygen and use --signature".into(),
    )
}

/// A passphrase that does not open the key.
pub(crate) fn wrong_passphrase() -> SignError {
    SignError::Passphrase("wrong passphrase for the private key".into())
}

/// The bytes inside OpenSSH's armour (a private key file or a signature), which it wraps at
/// 70 columns, not PEM's usual 64.
pub(crate) fn armored_bytes(text: &str) -> Option<Vec<u8>> {
    let mut pem = ssh_encoding::pem::Decoder::new_wrapped(text.trim().as_bytes(), 70).ok()?;
    let mut blob = Vec::new();
    pem.decode_to_end(&mut blob).ok()?;
    Some(blob)
}

/// The signature algorithm named inside an SSHSIG, read without checking anything else, so that
/// a signature ssh-key will not parse (it refuses SHA-1 RSA ones) is still refused by its type.
fn signature_type(armored: &str) -> Option<String> {
    use ssh_encoding::Decode;
    let blob = armored_bytes(armored)?;
    let mut r = blob.strip_prefix(b"SSHSIG")?;
    u32::decode(&mut r).ok()?;
    // public key, namespace, reserved, hash algorithm
    for _ in 0..4 {
        Vec::<u8>::decode(&mut r).ok()?;
    }
    let sig = Vec::<u8>::decode(&mut r).ok()?;
    String::decode(&mut sig.as_slice()).ok()
}

/// Checks namespace and cryptographic validity of `sig` over `message`. Who signed is a separate
/// question, answered by the allowed-signers file.
pub fn verify_signature(sig: &SshSig, message: &str) -> Result<(), SignError> {
    verify_in(sig, NAMESPACE, message)
}

fn verify_in(sig: &SshSig, namespace: &str, message: &str) -> Result<(), SignError> {
    if sig.namespace() != namespace {
        return Err(SignError::WrongNamespace(sig.namespace().to_string()));
    }
    supported_key(sig.public_key())?;
    let alg = sig.signature().algorithm();
    match &alg {
        // ssh-key 0.6 does not even parse these; kept in case a later version does.
        Algorithm::Rsa { hash: None } => return Err(SignError::UnsupportedKey(RSA_SHA1.into())),
        // e.g. webauthn-sk-ecdsa-sha2-nistp256@openssh.com, which ssh-key cannot check.
        Algorithm::Other(name) => {
            return Err(SignError::UnsupportedKey(format!(
                "{} signatures are not supported",
                name.as_str()
            )))
        }
        _ => {}
    }
    let sk = matches!(alg, Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256);
    if sk && !user_was_present(sig) {
        // What `ssh-keygen -Y verify` requires unless the line says `no-touch-required`, an
        // option ship does not accept.
        return Err(SignError::UnsupportedKey(format!(
            "the {} signature was made without touching the security key (user-presence flag not set)",
            alg.as_str()
        )));
    }
    let key = ssh_key::PublicKey::new(sig.public_key().clone(), "");
    key.verify(namespace, message.as_bytes(), sig)
        .map_err(|e| match e {
            ssh_key::Error::AlgorithmUnsupported { algorithm } => SignError::UnsupportedKey(
                format!("{} signatures are not supported", algorithm.as_str()),
            ),
            _ => SignError::Mismatch,
        })
}

/// Refuses key types ship cannot check, naming them (rather than reporting every signature by
/// such a key as "does not match").
fn supported_key(key: &KeyData) -> Result<(), SignError> {
    match key.algorithm() {
        Algorithm::Rsa { .. } => match key.rsa().map(|k| rsa_bits(&k.n)) {
            // The ssh-key library cannot check them (its minimum), and would call every
            // signature by one a mismatch.
            Some(bits) if bits < 2048 => Err(SignError::UnsupportedKey(format!(
                "RSA keys shorter than 2048 bits are refused (this one has {bits}): use an ed25519 or ECDSA key, or RSA of 2048 bits or more"
            ))),
            _ => Ok(()),
        },
        Algorithm::Ed25519
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256
        | Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256 | EcdsaCurve::NistP384 | EcdsaCurve::NistP521,
        } => Ok(()),
        Algorithm::Dsa => Err(SignError::UnsupportedKey(
            "ssh-dss (DSA) keys are not supported: DSA is limited to 1024 bits and SHA-1, and OpenSSH has dropped it; use an ed25519 or ECDSA key".into(),
        )),
        other => Err(SignError::UnsupportedKey(format!(
            "{} keys are not supported: use an ed25519, ECDSA (P-256, P-384, P-521), RSA or FIDO (sk-) key",
            other.as_str()
        ))),
    }
}

/// The size of an RSA modulus in bits.
fn rsa_bits(n: &ssh_key::Mpint) -> usize {
    let bytes = n.as_positive_bytes().unwrap_or_default();
    let bytes = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
    match bytes.first() {
        Some(top) => bytes.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// FIDO (sk-) signatures end with a flags byte and a 32-bit counter; bit 0 of the flags is
/// "user present".
fn user_was_present(sig: &SshSig) -> bool {
    let bytes = sig.signature_bytes();
    bytes.len() >= 5 && bytes[bytes.len() - 5] & 0x01 != 0
}

/// The key's SHA256 fingerprint, as `ssh-keygen -l` prints it.
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

    // A FIDO signature (sk-ssh-ed25519, namespace "example", message "testing") from the ssh-key
    // crate's test vectors; `ssh-keygen -Y verify` accepts it.
    const SK_SIG: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAg1KgSUW
V4f6c3zcWguqp6kmM37LsazmWufupeMGpBnK4AAAAEc3NoOgAAAAdleGFtcGxlAAAAAAAA
AAZzaGE1MTIAAABnAAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAQC9WcLb5NG
XRdCOHinQIS/MxdnAx7SQMYnyOt5q4+huTWh/Zk/UvWhP+wXl/ikNPlDpgliRq6o3VyKqS
LLo9lQYBAAAACQ==
-----END SSH SIGNATURE-----
";

    #[test]
    fn fido_signatures_verify_and_need_the_touch() {
        let sig = parse_signature(SK_SIG).unwrap();
        assert_eq!(verify_in(&sig, "example", "testing"), Ok(()));
        assert_eq!(
            verify_in(&sig, "example", "testing!"),
            Err(SignError::Mismatch)
        );
        // The same signature with the user-presence flag cleared.
        let mut bytes = sig.signature_bytes().to_vec();
        let flags = bytes.len() - 5;
        bytes[flags] &= !0x01;
        let untouched = SshSig::new(
            sig.public_key().clone(),
            "example",
            sig.hash_alg(),
            ssh_key::Signature::new(sig.algorithm(), bytes).unwrap(),
        )
        .unwrap();
        let err = verify_in(&untouched, "example", "testing").unwrap_err();
        assert!(err.to_string().contains("user-presence"), "{err}");
    }
}
