//! The Ship loop's controller, one module per phase: driving rollouts (`drive`: the
//! `Controller`, its lease and ticks, `ship serve`'s supervisor), pre-deployment gates
//! (`gates`), post-deployment validation (`validate`), operate (`operate`, `outcome`),
//! notification (`notify`), and what the steps share: rehearsals (`rehearse`), the handoff
//! (`handoff`), the audit (`audit`) and the signals a rollout writes (`signals`).

pub mod audit;
mod backoff;
mod build;
pub mod drive;
pub mod gates;
pub mod handoff;
pub mod notify;
pub mod operate;
pub mod outcome;
mod outcome_sources;
pub mod rehearse;
pub mod release_log;
mod signals;
mod state;
pub mod validate;
pub mod view;

pub use build::{
    criteria_drift, criteria_for, plan_for, plan_from_config, providers_for, Providers,
};
pub(crate) use drive::hostname;
pub use drive::{
    admit, anchor, binding, gates_before_start, holder_applies_commands, holder_is_dead,
    refuse_unless_hotfix, serve, with_webhooks, Admission, BeforeStart, Clock, Commanded,
    Controller, Outcome, Starting, SystemClock, Telemetry, TokioClock,
};
/// The gates module under the name it had before the controller was split by phase.
pub use gates as check;
pub use state::{open_existing_store, open_store, state_location};

use shiploop_workspace::Error;

/// The controller's results, failing with the workspace's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn store_err(e: shiploop_store::StoreError) -> Error {
    Error::Store(e)
}
