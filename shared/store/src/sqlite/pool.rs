//! Connections to one SQLite file: a single writer (SQLite allows one writer at a time anyway)
//! and a few readers, so reads in WAL mode never queue behind a long write. Every call runs on
//! tokio's blocking pool.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::{StoreError, StoreResult};

const READERS: usize = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Pool {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl Pool {
    /// Opens (creating when absent) the file and its parent directory. Blocking.
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| unavailable(path, &e))?;
        }
        let writer = open_connection(path, false)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, true).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a reader connection.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = Arc::clone(self);
        run_blocking(move || {
            let conn = pool.reader();
            f(&conn)
        })
        .await
    }

    /// Runs `f` in an immediate transaction on the writer; commits when `f` succeeds and rolls
    /// back otherwise.
    pub(crate) async fn write<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let pool = Arc::clone(self);
        run_blocking(move || {
            let mut conn = lock(&pool.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }

    /// A free reader if there is one, else waits for the next in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return conn;
            }
        }
        lock(&self.readers[start % n])
    }
}

/// A connection left behind by a panic is still usable: rusqlite rolls back an open transaction
/// when it is dropped.
fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn run_blocking<T, F>(f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite task failed: {e}")))?
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| unavailable(path, &e))?;
    configure(&conn, read_only).map_err(|e| unavailable(path, &e))?;
    Ok(conn)
}

fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if !read_only {
        // WAL is a property of the file: set once by the writer, readers inherit it.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "sqlite did not switch to WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub(crate) fn unavailable(path: &Path, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot open sqlite database {}: {e}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A read issued while a write transaction is open completes before that write commits,
    /// and sees the last committed state.
    #[tokio::test]
    async fn reads_do_not_wait_for_a_long_write() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(Pool::open(&dir.path().join("t.sqlite")).unwrap());
        pool.write(|tx| {
            tx.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")?;
            Ok(())
        })
        .await
        .unwrap();

        let (read_done, read_done_rx) = std::sync::mpsc::channel::<()>();
        let (write_started, write_started_rx) = tokio::sync::oneshot::channel::<()>();
        let writer = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.write(move |tx| {
                    tx.execute("UPDATE t SET v = 2", [])?;
                    let _ = write_started.send(());
                    // Keep the transaction open until the read is done (or give up).
                    read_done_rx
                        .recv_timeout(Duration::from_secs(10))
                        .map_err(|_| {
                            StoreError::Internal("the read queued behind the write".into())
                        })
                })
                .await
            }
        });
        write_started_rx.await.unwrap();
        let seen: i64 = pool
            .read(|c| Ok(c.query_row("SELECT v FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(seen, 1, "readers see the last committed state");
        read_done.send(()).unwrap();
        writer.await.unwrap().unwrap();
        let seen: i64 = pool
            .read(|c| Ok(c.query_row("SELECT v FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(seen, 2);
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(Pool::open(&dir.path().join("t.sqlite")).unwrap());
        let err = pool
            .read(|c| Ok(c.execute_batch("CREATE TABLE t (v INTEGER)")?))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Internal(_) | StoreError::Unavailable(_)),
            "{err:?}"
        );
    }
}
