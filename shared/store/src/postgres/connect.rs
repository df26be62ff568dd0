//! Connecting to Postgres: the pool, single connections (migrations), errors that name the
//! server but never the password.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use crate::{StoreError, StoreResult};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn parse(url: &str) -> StoreResult<Config> {
    let mut config = Config::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("invalid postgres database.url: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("llm-proxy");
    }
    Ok(config)
}

/// `postgres database llmp on 127.0.0.1:5432 as postgres`: enough to find the server, never the
/// password.
pub(crate) fn describe_url(url: &str) -> String {
    match Config::from_str(url) {
        Ok(config) => describe(&config),
        Err(_) => "postgres database (unparsable URL)".to_owned(),
    }
}

fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("(default user)");
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres database {db} on {hosts} as {user}")
}

/// One connection outside the pool, with its driver task spawned.
pub(crate) async fn connect_single(url: &str) -> StoreResult<Client> {
    let config = parse(url)?;
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot connect to {}: {}",
            describe(&config),
            error_text(&e)
        ))
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "postgres connection closed with an error");
        }
    });
    Ok(client)
}

/// A pool of at most `max_conns`, checked by taking one connection.
pub(crate) async fn pool(url: &str, max_conns: usize) -> StoreResult<(Pool, String)> {
    let config = parse(url)?;
    let target = describe(&config);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(max_conns.max(1))
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build the postgres pool: {e}")))?;
    let client = pool.get().await.map_err(|e| pool_error(&target, e))?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| StoreError::Unavailable(format!("{target}: {}", error_text(&e))))?;
    Ok((pool, target))
}

pub(crate) fn pool_error(target: &str, e: PoolError) -> StoreError {
    let detail = match &e {
        PoolError::Backend(e) => error_text(e),
        other => other.to_string(),
    };
    StoreError::Unavailable(format!("cannot connect to {target}: {detail}"))
}

/// The server's message when there is one (`db error` alone says nothing), else the error and
/// its causes.
pub(crate) fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                StoreError::Conflict("already exists".to_owned())
            }
            Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => {
                StoreError::Invalid(error_text(&e))
            }
            Some(_) => StoreError::Internal(format!("postgres: {}", error_text(&e))),
            None if e.is_closed() => {
                StoreError::Unavailable(format!("postgres: {}", error_text(&e)))
            }
            None => StoreError::Internal(format!("postgres: {}", error_text(&e))),
        }
    }
}
