//! The approval digest of a release contract.
//!
//! What people approve is (a) every frontmatter field except the tool's records
//! ([`RECORD_KEYS`]) and (b) the whole body before the records marker ([`RECORDS_MARKER`]).
//! Each part is hashed on its own (frontmatter fields as canonical JSON with sorted keys, body
//! sections as their exact text with CRLF folded to LF), and the contract digest is SHA-256 over
//! the ordered list of part hashes:
//!
//! ```text
//! shiploop-contract-digest/v1
//! frontmatter\t<field>\t<sha256 hex>     (fields in sorted order)
//! body\t<heading or "(preamble)">\t<sha256 hex>   (sections in document order)
//! ```
//!
//! Keeping the per-part hashes lets `verify` name what changed after approval.

use crate::markdown;
use crate::release::{ReleaseContract, RECORD_KEYS};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The line that opens the canonical list of part hashes, naming the digest scheme.
pub const DIGEST_VERSION: &str = "shiploop-contract-digest/v1";

/// A release contract's approval digest, with the hash of each part it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractDigest {
    /// `sha256:<hex>` over the canonical list of parts.
    pub digest: String,
    /// Part name (`frontmatter.<field>` / `body.<heading>`) → hex SHA-256.
    pub parts: BTreeMap<String, String>,
}

/// The approval digest of a contract: its approved frontmatter fields and body sections hashed.
pub fn compute(contract: &ReleaseContract) -> ContractDigest {
    let mut canonical = format!("{DIGEST_VERSION}\n");
    let mut parts = BTreeMap::new();

    let meta = serde_json::to_value(&contract.meta).expect("release metadata is JSON-compatible");
    if let Value::Object(map) = meta {
        let mut keys: Vec<&String> = map
            .keys()
            .filter(|k| !RECORD_KEYS.contains(&k.as_str()))
            .collect();
        keys.sort();
        for k in keys {
            let mut json = String::new();
            canonical_json(&map[k], &mut json);
            let h = sha_hex(json.as_bytes());
            canonical.push_str(&format!("frontmatter\t{k}\t{h}\n"));
            parts.insert(format!("frontmatter.{k}"), h);
        }
    }

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in markdown::sections(contract.approved_body()) {
        let heading = s.heading.unwrap_or("(preamble)");
        let n = seen.entry(heading.to_string()).or_insert(0);
        *n += 1;
        let name = if *n == 1 {
            heading.to_string()
        } else {
            format!("{heading} ({n})")
        };
        let h = sha_hex(s.text.replace("\r\n", "\n").as_bytes());
        canonical.push_str(&format!("body\t{name}\t{h}\n"));
        parts.insert(format!("body.{name}"), h);
    }

    ContractDigest {
        digest: format!("sha256:{}", sha_hex(canonical.as_bytes())),
        parts,
    }
}

/// The parts that differ between a recorded and a recomputed digest, described for people.
pub fn describe_changes(
    recorded: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in now {
        match recorded.get(k) {
            None => out.push(format!("{} was added", part_label(k))),
            Some(old) if old != v => out.push(format!("{} was modified", part_label(k))),
            _ => {}
        }
    }
    for k in recorded.keys() {
        if !now.contains_key(k) {
            out.push(format!("{} was removed", part_label(k)));
        }
    }
    if out.is_empty() {
        out.push("sections were reordered, or the recorded part list was edited".to_string());
    }
    out
}

