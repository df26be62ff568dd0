//! Embedded refinery migrations (`migrations/` at the repository root), one set per dialect.
//! Postgres migrations run under an advisory lock: refinery has no lock of its own, and several
//! admin replicas may start at once.

use std::path::Path;

use crate::{StoreError, StoreResult};

mod embedded_postgres {
    refinery::embed_migrations!("../../migrations/postgres");
}

mod embedded_sqlite {
    refinery::embed_migrations!("../../migrations/sqlite");
}

/// Arbitrary but fixed: every node of every version takes the same lock.
const PG_MIGRATION_LOCK: i64 = 0x6c6c_6d70_6d69_6772; // "llmpmigr"

/// The schema version this build needs (the newest embedded migration).
pub(crate) fn sqlite_schema_version() -> i64 {
    newest(embedded_sqlite::migrations::runner().get_migrations())
}

pub(crate) fn postgres_schema_version() -> i64 {
    newest(embedded_postgres::migrations::runner().get_migrations())
}

fn newest(migrations: &[refinery::Migration]) -> i64 {
    migrations
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// One line: where, which migration, and the database's own message (tokio-postgres alone says
/// only "db error").
fn migration_error(target: &str, e: &refinery::Error) -> StoreError {
    let detail = match e.kind() {
        refinery::error::Kind::Connection(what, source) => {
            let cause = if let Some(pg) = source.downcast_ref::<tokio_postgres::Error>() {
                crate::postgres::error_text(pg)
            } else if let Some(sqlite) = source.downcast_ref::<rusqlite::Error>() {
                sqlite_error_text(sqlite)
            } else {
                source.to_string()
            };
            format!("{what}: {cause}")
        }
        other => other.to_string(),
    };
    StoreError::Migration(format!("{target}: {}", detail.replace('\n', " ")))
}

/// SQLite's message without the statement text rusqlite appends (a whole migration file).
fn sqlite_error_text(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

/// The name of the migration a failed SQLite run stopped at (refinery's sync runner does not
/// say): the first pending one after those the run applied.
fn failed_sqlite_migration(last_applied_before: i64, e: &refinery::Error) -> Option<String> {
    let runner = embedded_sqlite::migrations::runner();
    let mut pending: Vec<&refinery::Migration> = runner
        .get_migrations()
        .iter()
        .filter(|m| i64::from(m.version()) > last_applied_before)
        .collect();
    pending.sort_by_key(|m| m.version());
    let applied_now = e.report().map_or(0, |r| r.applied_migrations().len());
    pending.get(applied_now).map(|m| m.to_string())
}

/// Serialises SQLite migrations within this process.
static SQLITE_MIGRATION_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Applies pending migrations to a SQLite file (created when absent).
///
/// Runs within this process are serialised. Another process migrating the same file at the same
/// moment can make one run fail on a table the other just created; that run is retried once,
/// and then finds the migration applied.
pub async fn migrate_sqlite(path: &Path) -> StoreResult<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let _guard = SQLITE_MIGRATION_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let target = format!("sqlite database {}", path.display());
        let run = || -> StoreResult<refinery::Report> {
            let mut conn = crate::sqlite::open_migration_connection(&path)?;
            let runner = embedded_sqlite::migrations::runner();
            let before = crate::sqlite::schema_version(&conn)?;
            runner.run(&mut conn).map_err(|e| {
                let at = failed_sqlite_migration(before, &e)
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default();
                migration_error(&format!("{target}{at}"), &e)
            })
        };
        let report = match run() {
            Ok(report) => report,
            Err(StoreError::Migration(first)) => {
                tracing::debug!(error = %first, "sqlite migration failed, retrying once");
                run()?
            }
            Err(e) => return Err(e),
        };
        log_report(&target, &report);
        Ok(())
    })
    .await
    .map_err(|e| StoreError::Internal(format!("migration task failed: {e}")))?
}

/// Applies pending migrations to a Postgres database, holding a session advisory lock so
/// concurrent starts apply each migration exactly once.
pub async fn migrate_postgres(url: &str) -> StoreResult<()> {
    let target = crate::postgres::describe_url(url);
    let mut client = crate::postgres::connect_single(url).await?;
    let sql_err = |e: tokio_postgres::Error| {
        StoreError::Migration(format!("{target}: {}", crate::postgres::error_text(&e)))
    };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&PG_MIGRATION_LOCK])
        .await
        .map_err(sql_err)?;
    let result = embedded_postgres::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| migration_error(&target, &e));
    // The lock is released when the session ends too; unlock explicitly to hand it over sooner.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&PG_MIGRATION_LOCK])
        .await;
    let report = result?;
    unlocked.map_err(sql_err)?;
    log_report(&target, &report);
    Ok(())
}

fn log_report(target: &str, report: &refinery::Report) {
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    if applied.is_empty() {
        tracing::info!(target_db = %target, "database schema is up to date");
    } else {
        tracing::info!(target_db = %target, applied = ?applied, "applied database migrations");
    }
}
