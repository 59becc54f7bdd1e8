//! The lease rules every backend applies to the row it read (inside its write transaction), so
//! the backends cannot disagree on who gets a lease and with which fencing token.

use chrono::{DateTime, Utc};
use std::time::Duration;

use crate::StoreError;

/// A `leases` row: `holder` is None once the lease was released (the row stays, so the next
/// token is greater than every one handed out before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Who holds it (None: released).
    pub holder: Option<String>,
    /// The token it was last handed out with.
    pub token: i64,
    /// When it runs out.
    pub expires_at: DateTime<Utc>,
}

/// When a lease taken at `now` for `ttl` runs out.
pub fn lease_end(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

/// The token `holder` gets by acquiring the lease whose row is `row` at `now`; None when
/// another holds it and it has not expired.
pub fn acquire(row: Option<&LeaseRow>, holder: &str, now: DateTime<Utc>) -> Option<i64> {
    let Some(row) = row else {
        return Some(1);
    };
    match &row.holder {
        Some(h) if row.expires_at > now => (h == holder).then_some(row.token),
        // Free or expired: the lease passes (to the same holder too) with a new token.
        _ => Some(row.token + 1),
    }
}

/// The token `holder` gets by taking the lease over from `old`; None when `old` does not hold
/// it.
pub fn take_over(row: Option<&LeaseRow>, old: &str) -> Option<i64> {
    let row = row?;
    (row.holder.as_deref() == Some(old)).then_some(row.token + 1)
}

/// Why a write for `holder` (with `token`, when given) may not be made, given the lease's
/// `(holder, token)` as recorded; None when it may. Expiry is not checked: a holder whose
/// lease ran out but that nobody replaced still writes.
pub fn fence(
    row: Option<(Option<String>, i64)>,
    holder: &str,
    token: Option<i64>,
) -> Option<StoreError> {
    let (current, current_token) = row.unwrap_or((None, 0));
    let same = current.as_deref() == Some(holder) && token.is_none_or(|t| t == current_token);
    (!same).then(|| StoreError::LeaseLost(current.unwrap_or_else(|| "nobody".into())))
}

impl LeaseRow {
    /// The lease it records, if held and unexpired at `now`.
    pub fn live(self, now: DateTime<Utc>) -> Option<crate::Lease> {
        let holder = self.holder?;
        (self.expires_at > now).then_some(crate::Lease {
            holder,
            token: self.token,
            expires_at: self.expires_at,
        })
    }
}