fn part_label(key: &str) -> String {
    if let Some(f) = key.strip_prefix("frontmatter.") {
        format!("frontmatter field `{f}`")
    } else if let Some(b) = key.strip_prefix("body.") {
        format!("section \"{b}\"")
    } else {
        key.to_string()
    }
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// JSON with object keys sorted and no whitespace, independent of serde_json's map features.
fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&map[*k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::RECORDS_MARKER;
    use crate::release::*;
    use chrono::TimeZone;

    fn contract() -> ReleaseContract {
        ReleaseContract {
            meta: ReleaseMeta {
                id: "2026-11-27-x".into(),
                name: "x".into(),
                kind: Kind::Standard,
                severity: None,
                mission: None,
                service: "web".into(),
                created_at: chrono::Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
                changes: vec![],
                excluded: vec![],
                stages: vec![],
                rollback: Rollback::default(),
                status: Status::Draft,
                submitted_by: None,
                submitted_at: None,
                digest: None,
                digest_parts: BTreeMap::new(),
                approvals: vec![],
                rollout: None,
                flags: vec![],
                migrations: vec![],
                criteria: None,
                checks: None,
                validation: None,
            handoff: None,
                anchors: vec![],
                withdrawn: None,
            },
            body: format!("# Release: x\n\n## Release notes\n- faster\n\n{RECORDS_MARKER}\n## Approvals\nnone\n\n## Rollout log\n"),
        }
    }

    #[test]
    fn records_do_not_change_the_digest() {
        let a = contract();
        let mut b = a.clone();
        b.meta.status = Status::Approved;
        b.meta.submitted_by = Some("bot@x".into());
        b.body = b
            .body
            .replace("## Approvals\nnone", "## Approvals\n| alice | now |");
        b.body.push_str("- canary at 5 %\n");
        assert_eq!(compute(&a), compute(&b));
    }

    #[test]
    fn any_approved_character_changes_it_and_is_named() {
        let a = contract();
        let mut b = a.clone();
        b.body = b.body.replace("faster", "fastr");
        let (da, db) = (compute(&a), compute(&b));
        assert_ne!(da.digest, db.digest);
        let changes = describe_changes(&da.parts, &db.parts);
        assert_eq!(
            changes,
            vec!["section \"Release notes\" was modified".to_string()]
        );

        let mut c = a.clone();
        c.meta.service = "api".into();
        let dc = compute(&c);
        assert_ne!(da.digest, dc.digest);
        assert_eq!(
            describe_changes(&da.parts, &dc.parts),
            vec!["frontmatter field `service` was modified".to_string()]
        );
    }

    #[test]
    fn approved_text_cannot_hide_in_the_records_tail() {
        let mut a = contract();
        a.refresh_records();
        assert_eq!(a.records_mismatch(), None);
        // Text slipped in after the marker changes no digest, but the tail no longer matches.
        let mut b = a.clone();
        b.body = b.body.replace(
            &format!("{RECORDS_MARKER}\n"),
            &format!("{RECORDS_MARKER}\n- We now sell your data.\n"),
        );
        assert_eq!(compute(&a).digest, compute(&b).digest);
        assert!(b.records_mismatch().is_some());
        // A marker planted inside the approved text (e.g. in a code fence) fails safe too.
        let mut c = a.clone();
        c.body = c.body.replace(
            "## Release notes\n",
            &format!("## Release notes\n```\n{RECORDS_MARKER}\n```\n"),
        );
        assert!(c.records_mismatch().is_some());
        // Deleting the marker puts the whole body under the digest.
        let mut d = a.clone();
        d.body = d.body.replace(&format!("{RECORDS_MARKER}\n"), "");
        assert_ne!(compute(&a).digest, compute(&d).digest);
    }

    #[test]
    fn line_endings_do_not_matter_but_order_does() {
        let a = contract();
        let mut b = a.clone();
        b.body = b.body.replace('\n', "\r\n");
        assert_eq!(compute(&a).digest, compute(&b).digest);
        let mut c = a.clone();
        c.body = "## Release notes\n- faster\n\n# Release: x\n\n".into();
        let mut d = a.clone();
        d.body = "# Release: x\n\n## Release notes\n- faster\n\n".into();
        assert_ne!(compute(&c).digest, compute(&d).digest);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,2],"c":"x"}}"#).unwrap();
        let mut s = String::new();
        canonical_json(&v, &mut s);
        assert_eq!(s, r#"{"a":{"c":"x","d":[1,2]},"b":1}"#);
    }
}
