//! The rule table: which squawk rules run, how severe each one is, and the
//! safe alternative we show when squawk has no help text of its own.
//!
//! Severity is decided from the deployment model, not from squawk: migrations
//! run against a live database while the previous application version is
//! still serving. Anything that breaks that version, makes the migration fail
//! half-way, or holds a long blocking lock on a live table is an *error*;
//! everything else is hygiene and only a *warning*.

use serde::Serialize;
use squawk_linter::Rule;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the running version or blocks a live table; fails the gate.
    Error,
    /// Hygiene; reported but does not fail the gate.
    Warning,
}

impl Severity {
    /// Lowercase name used in human output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Documentation for one rule, as returned by [`crate::rules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Rule id as it appears in findings and `ship:allow` comments.
    pub id: &'static str,
    /// How much a hit of the rule matters.
    pub severity: Severity,
    /// One-line description of what the rule catches.
    pub summary: &'static str,
}

/// Invalid `-- ship:allow` comment (no reason, unknown rule, malformed).
pub(crate) const ALLOW_INVALID: &str = "ship-allow-invalid";
/// `-- ship:allow` comment that did not match any finding.
pub(crate) const ALLOW_UNUSED: &str = "ship-allow-unused";
/// `-- squawk-ignore` comment, which we deliberately do not honour.
pub(crate) const SQUAWK_IGNORE: &str = "squawk-ignore-unsupported";

pub(crate) struct RuleSpec {
    pub id: &'static str,
    /// `None` for the rules this crate implements itself.
    pub squawk: Option<Rule>,
    pub severity: Severity,
    pub summary: &'static str,
    /// Used when squawk's violation carries no help text.
    pub help: &'static str,
}

use Severity::{Error as E, Warning as W};

const fn spec(
    id: &'static str,
    squawk: Rule,
    severity: Severity,
    summary: &'static str,
    help: &'static str,
) -> RuleSpec {
    RuleSpec {
        id,
        squawk: Some(squawk),
        severity,
        summary,
        help,
    }
}

