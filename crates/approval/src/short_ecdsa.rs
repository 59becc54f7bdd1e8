//! OpenSSH ECDSA private keys whose private number is stored one byte short.
//!
//! OpenSSH writes the private number as an mpint, which is minimal: one byte shorter whenever
//! its top byte is zero — about half of P-521 keys and 1 in 256 P-256 or P-384 keys. ssh-key
//! 0.6 reads it only at the curve's full width and refuses the rest. Approvers do not choose
//! their key's bytes, so `--key` reads such a key here: the file's layout by hand, decrypted
//! with ssh-key's own KDF and cipher when it is encrypted, the number left-padded to full width
//! and checked against the public point before it signs anything.

use crate::sign::{no_passphrase, wrong_passphrase, SignError};
use ssh_encoding::{Decode, Reader};
use ssh_key::private::{EcdsaKeypair, KeypairData};
use ssh_key::public::KeyData;
use ssh_key::{Cipher, Kdf, PrivateKey};
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"openssh-key-v1\0";

/// Reads an OpenSSH ECDSA private key whose private number ssh-key cannot read, decrypting it
/// with `passphrase` when it is encrypted.
pub(crate) fn read(key_text: &str, passphrase: Option<&str>) -> Result<PrivateKey, SignError> {
    let bad = |what: &str| SignError::BadKey(what.to_string());
    let blob = crate::sign::armored_bytes(key_text)
        .ok_or_else(|| bad("not an OpenSSH private key file"))?;
    let mut r = blob
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("not an OpenSSH private key file"))?;
    let cipher = Cipher::decode(&mut r).map_err(|e| bad(&format!("its cipher: {e}")))?;
    let kdf = Kdf::decode(&mut r).map_err(|e| bad(&format!("its key derivation: {e}")))?;
    let keys = u32::decode(&mut r).map_err(|e| bad(&e.to_string()))?;
    if keys != 1 {
        return Err(bad(&format!("it holds {keys} keys, not one")));
    }
    let public = r
        .read_prefixed(KeyData::decode)
        .map_err(|e| bad(&format!("its public key: {e}")))?;
    let mut private = Zeroizing::new(Vec::<u8>::decode(&mut r).map_err(|e| bad(&e.to_string()))?);
    if cipher.is_some() {
        let pass = passphrase.ok_or_else(no_passphrase)?;
        let tag = if cipher.has_tag() {
            let mut tag = [0u8; 16];
            r.read(&mut tag).map_err(|e| bad(&e.to_string()))?;
            Some(tag)
        } else {
            None
        };
        let (key, iv) = kdf
            .derive_key_and_iv(cipher, pass)
            .map_err(|e| bad(&format!("deriving its key: {e}")))?;
        cipher
            .decrypt(&key, &iv, &mut private, tag)
            .map_err(|_| wrong_passphrase())?;
    }
    let wrong_pass = || {
        if cipher.is_some() {
            wrong_passphrase()
        } else {
            bad("its check numbers differ")
        }
    };
    let mut p = private.as_slice();
    let check = (u32::decode(&mut p), u32::decode(&mut p));
    match check {
        (Ok(a), Ok(b)) if a == b => {}
        _ => return Err(wrong_pass()),
    }
    let field = |p: &mut &[u8]| Vec::<u8>::decode(p).map_err(|e| bad(&e.to_string()));
    let _algorithm = field(&mut p)?;
    let curve = String::from_utf8(field(&mut p)?).map_err(|_| bad("its curve name"))?;
    let point = field(&mut p)?;
    let number = Zeroizing::new(field(&mut p)?);
    let comment = String::from_utf8(field(&mut p)?).map_err(|_| bad("its comment"))?;
    let keypair = keypair(&curve, &point, &number)?;
    let key =
        PrivateKey::new(KeypairData::Ecdsa(keypair), comment).map_err(|e| bad(&e.to_string()))?;
    if key.public_key().key_data() != &public {
        return Err(bad("its private part is not the key its public part names"));
    }
    Ok(key)
}

/// The keypair of `curve` from the public point and the private number as OpenSSH stored
/// it (any length up to the curve's width, leading zeros dropped).
fn keypair(curve: &str, point: &[u8], number: &[u8]) -> Result<EcdsaKeypair, SignError> {
    macro_rules! on_curve {
        ($krate:ident, $variant:ident, $width:literal) => {{
            let sk = $krate::SecretKey::from_slice(&*padded::<$width>(number)?)
                .map_err(|_| SignError::BadKey("its private number is not on the curve".into()))?;
            let public = sk.public_key().to_encoded_point(false);
            if public.as_bytes() != point {
                return Err(SignError::BadKey(
                    "its private number does not match its public point".into(),
                ));
            }
            EcdsaKeypair::$variant {
                public,
                private: sk.into(),
            }
        }};
    }
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    Ok(match curve {
        "nistp256" => on_curve!(p256, NistP256, 32),
        "nistp384" => on_curve!(p384, NistP384, 48),
        "nistp521" => on_curve!(p521, NistP521, 66),
        other => return Err(SignError::BadKey(format!("unknown ECDSA curve {other:?}"))),
    })
}

/// `number` (big-endian, maybe short, maybe with mpint's leading zero) at full `N` bytes.
fn padded<const N: usize>(number: &[u8]) -> Result<Zeroizing<[u8; N]>, SignError> {
    let start = number.iter().position(|b| *b != 0).unwrap_or(number.len());
    let digits = &number[start..];
    if digits.is_empty() || digits.len() > N {
        return Err(SignError::BadKey(format!(
            "its private number is {} bytes long; the curve's are {N}",
            digits.len()
        )));
    }
    let mut out = Zeroizing::new([0u8; N]);
    out[N - digits.len()..].copy_from_slice(digits);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_padded_to_the_curves_width() {
        assert_eq!(*padded::<4>(&[1, 2]).unwrap(), [0, 0, 1, 2]);
        assert_eq!(*padded::<4>(&[0, 0x80, 0, 0, 1]).unwrap(), [0x80, 0, 0, 1]);
        assert!(padded::<4>(&[1, 2, 3, 4, 5]).is_err());
        assert!(padded::<4>(&[0, 0]).is_err());
    }
}
