//! Group commit: writes to one database that queue up while another is
//! committing share the next transaction, each in its own savepoint, so one
//! `fsync` acknowledges several of them. A write's answer is sent only after
//! the COMMIT that holds it (durable, as with one transaction each); a write
//! that fails is rolled back to its savepoint and changes nothing, while the
//! others in its transaction commit.
//!
//! With a [`WalSync`], the COMMIT does not wait for the disk: its writes are
//! answered once the sync behind it has run, while the next transaction
//! goes ahead.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::sqlite::{self, Kept, WalSync};

/// At most this many writes share one transaction.
const MOST: usize = 64;

/// Writes waiting for the writer, oldest first.
pub type Queue = Arc<Mutex<Vec<Box<dyn Job>>>>;

/// One queued write, its closure's types erased.
pub trait Job: Send {
    /// Its caller is gone (the request was dropped while it waited): like
    /// a write cancelled before it reached the writer, it is never run.
    fn abandoned(&self) -> bool;
    /// Runs the write in the open transaction; whether it succeeded.
    fn run(&mut self, conn: &Kept) -> bool;
    /// Answers its caller: its result once committed; else `failed` (a write
    /// that failed on its own keeps its own error).
    fn answer(self: Box<Self>, failed: Option<&anyhow::Error>);
}

/// A write and where its answer goes.
pub struct Queued<F, T, E> {
    pub write: Option<F>,
    pub result: Option<Result<T, E>>,
    pub reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Queued<F, T, E>
where
    F: FnOnce(&Kept) -> Result<T, E> + Send,
    T: Send,
    E: From<anyhow::Error> + Send,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn run(&mut self, conn: &Kept) -> bool {
        let result = self.write.take().map(|write| write(conn));
        let ok = matches!(result, Some(Ok(_)));
        self.result = result;
        ok
    }

    fn answer(self: Box<Self>, failed: Option<&anyhow::Error>) {
        let result = match (self.result, failed) {
            (Some(Err(err)), _) => Err(err),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(err)) => Err(anyhow::anyhow!("{err:#}").into()),
            (None, None) => Err(anyhow::anyhow!("the write never ran").into()),
        };
        // The caller may have gone (its connection closed): nothing to tell.
        let _ = self.reply.send(result);
    }
}

