//! The files `ship init` writes, and `{{PLACEHOLDER}}` substitution for the release template.

pub const TEMPLATE_FILE: &str = "_TEMPLATE-release-contract.md";

/// Replaces every `{{NAME}}` with its value. An unknown placeholder is an error naming its line,
/// so a typo in a template never reaches an approver as literal braces.
/// Comments opening with `<!-- template:` are guidance for template authors and are dropped.
/// Errors carry the template's 1-based line and column.
pub fn fill(template: &str, values: &[(&str, String)]) -> Result<String, (usize, usize, String)> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut in_guidance = false;
    for (i, line) in template.split_inclusive('\n').enumerate() {
        if in_guidance || line.trim_start().starts_with("<!-- template:") {
            in_guidance = !line.contains("-->");
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let col = line.len() - rest.len() + start + 1;
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err((i + 1, col, "`{{` without a closing `}}`".into()));
            };
            let name = after[..end].trim();
            match values.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    let known: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
                    return Err((
                        i + 1,
                        col,
                        format!(
                            "unknown placeholder `{{{{{name}}}}}` (known: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// The release contract template `ship init` writes.
pub const DEFAULT_RELEASE_TEMPLATE: &str = r##"<!-- template:
  Release contract template. `ship release new <name>` compiles
  work/releases/YYYY-MM-DD-<name>.md from this file: it writes the frontmatter itself (changes,
  stages, rollback triggers, and the records it keeps) and replaces the {{PLACEHOLDERS}} below,
  including the Ship loop's own ({{CANARY_PERCENTAGE}}, {{MAX_ERROR_RATE_INCREASE}}, …) from
  ship.toml. Comments opening with "template:", like this one, are not copied into contracts.
  ship appends its own records (approvals, checks, rollout log, validation) after a marker line
  at the end of each contract; everything above that line is what approvers sign.
  Edit the prose freely. `ship release submit` requires these sections to be filled:
  Changes, Progressive rollout, Rollback (with its ### Procedure subsection), Release notes.
-->
# Release: {{RELEASE_NAME}}

Service **{{SERVICE}}** · mission **{{MISSION}}** · compiled {{DATE}} from the Build loop's PASS
verdicts.

## Changes

{{CHANGES}}
### Excluded

{{EXCLUDED}}
## Progressive rollout

Each stage holds until its time is up and its health checks pass with enough data. Stage 1 sends
internal users first. Any automatic rollback trigger ends the rollout at once.

{{STAGES}}
## Rollback

### Automatic triggers

Any one of these returns all traffic to the stable version at once:

{{ROLLBACK_TRIGGERS}}
### Manual triggers

{{MANUAL_TRIGGERS}}
### Procedure

1. Send all traffic back to the stable version through the configured traffic router:
   `ship rollout abort <release> --reason "…"` does it by hand; the rollout engine does it by
   itself when an automatic trigger fires.
2. Let in-flight requests to the new version finish, then stop its instances.
3. Database migrations must be backward-compatible (expand-only), so the stable version keeps
   working without a schema rollback; name any exception here.
4. Record what happened: an incident signal goes to `work/signals/`.

## Release notes (customer-facing)

{{RELEASE_NOTES}}
"##;

pub const ALLOWED_SIGNERS: &str = r#"# Who may approve release contracts, in git's allowed_signers format:
#
#   principal[,principal…] [namespaces="shiploop-release"] ssh-ed25519 AAAA… [comment]
#
# One line per approver, e.g.
#   alice@example.com namespaces="shiploop-release" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… alice
#
# Keep this file under code review (e.g. CODEOWNERS): whoever can change it decides who approves.
# Never list the key of an automated agent that submits or deploys releases.
"#;

/// The outcome contract `ship mission new` writes (and `ship init` leaves as the missions
/// folder's template): MISSION-NAME and the *-DATE words are filled in when a mission is created —
/// the launch checkpoint that day, then a week and thirty days later. Its metrics are ones the
/// workspace's metric source can measure: keys of ship's proxy with `metrics.kind = "builtin"`
/// (so `ship operate tick` needs nothing else running), PromQL otherwise.
pub fn outcome_template(metrics_kind: &str) -> String {
    let metrics = if metrics_kind == "builtin" {
        BUILTIN_METRICS
    } else {
        PROMETHEUS_METRICS
    };
    format!("---\nmission: MISSION-NAME\nmetrics:\n{metrics}{OUTCOME_REST}")
}

const PROMETHEUS_METRICS: &str = r#"- name: conversion-rate
  source: prometheus
  query: sum(rate(orders_total[1d])) / sum(rate(checkout_visits_total[1d]))
  comparison: '>='
  target: 0.031
  baseline: 0.028
"#;

const BUILTIN_METRICS: &str = r#"- name: error-rate
  source: builtin
  query: canary/error_rate
  comparison: '<='
  target: 0.01
- name: p99-latency-seconds
  source: builtin
  query: canary/latency_p99
  comparison: '<='
  target: 0.3
"#;

const OUTCOME_REST: &str = r#"measurement_schedule:
- name: launch
  date: LAUNCH-DATE
- name: week-1
  date: WEEK-1-DATE
- name: day-30
  date: DAY-30-DATE
---
# Outcome contract: MISSION-NAME

<!-- Copy this folder's template to work/missions/<name>/OUTCOME-CONTRACT.md (`ship mission new
     <name>` does, with the dates filled in). Say what the mission must change in production,
     how each metric is measured, and when.
     source: builtin (a key of ship's proxy: canary/error_rate, canary/latency_p99 in seconds,
             the same for stable/…) or prometheus (PromQL against metrics.prometheus.url;
             {{service}} and {{mission}} are filled in).
     comparison: '>=' or '<=' target, or within (target .. target_max).
     measurement_schedule: the checkpoints `ship operate tick` measures once each is due. -->

## Why this mission exists

## What success looks like
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_and_names_unknown_placeholders() {
        let v = [("A", "1".to_string()), ("B", "two".to_string())];
        assert_eq!(fill("x {{A}} y {{ B }}\n", &v).unwrap(), "x 1 y two\n");
        let (line, col, msg) = fill("ok\n{{A}} {{NOPE}}\n", &v).unwrap_err();
        assert_eq!((line, col), (2, 7));
        assert!(msg.contains("{{NOPE}}"), "{msg}");
        assert!(fill("{{A", &v).is_err());
        let guided = fill("<!-- template: uses {{ANY}}\n  more -->\nx {{A}}\n", &v).unwrap();
        assert_eq!(guided, "x 1\n");
    }
}
