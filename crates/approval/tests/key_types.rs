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

#[test]
fn ship_signs_with_p384_and_p521_keys_and_ssh_keygen_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let msg = approval_message("2026-11-27-a", "sha256:00", "bot@example.com").unwrap();
    std::fs::write(dir.path().join("msg"), &msg).unwrap();
    // About half of P-521 keys store their private number one byte short, which the ssh-key
    // library cannot read: make keys until both kinds have been seen (2^-29 odds of a false
    // failure), and check that the short ones get a reason that says what to do instead.
    let mut p521 = (0, 0);
    for i in 0..30 {
        let bits = if i == 0 { "384" } else { "521" };
        let name = format!("k{i}");
        let key = keygen(dir.path(), &name, "ecdsa", bits);
        let signed = match sign_with_key(&std::fs::read_to_string(&key).unwrap(), None, &msg) {
            Ok(s) => s,
            Err(SignError::BadKey(m)) if m.contains("ecdsa-sha2-nistp") => {
                assert!(m.contains("--signature"), "{m}");
                p521.1 += 1;
                continue;
            }
            Err(e) => panic!("P-{bits}: {e}"),
        };
        std::fs::write(dir.path().join("ship.sig"), &signed.armored).unwrap();
        std::fs::write(
            dir.path().join("allowed"),
            format!("alice@example.com {}\n", public_line(&key)),
        )
        .unwrap();
        let o = Command::new("ssh-keygen")
            .current_dir(dir.path())
            .args(["-Y", "verify", "-f", "allowed", "-I", "alice@example.com"])
            .args(["-n", NAMESPACE, "-s", "ship.sig"])
            .stdin(std::fs::File::open(dir.path().join("msg")).unwrap())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "P-{bits}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if bits == "521" {
            p521.0 += 1;
        }
        if p521.0 > 0 && p521.1 > 0 {
            break;
        }
    }
    println!(
        "P-521 keys ship could sign with: {}, could not: {}",
        p521.0, p521.1
    );
    assert!(p521.0 > 0 && p521.1 > 0, "{p521:?}");
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
fn an_encrypted_p521_key_ship_cannot_read_is_not_called_a_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let msg = approval_message("r", "sha256:00", "bot@x").unwrap();
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
        match sign_with_key(&text, Some("pw"), &msg) {
            Ok(_) => seen.0 += 1,
            Err(SignError::BadKey(m)) if m.contains("--signature") => seen.1 += 1,
            Err(e) => panic!("{e:?}"),
        }
        if seen.0 > 0 && seen.1 > 0 {
            break;
        }
    }
    assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");
}
