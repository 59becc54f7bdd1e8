//! The HAProxy router: one backend with a stable and a canary server, weights set over the
//! runtime API (the admin socket) — `set server <backend>/<server> weight N` — and read back
//! with `get weight`. The canary gets the rollout's weight, the stable server the rest.
//!
//! Weights set over the socket live in the running process only. So that they survive a
//! reload, ship writes `show servers state` (all backends) to the `server-state-file` after every
//! change; with `load-server-state-from-file global` in the configuration HAProxy starts from
//! those weights. (Rewriting the configuration file instead would fight whoever owns it.)

mod config;
pub use config::{HaproxyMember, HaproxyRouterCfg};

use crate::{ErrorKind, ProviderError, RouteContext, RouterOutput, TrafficRouter};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where HAProxy's runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeApi {
    /// A unix socket (`stats socket /run/haproxy/admin.sock … level admin`).
    Unix(PathBuf),
    /// A TCP address, `host:port` (`stats socket ipv4@10.0.0.2:9999 level admin`): an
    /// HAProxy on another host.
    Tcp(String),
}

impl std::fmt::Display for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeApi::Unix(p) => write!(f, "admin socket {}", p.display()),
            RuntimeApi::Tcp(a) => write!(f, "runtime API {a}"),
        }
    }
}

/// Either kind of connection to the runtime API.
trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Conn for T {}

impl RuntimeApi {
    async fn connect(&self) -> std::io::Result<Box<dyn Conn>> {
        Ok(match self {
            RuntimeApi::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
            RuntimeApi::Tcp(a) => Box::new(tokio::net::TcpStream::connect(a.as_str()).await?),
        })
    }
}

/// Sets the two servers' weights over HAProxy's runtime API.
pub struct HaproxyRouter {
    /// The runtime API.
    pub socket: RuntimeApi,
    /// The backend holding the two servers.
    pub backend: String,
    /// The stable version's server.
    pub stable_server: String,
    /// The new version's server.
    pub canary_server: String,
    /// Where `show servers state` is saved after each change (None: not saved).
    pub state_file: Option<PathBuf>,
    /// How long HAProxy has to answer one command.
    pub timeout: Duration,
}

/// `get weight` answers "25 (initial 0)".
pub fn parse_weight(answer: &str) -> Option<u32> {
    answer.split_whitespace().next()?.parse().ok()
}

impl HaproxyRouter {
    fn err(&self, e: ProviderError) -> ProviderError {
        e.by("haproxy router")
    }

    /// One runtime API command; HAProxy answers and closes the connection.
    pub async fn command(&self, cmd: &str) -> Result<String, ProviderError> {
        let run = async {
            let mut s = self.socket.connect().await.map_err(|e| {
                ProviderError::io(ErrorKind::Unreachable, &e, format!("{}: {e}", self.socket))
            })?;
            let lost = |e: std::io::Error| {
                ProviderError::io(ErrorKind::Unreachable, &e, format!("`{cmd}`: {e}"))
            };
            s.write_all(format!("{cmd}\n").as_bytes())
                .await
                .map_err(lost)?;
            let mut out = String::new();
            s.read_to_string(&mut out).await.map_err(lost)?;
            Ok::<_, ProviderError>(out)
        };
        tokio::time::timeout(self.timeout, run).await.map_err(|_| {
            ProviderError::new(
                ErrorKind::Timeout,
                format!("`{cmd}`: no answer within {:?}", self.timeout),
            )
        })?
    }

    async fn weight_of(&self, server: &str) -> Result<u32, ProviderError> {
        let cmd = format!("get weight {}/{server}", self.backend);
        let answer = self.command(&cmd).await?;
        parse_weight(&answer).ok_or_else(|| {
            ProviderError::bad_answer(format!("`{cmd}` answered {:?}", answer.trim()))
        })
    }

    async fn set(&self, server: &str, weight: u32) -> Result<(), ProviderError> {
        let cmd = format!("set server {}/{server} weight {weight}", self.backend);
        let answer = self.command(&cmd).await?;
        // Success is an empty answer; anything else is HAProxy explaining a refusal.
        if !answer.trim().is_empty() {
            return Err(ProviderError::bad_answer(format!(
                "`{cmd}`: {}",
                answer.trim()
            )));
        }
        let now = self.weight_of(server).await?;
        if now != weight {
            return Err(ProviderError::bad_answer(format!(
                "`{cmd}` left the weight at {now}"
            )));
        }
        Ok(())
    }

    async fn save_state(&self) -> Result<(), ProviderError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        // Every backend: the state file is HAProxy's one global file, and a dump of ours alone
        // would reset the others' runtime weights at the next reload.
        let state = self.command("show servers state").await?;
        if !state.starts_with('1') {
            return Err(ProviderError::bad_answer(format!(
                "`show servers state` answered {:?}",
                state.trim()
            )));
        }
        let io = |p: &std::path::Path, e: std::io::Error| {
            ProviderError::io(ErrorKind::Io, &e, format!("{}: {e}", p.display()))
        };
        let tmp = path.with_extension("ship-tmp");
        std::fs::write(&tmp, &state).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }

    async fn apply(&self, weight: u8) -> Result<RouterOutput, ProviderError> {
        let w = u32::from(weight.min(100));
        // Canary first when it grows, stable first when it shrinks: at no moment do both
        // have weight 0 (no server to send to) and the sum never exceeds the target mix.
        let steps = if w >= self.weight_of(&self.canary_server).await.unwrap_or(0) {
            [(&self.canary_server, w), (&self.stable_server, 100 - w)]
        } else {
            [(&self.stable_server, 100 - w), (&self.canary_server, w)]
        };
        for (server, weight) in steps {
            self.set(server, weight).await.map_err(|e| self.err(e))?;
        }
        // The weights are set and confirmed: traffic is where the rollout wants it. A state
        // file that cannot be written is reported, never turned into a failed step (a failed
        // rollback would ask a person to act on traffic that already moved).
        let saved = match self.save_state().await {
            Ok(()) => String::new(),
            Err(e) => format!(" — WARNING: not saved for the next reload: {e}"),
        };
        Ok(RouterOutput::new(format!(
            "{}: {} weight {w}, {} weight {}{saved}",
            self.backend,
            self.canary_server,
            self.stable_server,
            100 - w
        )))
    }
}

#[async_trait]
impl TrafficRouter for HaproxyRouter {
    fn name(&self) -> &str {
        "haproxy"
    }
    async fn set_weight(
        &self,
        _ctx: &RouteContext,
        weight: u8,
    ) -> Result<RouterOutput, ProviderError> {
        self.apply(weight).await
    }
    async fn effective_weight(&self, _ctx: &RouteContext) -> Result<Option<u8>, ProviderError> {
        let canary = self
            .weight_of(&self.canary_server)
            .await
            .map_err(|e| self.err(e))?;
        let stable = self
            .weight_of(&self.stable_server)
            .await
            .map_err(|e| self.err(e))?;
        match canary + stable {
            0 => Err(self.err(ProviderError::bad_answer("both servers have weight 0"))),
            total => Ok(Some(((canary * 100 + total / 2) / total).min(100) as u8)),
        }
    }
    async fn promote(&self, _ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.apply(100).await
    }
    async fn roll_back(&self, _ctx: &RouteContext) -> Result<RouterOutput, ProviderError> {
        self.apply(0).await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_weight;

    #[test]
    fn get_weight_answers_are_read() {
        assert_eq!(parse_weight("25 (initial 0)\n\n"), Some(25));
        assert_eq!(parse_weight("No such server.\n"), None);
    }
}