/// Every rule this crate reports. Squawk's default rule set minus
/// `unused-ignore` (we neutralise squawk-ignore comments) and `prefer-repack`
/// (only fires for PostgreSQL 19+), plus the opt-in `ban-revoke` and
/// `ban-drop-trigger`, which break the running version outright. Other
/// opt-in rules (`ban-add-column`, `ban-new-write-restriction`, …) would flag
/// the safe expand steps themselves, so they stay off.
pub(crate) const RULES: &[RuleSpec] = &[
    // --- errors: break the running version -------------------------------
    spec("ban-drop-column", Rule::BanDropColumn, E,
        "Dropping a column breaks the version that still reads or writes it.",
        "Stop using the column in the application first; drop it in a later (contract) migration once no running version references it."),
    spec("ban-drop-table", Rule::BanDropTable, E,
        "Dropping a table breaks the version that still uses it.",
        "Remove all application usage first, then drop the table in a later (contract) migration."),
    spec("renaming-column", Rule::RenamingColumn, E,
        "Renaming a column breaks queries of the running version.",
        "Add a new column, write to both and backfill, switch reads, then drop the old column in a later migration."),
    spec("renaming-table", Rule::RenamingTable, E,
        "Renaming a table breaks queries of the running version.",
        "Create the new table (or a view with the new name), migrate usage, then drop the old name in a later migration."),
    spec("renaming-object", Rule::RenamingObject, E,
        "Renaming a view, function, type, index, constraint, schema, role… breaks clients referring to the old name.",
        "Create the object under the new name alongside the old one, migrate usage, then drop the old one later."),
    spec("changing-column-type", Rule::ChangingColumnType, E,
        "Changing a column type rewrites the table under ACCESS EXCLUSIVE and can break readers.",
        "Add a new column with the new type, backfill it, switch the application over, then drop the old column."),
    spec("adding-not-nullable-field", Rule::AddingNotNullableField, E,
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE and rejects writes of the running version.",
        "Add a CHECK (col IS NOT NULL) NOT VALID constraint, VALIDATE it separately, then SET NOT NULL."),
    spec("adding-required-field", Rule::AddingRequiredField, E,
        "Adding a NOT NULL column without default makes inserts of the running version fail.",
        "Add the column nullable or with a non-volatile DEFAULT."),
    spec("ban-drop-not-null", Rule::BanDropNotNull, E,
        "Dropping NOT NULL lets NULLs reach a version that assumes they cannot occur.",
        "Make every running version tolerate NULL first, then drop the constraint in a later migration."),
    spec("ban-drop-default", Rule::BanDropDefault, E,
        "Dropping a default breaks inserts of the running version that omit the column.",
        "Make the application always supply the value first, then drop the default in a later migration."),
    spec("ban-drop-constraint", Rule::BanDropConstraint, E,
        "Dropping a constraint removes a guarantee the running version may rely on.",
        "Drop the constraint only after no running version depends on it (contract phase)."),
    spec("ban-drop-generated-expression", Rule::BanDropGeneratedExpression, E,
        "Dropping a generated expression stops values the running version reads from being maintained.",
        "Have the application write the value itself first, then drop the expression in a later migration."),
    spec("ban-alter-identity", Rule::BanAlterIdentity, E,
        "Changing column identity can break inserts of the running version.",
        "Introduce a new column with the desired identity, migrate writes, then retire the old column."),
    spec("ban-set-schema", Rule::BanSetSchema, E,
        "Moving an object to another schema breaks clients using the old qualified name.",
        "Create the object in the new schema (or a view there), migrate usage, then drop the old one."),
    spec("ban-drop-view", Rule::BanDropView, E,
        "Dropping a view breaks the version that still queries it.",
        "Remove application usage first, then drop the view in a later migration."),
    spec("ban-drop-function", Rule::BanDropFunction, E,
        "Dropping a function, procedure or aggregate breaks callers in the running version.",
        "Remove application usage first, then drop it in a later migration."),
    spec("ban-drop-type", Rule::BanDropType, E,
        "Dropping a type, cast or operator breaks the version that still uses it.",
        "Remove all usage first, then drop it in a later migration."),
    spec("ban-drop-schema", Rule::BanDropSchema, E,
        "Dropping a schema removes every object in it.",
        "Move or drop the objects individually once unused, then drop the empty schema."),
    spec("ban-drop-sequence", Rule::BanDropSequence, E,
        "Dropping a sequence breaks inserts that draw from it.",
        "Switch defaults and application code away from the sequence first, then drop it later."),
    spec("ban-drop-domain", Rule::BanDropDomain, E,
        "Dropping a domain breaks the columns and code that use it.",
        "Move columns off the domain first, then drop it in a later migration."),
    spec("ban-drop-extension", Rule::BanDropExtension, E,
        "Dropping an extension removes its functions and types.",
        "Remove all usage of the extension's objects first, then drop it in a later migration."),
    spec("ban-drop-database", Rule::BanDropDatabase, E,
        "Dropping a database destroys everything in it.",
        "Never drop a database from a migration; decommission it out of band."),
    spec("ban-drop-trigger", Rule::BanDropTrigger, E,
        "Dropping a trigger silently removes side effects the running version relies on.",
        "Move the trigger's behaviour into the application first, then drop the trigger later."),
    spec("ban-revoke", Rule::BanRevoke, E,
        "Revoking privileges, dropping roles or changing ownership can lock the running version out.",
        "Verify no running version needs the privilege or role, then revoke in a later migration."),
    spec("ban-truncate-cascade", Rule::BanTruncateCascade, E,
        "TRUNCATE … CASCADE also empties every table that references the target.",
        "Remove CASCADE and list exactly the tables to truncate."),
    spec("ban-duplicate-column-assignments", Rule::BanDuplicateColumnAssignments, E,
        "Assigning a column twice is rejected by PostgreSQL, so the migration fails part-way.",
        "Assign each column once."),
    spec("ban-uncommitted-transaction", Rule::BanUncommittedTransaction, E,
        "A BEGIN without COMMIT keeps locks until the session ends.",
        "Add a COMMIT (or ROLLBACK) for every BEGIN."),
    // --- errors: long blocking locks on a live table -------------------
    spec("require-concurrent-index-creation", Rule::RequireConcurrentIndexCreation, E,
        "CREATE INDEX without CONCURRENTLY blocks writes for the whole build.",
        "Use CREATE INDEX CONCURRENTLY outside a transaction."),
    spec("require-concurrent-index-deletion", Rule::RequireConcurrentIndexDeletion, E,
        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table.",
        "Use DROP INDEX CONCURRENTLY outside a transaction."),
    spec("require-concurrent-reindex", Rule::RequireConcurrentReindex, E,
        "REINDEX without CONCURRENTLY blocks reads and writes.",
        "Use REINDEX … CONCURRENTLY."),
    spec("require-concurrent-partition-detach", Rule::RequireConcurrentPartitionDetach, E,
        "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE.",
        "Use DETACH PARTITION … CONCURRENTLY."),
    spec("ban-concurrent-index-creation-in-transaction", Rule::BanConcurrentIndexCreationInTransaction, E,
        "CREATE INDEX CONCURRENTLY inside a transaction fails, so the migration aborts.",
        "Run the concurrent index build in its own migration, outside BEGIN/COMMIT."),
    spec("constraint-missing-not-valid", Rule::ConstraintMissingNotValid, E,
        "Adding a constraint without NOT VALID scans the table while blocking writes.",
        "ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a separate transaction."),
    spec("adding-foreign-key-constraint", Rule::AddingForeignKeyConstraint, E,
        "A validated foreign key blocks writes on both tables during the scan.",
        "ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT separately."),
    spec("adding-field-with-default", Rule::AddingFieldWithDefault, E,
        "A volatile default or generated column rewrites the table under ACCESS EXCLUSIVE.",
        "Add the column nullable (or with a constant default), then backfill in batches."),
    spec("adding-serial-primary-key-field", Rule::AddingSerialPrimaryKeyField, E,
        "Adding a primary key builds its index under ACCESS EXCLUSIVE.",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX."),
    spec("disallowed-unique-constraint", Rule::DisallowedUniqueConstraint, E,
        "Adding a UNIQUE constraint builds its index under ACCESS EXCLUSIVE.",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX."),
    spec("ban-create-domain-with-constraint", Rule::BanCreateDomainWithConstraint, E,
        "Domain constraints cannot be added or changed online later.",
        "Use a plain type with table CHECK constraints (added NOT VALID) instead."),
    spec("ban-alter-domain-with-add-constraint", Rule::BanAlterDomainWithAddConstraint, E,
        "Adding a domain constraint checks every column using it while holding locks.",
        "Use table CHECK constraints added NOT VALID and validated separately."),
    // --- warnings: hygiene ----------------------------------------------
    spec("prefer-bigint-over-int", Rule::PreferBigintOverInt, W,
        "32-bit integer columns can run out of values.",
        "Use bigint."),
    spec("prefer-bigint-over-smallint", Rule::PreferBigintOverSmallint, W,
        "16-bit integer columns can run out of values.",
        "Use bigint."),
    spec("prefer-identity", Rule::PreferIdentity, W,
        "serial columns complicate permissions and dependencies.",
        "Use GENERATED … AS IDENTITY."),
    spec("prefer-text-field", Rule::PreferTextField, W,
        "Changing a varchar length later needs ACCESS EXCLUSIVE.",
        "Use text with a CHECK constraint on length."),
    spec("prefer-timestamp-tz", Rule::PreferTimestampTz, W,
        "timestamp without time zone drops the UTC offset.",
        "Use timestamptz."),
    spec("ban-char-field", Rule::BanCharField, W,
        "char(n) pads values and is almost always a mistake.",
        "Use text or varchar."),
    spec("prefer-robust-stmts", Rule::PreferRobustStmts, W,
        "Outside a transaction a half-applied migration cannot simply be re-run.",
        "Use IF [NOT] EXISTS, or wrap the migration in BEGIN/COMMIT."),
    spec("require-lock-timeout", Rule::RequireLockTimeout, W,
        "Without lock_timeout a blocked DDL statement queues every later query behind it.",
        "SET lock_timeout = '1s'; at the top of the migration."),
    spec("require-statement-timeout", Rule::RequireStatementTimeout, W,
        "Without statement_timeout a slow statement can hold its lock indefinitely.",
        "SET statement_timeout = '5s'; at the top of the migration."),
    spec("transaction-nesting", Rule::TransactionNesting, W,
        "Nested BEGIN or a stray COMMIT/ROLLBACK does not do what it looks like.",
        "Use one BEGIN … COMMIT pair per transaction."),
    spec("require-enum-value-ordering", Rule::RequireEnumValueOrdering, W,
        "ADD VALUE without BEFORE/AFTER appends the value at the end of the enum.",
        "Add BEFORE or AFTER to place the new value explicitly."),
    spec("identifier-too-long", Rule::IdentifierTooLong, W,
        "Identifiers over 63 bytes are silently truncated.",
        "Use a name of at most 63 bytes."),
    // --- this crate's own rules -------------------------------------------
    RuleSpec {
        id: ALLOW_INVALID,
        squawk: None,
        severity: E,
        summary: "A `-- ship:allow` comment without a reason, naming an unknown rule, or malformed.",
        help: "Write `-- ship:allow <rule-id> <reason>` with a known rule id and a non-empty reason.",
    },
    RuleSpec {
        id: ALLOW_UNUSED,
        squawk: None,
        severity: W,
        summary: "A `-- ship:allow` comment that does not match any finding of its statement.",
        help: "Remove the stale comment, or move it directly above the statement it is meant for.",
    },
    RuleSpec {
        id: SQUAWK_IGNORE,
        squawk: None,
        severity: W,
        summary: "A `-- squawk-ignore` comment; it is not honoured because it records no reason.",
        help: "Replace it with `-- ship:allow <rule-id> <reason>`.",
    },
];

/// The spec for a squawk rule, or `None` when we do not run it.
pub(crate) fn spec_for_squawk(rule: Rule) -> Option<&'static RuleSpec> {
    RULES.iter().find(|spec| spec.squawk == Some(rule))
}

/// The spec for a rule id.
pub(crate) fn spec_for_id(id: &str) -> Option<&'static RuleSpec> {
    RULES.iter().find(|spec| spec.id == id)
}

