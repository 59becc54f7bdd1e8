//! The bridge between the synchronous [`crate::StateStore`] and the async PostgreSQL driver.
//!
//! The trait is called from plain threads and from inside tokio runtimes (`ship serve`'s
//! current-thread LocalSet, multi-thread runtimes elsewhere), where blocking on a runtime
//! (`Handle::block_on`) panics. So the driver runs on a thread of its own with its own
//! current-thread runtime: a method sends its work there and waits on a std channel for the
//! answer. That thread also keeps the pool: at most [`MAX_CONNECTIONS`] clients, checked out
//! per call and given back. One bridge per URL and process ([`Bridge::shared`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};

use super::tls::{self, Tls};

use crate::{Result, StoreError};

/// Connections one process keeps to one database at most.
pub const MAX_CONNECTIONS: usize = 4;
/// How long connecting may take before the database counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long setting a session up may take in all (connecting, the TLS handshake,
/// authentication) before the database counts as unavailable: the driver's connect timeout
/// covers the socket only, and a server (or a middlebox) that accepts and never answers would
/// hold the call for ever.
const SESSION_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one call may take (its statements, and waiting for the append lock) before the
/// database counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;
type Job = Box<dyn FnOnce(Rc<Clients>) -> LocalFuture + Send>;

/// The pool, living on the driver's thread.
struct Clients {
    config: Config,
    tls: Tls,
    target: String,
    idle: RefCell<Vec<Client>>,
    permits: Semaphore,
}

/// A handle on the driver's thread for one database.
pub struct Bridge {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    target: String,
}

/// `host:port` of a connection config, for messages (never the password).
fn target(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// A driver error as a store error: the database could not be reached (refused, lost, shut
/// down, timed out) is [`StoreError::Unavailable`]; a refused statement is
/// [`StoreError::Postgres`].
pub fn store_error(e: &tokio_postgres::Error, target: &str) -> StoreError {
    let unreachable = e.is_closed()
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        || e.code().is_some_and(|c| {
            c.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(c)
        });
    let text = match e.as_db_error() {
        Some(db) => db.to_string(),
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    };
    if unreachable {
        StoreError::Unavailable(format!("PostgreSQL at {target}: {text}"))
    } else {
        StoreError::Postgres(text)
    }
}

/// What a call's work may fail with: the driver's error (made a [`StoreError`] with the
/// database's `host:port` by the bridge) or the store's own.
pub enum Failure {
    /// A statement or the connection failed.
    Pg(tokio_postgres::Error),
    /// The store refused (not found, conflict, lease lost, unreadable).
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Pg(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        Failure::Store(e.into())
    }
}

/// The live bridges of this process, by URL.
fn registry() -> std::sync::MutexGuard<'static, HashMap<String, Weak<Bridge>>> {
    static BRIDGES: OnceLock<Mutex<HashMap<String, Weak<Bridge>>>> = OnceLock::new();
    BRIDGES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl Bridge {
    /// The process's bridge to the database at `url`; when there is none yet, one started and
    /// readied by `ready` (migrated) before any other caller gets it.
    pub fn shared(url: &str, ready: impl FnOnce(&Bridge) -> Result<()>) -> Result<Arc<Bridge>> {
        let mut bridges = registry();
        if let Some(b) = bridges.get(url).and_then(Weak::upgrade) {
            return Ok(b);
        }
        let bridge = Arc::new(Bridge::start(url)?);
        ready(&bridge)?;
        bridges.retain(|_, b| b.strong_count() > 0);
        bridges.insert(url.to_string(), Arc::downgrade(&bridge));
        Ok(bridge)
    }

    /// A bridge of its own to `url` (tests: two pools of one process racing each other).
    pub fn start(url: &str) -> Result<Bridge> {
        let (mut config, tls) = tls::parse(url)?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("ship");
        let target = target(&config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("the PostgreSQL driver: {e}")))?;
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let thread = format!("ship-postgres {target}");
        let for_thread = target.clone();
        std::thread::Builder::new()
            .name(thread)
            .spawn(move || {
                let clients = Rc::new(Clients {
                    config,
                    tls,
                    target: for_thread,
                    idle: RefCell::new(vec![]),
                    permits: Semaphore::new(MAX_CONNECTIONS),
                });
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    // Ends when the last Bridge is dropped; the clients close with the runtime.
                    while let Some(job) = queue.recv().await {
                        tokio::task::spawn_local(job(clients.clone()));
                    }
                });
            })
            .map_err(|e| StoreError::Unavailable(format!("the PostgreSQL driver thread: {e}")))?;
        Ok(Bridge { jobs, target })
    }

    /// `host:port` of the database, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `work` with a client of the pool on the driver's thread, and waits for its answer.
    pub fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: AsyncFnOnce(&mut Client) -> std::result::Result<T, Failure> + Send + 'static,
    {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |clients: Rc<Clients>| {
            Box::pin(async move {
                let result = clients.call(work).await;
                let _ = answer.send(result);
            })
        });
        let gone = || {
            StoreError::Unavailable(format!(
                "PostgreSQL at {}: the driver thread stopped",
                self.target
            ))
        };
        self.jobs.send(job).map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }
}

impl Clients {
    async fn call<T, F>(&self, work: F) -> Result<T>
    where
        F: AsyncFnOnce(&mut Client) -> std::result::Result<T, Failure>,
    {
        let _permit = self.permits.acquire().await.map_err(|_| {
            StoreError::Unavailable(format!("PostgreSQL at {}: pool closed", self.target))
        })?;
        let mut client = self.client().await?;
        match tokio::time::timeout(CALL_TIMEOUT, work(&mut client)).await {
            Ok(result) => {
                // A client whose connection broke is not given back: the next call connects.
                if !client.is_closed() {
                    self.idle.borrow_mut().push(client);
                }
                result.map_err(|f| match f {
                    Failure::Pg(e) => store_error(&e, &self.target),
                    Failure::Store(e) => e,
                })
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "PostgreSQL at {}: no answer within {} s",
                self.target,
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }

    /// An idle client still connected, or a new one.
    async fn client(&self) -> Result<Client> {
        loop {
            let Some(client) = self.idle.borrow_mut().pop() else {
                break;
            };
            if !client.is_closed() {
                return Ok(client);
            }
        }
        let connecting = self.config.connect(self.tls.connector());
        let (client, connection) = tokio::time::timeout(SESSION_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "PostgreSQL at {}: no session within {} s ({})",
                    self.target,
                    SESSION_TIMEOUT.as_secs(),
                    self.tls
                ))
            })?
            .map_err(|e| tls::connect_error(&e, &self.target, &self.tls))?;
        tokio::task::spawn_local(async move {
            // Its end shows as the client's is_closed (and its calls' errors).
            let _ = connection.await;
        });
        Ok(client)
    }
}
