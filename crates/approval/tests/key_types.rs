//! Which key types approve: keys made and signatures made by the real `ssh-keygen`, checked by
//! ship's code, and ship's signatures checked by `ssh-keygen -Y verify`.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use shiploop_approval::{
    approval_message, parse_signature, sign_with_key, verify_signature, AllowedSigners, SignError,
    NAMESPACE,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// ssh-keygen is required: a missing tool must fail the test, never skip it.
fn ssh_keygen(dir: &Path, args: &[&str]) -> std::process::Output {
    let o = Command::new("ssh-keygen")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen must be installed (apt-get install openssh-client)");
    assert!(
        o.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn keygen(dir: &Path, name: &str, kind: &str, bits: &str) -> PathBuf {
    ssh_keygen(
        dir,
        &[
            "-q", "-t", kind, "-b", bits, "-N", "", "-C", name, "-f", name,
        ],
    );
    dir.join(name)
}

fn public_line(key: &Path) -> String {
    let text = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn now() -> DateTime<Utc> {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

#[test]
fn ecdsa_p384_and_p521_signatures_made_by_ssh_keygen_verify() {
    let dir = tempfile::tempdir().unwrap();
    let msg = approval_message("2026-11-27-a", "sha256:00", "bot@example.com").unwrap();
    let other = approval_message("2026-11-27-a", "sha256:01", "bot@example.com").unwrap();
    for bits in ["384", "521"] {
        let name = format!("p{bits}");
        let key = keygen(dir.path(), &name, "ecdsa", bits);
        std::fs::write(dir.path().join("msg"), &msg).unwrap();
        let _ = std::fs::remove_file(dir.path().join("msg.sig"));
        ssh_keygen(
            dir.path(),
            &["-Y", "sign", "-f", &name, "-n", NAMESPACE, "msg"],
        );
        let armored = std::fs::read_to_string(dir.path().join("msg.sig")).unwrap();
        let sig = parse_signature(&armored).unwrap();
        assert_eq!(verify_signature(&sig, &msg), Ok(()), "P-{bits}");
        assert_eq!(
            verify_signature(&sig, &other),
            Err(SignError::Mismatch),
            "P-{bits}"
        );
        let signers =
            AllowedSigners::parse(&format!("alice@example.com {}\n", public_line(&key))).unwrap();
        assert!(signers.allows("alice@example.com", sig.public_key(), NAMESPACE, now()));
    }
}

/// Checks `armored`, made by ship, with `ssh-keygen -Y verify` against `key`'s public line.
fn ssh_keygen_verifies(dir: &Path, key: &Path, msg: &str, armored: &str) {
    std::fs::write(dir.join("msg"), msg).unwrap();
    std::fs::write(dir.join("ship.sig"), armored).unwrap();
    std::fs::write(
        dir.join("allowed"),
        format!("alice@example.com {}\n", public_line(key)),
    )
    .unwrap();
    let o = Command::new("ssh-keygen")
        .current_dir(dir)
        .args(["-Y", "verify", "-f", "allowed", "-I", "alice@example.com"])
        .args(["-n", NAMESPACE, "-s", "ship.sig"])
        .stdin(std::fs::File::open(dir.join("msg")).unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        key.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Whether the ssh-key library alone reads (and, given `pass`, decrypts) the key in `text`:
/// it does not when OpenSSH stored the private number one byte short.
fn library_reads(text: &str, pass: Option<&str>) -> bool {
    match (ssh_key::PrivateKey::from_openssh(text), pass) {
        (Ok(k), Some(p)) => k.decrypt(p).is_ok(),
        (Ok(_), None) => true,
        (Err(_), _) => false,
    }
}

#[test]
fn ship_signs_with_p384_and_p521_keys_and_ssh_keygen_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let msg = approval_message("2026-11-27-a", "sha256:00", "bot@example.com").unwrap();
    // About half of P-521 keys store their private number one byte short: make keys until
    // both kinds have been seen (2^-29 odds of a false failure). ship signs with every one.
    let mut p521 = (0, 0);
    for i in 0..30 {
        let bits = if i == 0 { "384" } else { "521" };
        let name = format!("k{i}");
        let key = keygen(dir.path(), &name, "ecdsa", bits);
        let text = std::fs::read_to_string(&key).unwrap();
        let signed = sign_with_key(&text, None, &msg).unwrap_or_else(|e| panic!("P-{bits}: {e}"));
        ssh_keygen_verifies(dir.path(), &key, &msg, &signed.armored);
        if bits == "521" {
            match library_reads(&text, None) {
                true => p521.0 += 1,
                false => p521.1 += 1,
            }
        }
        if p521.0 > 0 && p521.1 > 0 {
            break;
        }
    }
    println!(
        "P-521 keys stored at full width: {}, one byte short: {}",
        p521.0, p521.1
    );
    assert!(p521.0 > 0 && p521.1 > 0, "{p521:?}");
}

/// A P-256 or P-384 key whose private number's top byte is zero (1 in 256 keys: too rare to
/// wait for), written by ssh-key at full width, then rewritten by OpenSSH itself
/// (`ssh-keygen -p`), which stores the number one byte short — encrypted with `pass` and
/// `cipher` (OpenSSH's default when empty) when `pass` is given.
fn short_key(dir: &Path, name: &str, bits: &str, pass: &str, cipher: &str) -> PathBuf {
    use ssh_key::private::{EcdsaKeypair, KeypairData};
    // Any number below the curve's order with a zero top byte.
    let number: Vec<u8> = (0..bits.parse::<usize>().unwrap() / 8)
        .map(|i| (i as u8).wrapping_mul(7))
        .collect();
    let keypair = match bits {
        "256" => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let sk = p256::SecretKey::from_slice(&number).unwrap();
            EcdsaKeypair::NistP256 {
                public: sk.public_key().to_encoded_point(false),
                private: sk.into(),
            }
        }
        _ => {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            let sk = p384::SecretKey::from_slice(&number).unwrap();
            EcdsaKeypair::NistP384 {
                public: sk.public_key().to_encoded_point(false),
                private: sk.into(),
            }
        }
    };
    let key = ssh_key::PrivateKey::new(KeypairData::Ecdsa(keypair), name).unwrap();
    let path = dir.join(name);
    key.write_openssh_file(&path, ssh_key::LineEnding::LF)
        .unwrap();
    std::fs::write(
        path.with_extension("pub"),
        key.public_key().to_openssh().unwrap(),
    )
    .unwrap();
    let mut args = vec!["-p", "-a", "1", "-P", "", "-N", pass, "-f", name];
    if !cipher.is_empty() {
        args.extend(["-Z", cipher]);
    }
    ssh_keygen(dir, &args);
    path
}

#[test]
fn ship_signs_with_ecdsa_keys_whose_private_number_openssh_stored_one_byte_short() {
    let dir = tempfile::tempdir().unwrap();
    let msg = approval_message("2026-11-27-a", "sha256:00", "bot@example.com").unwrap();
    for bits in ["256", "384"] {
        // Plain, encrypted (aes256-ctr), and encrypted with a cipher that carries a tag.
        for (pass, cipher) in [("", ""), ("pw", ""), ("pw", "aes256-gcm@openssh.com")] {
            let name = format!("short{bits}{pass}{}", cipher.len());
            let key = short_key(dir.path(), &name, bits, pass, cipher);
            let text = std::fs::read_to_string(&key).unwrap();
            let pass = (!pass.is_empty()).then_some(pass);
            assert!(!library_reads(&text, pass), "{name} is stored short");
            if pass.is_some() {
                assert!(matches!(
                    sign_with_key(&text, None, &msg),
                    Err(SignError::Passphrase(_))
                ));
                assert!(matches!(
                    sign_with_key(&text, Some("not it"), &msg),
                    Err(SignError::Passphrase(_))
                ));
            }
            let signed = sign_with_key(&text, pass, &msg).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(verify_signature(&signed.signature, &msg), Ok(()), "{name}");
            ssh_keygen_verifies(dir.path(), &key, &msg, &signed.armored);
        }
    }
}

// A DSA signature over approval_message("r", "sha256:00", "bot@x"), made by OpenSSH 9.2's
// `ssh-keygen -Y sign -n shiploop-release` (later OpenSSH releases no longer make DSA keys, so
// it is kept here rather than made at test time). `ssh-keygen -Y verify` accepts it.
const DSA_SIGNATURE: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAAbIAAAAHc3NoLWRzcwAAAIEA5xoGunIp7mEcvInOPvRwtTyRDOQJAm
kar+jqFE3IQX1dI8/Y7mUS4zbLlcPzGSewE4AwXsjZLm+PagfEE8YoffBQmlXukOo8m4Gy
GVkrH0w4NI6YxMQ5Si8WhpPP7xJm/zzWkIBy7/YLTJjD+qpOtIh0nGZz0l//J4v18bmowY
kAAAAVAJXd/2phucSORO0+HUHdSJC8xWkHAAAAgELSCCXC1MvBpdHpdO11KIJfWh1DbnIE
IU+lihwHN3Z/mjukUpybGWDb4UTujnhLR2ERsb2XnDuPI1AvdcV/QK7t2bneUapbq7x/kW
R08t+dCYCnR9OwIjVpuANEwdSYQA0tGmVrNsc4/EeXKaZUmP2RcMWsgJXroYdzcIK43jjq
AAAAgQCEgPwPAbWOEYai74GaqiNYVBfUT3+4sh4TChe+/NjvLiFNyDfwbOebAmRCZHoTSE
nQC2C9aAqs35lQALTuf1/DfN+p4iC6RKDn8tSGljRtdzi8GLyCVecIhywNfdMI2+skEK0A
AEwnn86FJHGWe2zYMf0R6Ay6fGswr27+fom6tAAAABBzaGlwbG9vcC1yZWxlYXNlAAAAAA
AAAAZzaGE1MTIAAAA3AAAAB3NzaC1kc3MAAAAoHWKmPoVdIMW30kFLMntSOQAn2b8qJFB7
Wg+JblWkUflG5yP8zwNlGQ==
-----END SSH SIGNATURE-----
";

#[test]
fn a_refused_key_type_is_named_not_called_a_mismatch() {
    let msg = approval_message("r", "sha256:00", "bot@x").unwrap();
    let sig = parse_signature(DSA_SIGNATURE).unwrap();
    let err = verify_signature(&sig, &msg).unwrap_err();
    assert!(matches!(err, SignError::UnsupportedKey(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("ssh-dss"), "{text}");
    assert!(!text.contains("does not match"), "{text}");
}

// An RSA signature with SHA-1 (`ssh-rsa`) over approval_message("r", "sha256:00", "bot@x"),
// assembled by hand (ssh-keygen never makes one): `ssh-keygen -Y verify` refuses it with
// "unsupported RSA signature algorithm ssh-rsa"; the same bytes signed with SHA-512 and typed
// rsa-sha2-512 verify there.
const RSA_SHA1_SIGNATURE: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAARcAAAAHc3NoLXJzYQAAAAMBAAEAAAEBALl9lZutQsFeMDP1aiz9Qe
3I7XukVFFzIHhfhnyvmnLVcPeiaQOlexvTIY1Yq2w/PNDo3cMjLYHDU1zreXXHWgBLqUdk
2j7/VEgHuKu/Pj9tMOszQg1NTmBbnucxMywl0NMJRbcym8ryqQzOmELdNjSGl0RtEPDrWf
Pq3j1AC3zzPQNAKTh56eIRXfJEOVyHBiht9LFnGIKIrEtkUpbCMIFQW/u5GATTRWg5n9qp
enFpWl5gWv80hoN7tYB60EQczZefRInSPB4vvlJjcNX+8kBZ0LhpcbeaEWrbAdbbMWgcqb
D8MhhIkng45Cl8zJ/a7Zxk78H0mioo9dldaZmUnB8AAAAQc2hpcGxvb3AtcmVsZWFzZQAA
AAAAAAAGc2hhNTEyAAABDwAAAAdzc2gtcnNhAAABAES/0Y/Fc6UoLiqRxH3yjzLVS8mV0u
WvY3tOIIbMZgR5AcMPTIrihyZN4o5pyRWBIG2veYB9lTQuf5ZbfXWnqA0ip3erj6dcHIbx
yXEfE3ELHW8ONT6sIrlsZehxiOtvwtAXlszmR97cGYzB7PshhCWO/J+fLaCODDMB+avg1e
56ggy5a1Xm36lbRJumfRMUD4fN1R4wgMk4lSoXNgqMIKmS5xv7oZZ6IVduW9I5V/dsW7KS
nWyawHlm1NfstYF3ojdkFlWgvbP3RSMEEBY+SiFkL7jkznGIbz5MPxjzVDDqmoYNkIAzxL
+aU6th2bTZjcEtBO2DsnWOehKEP8zHToc=
-----END SSH SIGNATURE-----
";

#[test]
fn rsa_with_sha1_is_refused_by_name() {
    let msg = approval_message("r", "sha256:00", "bot@x").unwrap();
    // ssh-key refuses to parse it; ship names why either way.
    let err = parse_signature(RSA_SHA1_SIGNATURE)
        .and_then(|sig| verify_signature(&sig, &msg))
        .unwrap_err();
    assert!(matches!(err, SignError::UnsupportedKey(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("ssh-rsa signatures (RSA with SHA-1)"),
        "{err}"
    );
}

#[test]
fn encrypted_p521_keys_sign_whichever_way_their_number_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let msg = approval_message("r", "sha256:00", "bot@x").unwrap();
    // (stored at full width, one byte short): both must be seen, 2^-29 odds of a false failure.
    let mut seen = (0, 0);
    for i in 0..30 {
        let name = format!("e{i}");
        ssh_keygen(
            dir.path(),
            &[
                "-q", "-t", "ecdsa", "-b", "521", "-a", "1", "-N", "pw", "-f", &name,
            ],
        );
        let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        assert!(matches!(
            sign_with_key(&text, Some("not it"), &msg),
            Err(SignError::Passphrase(_))
        ));
        let signed = sign_with_key(&text, Some("pw"), &msg).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(verify_signature(&signed.signature, &msg), Ok(()));
        match library_reads(&text, Some("pw")) {
            true => seen.0 += 1,
            false => seen.1 += 1,
        }
        if seen.0 > 0 && seen.1 > 0 {
            break;
        }
    }
    assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");
}