/// Resolves a rule name written in an allow comment to its canonical id.
/// Squawk's aliases (e.g. `prefer-timestamptz`) are accepted; our own
/// comment rules cannot be allowed, since that would defeat them.
pub(crate) fn allowable_rule_id(name: &str) -> Option<&'static str> {
    let rule: Rule = name.parse().ok()?;
    spec_for_squawk(rule).map(|spec| spec.id)
}

/// Squawk rules to enable in the linter.
pub(crate) fn squawk_rules() -> impl Iterator<Item = Rule> {
    RULES.iter().filter_map(|spec| spec.squawk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_squawk_names_and_are_unique() {
        for spec in RULES {
            if let Some(rule) = spec.squawk {
                assert_eq!(rule.to_string(), spec.id);
            }
            assert_eq!(
                RULES.iter().filter(|s| s.id == spec.id).count(),
                1,
                "{}",
                spec.id
            );
        }
    }

    #[test]
    fn aliases_resolve_to_canonical_ids() {
        assert_eq!(
            allowable_rule_id("prefer-timestamptz"),
            Some("prefer-timestamp-tz")
        );
        assert_eq!(
            allowable_rule_id("ban-drop-column"),
            Some("ban-drop-column")
        );
        assert_eq!(allowable_rule_id(ALLOW_INVALID), None);
        assert_eq!(allowable_rule_id("prefer-repack"), None);
        assert_eq!(allowable_rule_id("no-such-rule"), None);
    }
}
