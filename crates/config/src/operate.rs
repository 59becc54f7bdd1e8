//! `[handoff]` and `[outcome]`: the handoff from Ship to Operate and outcome measurement.

use serde::{Deserialize, Serialize};
use shiploop_artifacts::Dur;

/// `[handoff]`: who hands over to whom (the Ship loop's Orchestration and Quality Layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffCfg {
    /// Owns the release until the handoff.
    pub ship_owner: String,
    /// Takes over: outcome measurement, production signals, stall detection.
    pub operate_owner: String,
}

impl Default for HandoffCfg {
    fn default() -> Self {
        HandoffCfg {
            ship_owner: "Orchestration Layer".into(),
            operate_owner: "Quality Layer".into(),
        }
    }
}

/// `[outcome]`: how `ship outcome measure` samples a metric over its measurement period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutcomeCfg {
    /// Points in each chart's series (the range query's step is the period divided by this).
    pub chart_points: u32,
    /// The period of a first checkpoint when no linked release has a recorded rollout start.
    pub default_period: Dur,
}

impl Default for OutcomeCfg {
    fn default() -> Self {
        OutcomeCfg {
            chart_points: 120,
            default_period: Dur::from_secs(7 * 24 * 3600),
        }
    }
}

/// `[server]`: `ship serve` — the controller for every rollout, its HTTP API and dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerCfg {
    /// Where the API and dashboard listen; loopback unless you put a TLS proxy in front.
    pub listen: String,
    /// A file of API tokens, one `<role> <token>` per line (role: viewer or operator).
    pub tokens_file: String,
    /// An environment variable with more tokens: `role:token,role:token`.
    pub tokens_env: String,
    /// How often the controller looks for rollouts to drive (new ones, ones to resume).
    pub poll: Dur,
    /// Run the builtin proxy (`ship proxy` from [proxy]) beside the controller, restarted if it
    /// exits; needs router.kind = "builtin".
    pub run_proxy: bool,
    /// How long a client may take to send a request's head; also how long an idle keep-alive
    /// connection stays open. Slow or silent clients cannot pile up connections.
    pub header_read_timeout: Dur,
    /// How long a client may take to send a request's body, counted from its head; 408 after.
    pub request_timeout: Dur,
    /// Connections open at once; more wait in the listen queue, unaccepted, so a flood of
    /// clients cannot take the file descriptors the controller needs. Above max_streams.
    pub max_connections: u32,
    /// Live event streams (`/api/v1/events/stream`, the dashboard's live updates) open at once.
    pub max_streams: u32,
    /// Live event streams one token (or one dashboard login) may hold open at once.
    pub max_streams_per_token: u32,
}

impl Default for ServerCfg {
    fn default() -> Self {
        ServerCfg {
            listen: "127.0.0.1:8480".into(),
            tokens_file: String::new(),
            tokens_env: "SHIP_API_TOKENS".into(),
            poll: Dur::from_secs(1),
            run_proxy: false,
            header_read_timeout: Dur::from_secs(10),
            request_timeout: Dur::from_secs(30),
            max_connections: 768,
            max_streams: 512,
            max_streams_per_token: 64,
        }
    }
}

/// `[state]`: where the rollout state lives, and how replicas of `ship serve` share it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateCfg {
    /// The state database: empty for SQLite in `paths.state` (the embedded default),
    /// `sqlite:///abs/path.db`, or `postgres://user@host:port/db` shared by replicas.
    pub url: String,
    /// An environment variable whose value, when set, is used instead of `url` — so a
    /// password never has to be written in ship.toml.
    pub url_env: String,
    /// How long a rollout's lease lasts without renewal: a dead replica's rollouts are taken
    /// over within it. Renewed every third of it, also during long router calls.
    pub lease_ttl: Dur,
    /// Metric samples older than this are pruned (decisions and the event log never are).
    pub sample_retention: Dur,
    /// A hold that changes nothing is recorded at most this often (evidence that the rollout
    /// was watched); every decision that changes the rollout is recorded at once.
    pub evidence_every: Dur,
}

impl Default for StateCfg {
    fn default() -> Self {
        StateCfg {
            url: String::new(),
            url_env: "SHIP_STATE_URL".into(),
            lease_ttl: Dur::from_secs(15),
            sample_retention: Dur::from_secs(14 * 24 * 3600),
            evidence_every: Dur::from_secs(60),
        }
    }
}

impl StateCfg {
    /// The state database's URL in force: `url_env`'s value when set and not empty, else `url`.
    pub fn effective_url(&self) -> String {
        if !self.url_env.is_empty() {
            if let Ok(v) = std::env::var(&self.url_env) {
                if !v.trim().is_empty() {
                    return v.trim().to_string();
                }
            }
        }
        self.url.clone()
    }
}