/// Commits every queued write, at most [`MOST`] per transaction, on the
/// writer connection (whose lock the caller holds); with `sync`, each
/// transaction's writes are answered once it is durable, by the sync the
/// caller then runs or asks for.
pub fn drain(queue: &Queue, conn: &Kept, sync: Option<&Arc<WalSync>>) {
    loop {
        let batch: Vec<Box<dyn Job>> = {
            let mut queued = queue.lock().expect("write queue");
            queued.retain(|job| !job.abandoned());
            let n = queued.len().min(MOST);
            queued.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let left = commit(conn, batch, sync);
        if !left.is_empty() {
            // Never run (an earlier write aborted the transaction): first in line again.
            let mut queued = queue.lock().expect("write queue");
            queued.splice(0..0, left);
        }
    }
}

/// Fails every queued write with `err` (the writer could not be opened).
pub fn fail_all(queue: &Queue, err: &anyhow::Error) {
    let batch: Vec<Box<dyn Job>> = queue.lock().expect("write queue").drain(..).collect();
    for job in batch {
        job.answer(Some(err));
    }
}

/// Runs `batch` in one transaction and answers its writes (once `sync` has
/// made it durable, if given); gives back the writes that never ran because
/// the transaction ended early.
fn commit(conn: &Kept, batch: Vec<Box<dyn Job>>, sync: Option<&Arc<WalSync>>) -> Vec<Box<dyn Job>> {
    if let Err(err) = control(conn, "begin immediate") {
        for job in batch {
            job.answer(Some(&err));
        }
        return Vec::new();
    }
    let mut done: Vec<Box<dyn Job>> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut aborted = None;
    for mut job in jobs.by_ref() {
        if let Err(err) = control(conn, "savepoint write") {
            aborted = Some(err);
            job.answer(aborted.as_ref());
            break;
        }
        if job.run(conn) {
            let _ = control(conn, "release write");
            done.push(job);
            continue;
        }
        if conn.is_autocommit() {
            // SQLite ended the whole transaction (it may on SQLITE_FULL or
            // I/O errors): the writes before this one are gone with it.
            job.answer(None);
            aborted = Some(anyhow::anyhow!(
                "another write in the same transaction failed; this one was not saved: retry it"
            ));
            break;
        }
        let _ = sqlite::execute_batch(conn, "rollback to write; release write");
        done.push(job);
    }
    let left: Vec<Box<dyn Job>> = jobs.collect();
    let outcome = match aborted {
        Some(err) => Err(err),
        None => control(conn, "commit").inspect_err(|_| {
            let _ = sqlite::execute_batch(conn, "rollback");
        }),
    };
    if outcome.is_ok() {
        // Before any of its writes is answered: see `stamp::REUSE`.
        crate::stamp::changed();
        let m = crate::metrics::metrics();
        m.commits.inc();
        m.commit_writes.inc_by(done.len() as u64);
        if let Some(sync) = sync {
            sync.committed(Box::new(move |failed| {
                for job in done {
                    job.answer(failed);
                }
            }));
            return left;
        }
    }
    for job in done {
        job.answer(outcome.as_ref().err());
    }
    left
}

/// One of the transaction's own statements, kept on the writer: each write
/// runs three of them.
fn control(conn: &Kept, sql: &str) -> anyhow::Result<()> {
    sqlite::execute_own(conn, sql, ())
        .map_err(|err| anyhow::Error::new(err).context(format!("running {sql}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(queue: &Queue, sql: &'static str) -> oneshot::Receiver<Result<(), anyhow::Error>> {
        let (reply, answer) = oneshot::channel();
        let write = move |conn: &Kept| sqlite::execute_batch(conn, sql);
        queue.lock().unwrap().push(Box::new(Queued {
            write: Some(write),
            result: None,
            reply,
        }));
        answer
    }

    #[test]
    fn one_transaction_keeps_the_good_writes_and_drops_the_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite::open_file(&dir.path().join("t.db")).unwrap();
        let conn = Kept::new(sqlite::connect(&db).unwrap(), 4);
        sqlite::execute_batch(&conn, "create table t (id integer primary key)").unwrap();
        let queue = Queue::default();
        let mut first = queued(&queue, "insert into t values (1)");
        let mut failing = queued(&queue, "insert into t values (2); insert into t values (1)");
        drop(queued(&queue, "insert into t values (3)"));
        let mut last = queued(&queue, "insert into t values (4)");
        drain(&queue, &conn, None);
        assert!(first.try_recv().unwrap().is_ok());
        assert!(failing.try_recv().unwrap().is_err());
        assert!(last.try_recv().unwrap().is_ok());
        let ids: Vec<i64> = sqlite::query_all(&conn, "select id from t order by id", ())
            .unwrap()
            .iter()
            .map(|row| row.get::<i64>(0).unwrap())
            .collect();
        // 2 went with its failing write, 3's caller was gone.
        assert_eq!(ids, vec![1, 4]);
        assert!(queue.lock().unwrap().is_empty());
    }

    #[test]
    fn a_synced_transaction_is_answered_after_one_sync_for_all_its_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = sqlite::open_file(&path).unwrap();
        let conn = Kept::new(sqlite::connect(&db).unwrap(), 4);
        sqlite::execute_batch(&conn, "create table t (id integer primary key)").unwrap();
        sqlite::execute_batch(&conn, "pragma synchronous = normal").unwrap();
        let sync = WalSync::new(&path);
        let queue = Queue::default();
        let mut first = queued(&queue, "insert into t values (1)");
        let mut second = queued(&queue, "insert into t values (2)");
        drain(&queue, &conn, Some(&sync));
        // Committed, not yet durable: not yet answered.
        assert!(first.try_recv().is_err());
        sync.sync_here();
        assert!(first.try_recv().unwrap().is_ok());
        assert!(second.try_recv().unwrap().is_ok());
        assert_eq!(sync.done(), 1);
        assert!(dir.path().join("t.db-wal").exists());
    }
}
