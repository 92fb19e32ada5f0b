//! The trees on PostgreSQL: every tree's keys and values in one table, `kv (tree, key, value)`,
//! so the store reads and writes them as it does sled's, and several Kassa nodes can share one
//! database.
//!
//! The store's calls are synchronous (an actor's turn reads and writes in place), while the
//! client is tokio-postgres: its connections run on a small runtime of the store's own, and a
//! call blocks its thread on the client's future, as a sled read blocks on the disk. Connections
//! are made when first needed and made again after they break, so a database that comes back
//! is used again without a restart.
//!
//! A change set is one transaction. Writes that decide from what the store holds (a
//! compare-and-swap) hold one transaction-scoped advisory lock from before their reads until
//! their commit: writers are serialised across every node on the database, as the write order
//! serialises them within one process on sled.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sled::IVec;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use super::ops::Op;
use crate::store::StoreError;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Connections for reads: reads on one connection are pipelined, so a few serve many callers.
const READ_CONNECTIONS: usize = 4;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows a range reads at first; each further read of the same range reads twice as many.
const FIRST_CHUNK: i64 = 64;
const LARGEST_CHUNK: i64 = 1024;

/// The advisory lock every write holds until its commit (an arbitrary, fixed number: "kassa").
const WRITE_LOCK: i64 = 0x006b_6173_7361;

/// The advisory lock migrations hold, so that nodes started together migrate one at a time.
const MIGRATION_LOCK: i64 = WRITE_LOCK + 1;

pub struct PgTrees {
    config: tokio_postgres::Config,
    /// Drives the connections; shut down in the background when the store goes, since the last
    /// handle may be dropped inside another runtime.
    runtime: Option<tokio::runtime::Runtime>,
    readers: Vec<Mutex<Option<Arc<Connection>>>>,
    next_reader: AtomicUsize,
    writer: Mutex<Option<Arc<Connection>>>,
    /// Held by a write from its first statement to its commit: one transaction at a time on
    /// the writer's connection.
    writing: Mutex<()>,
}

/// One connection and its prepared statements.
struct Connection {
    client: Client,
    get: Statement,
    forwards: Statement,
    forwards_to: Statement,
    backwards: Statement,
    backwards_to: Statement,
    put: Statement,
    remove: Statement,
    append_payload: Statement,
    read_payload: Statement,
}

impl PgTrees {
    /// Connects to `url`, runs the migrations the schema lacks, and is ready to read and write.
    pub fn open(url: &str) -> Result<PgTrees, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| StoreError::Storage(format!("storage.postgres.url: {error}")))?;
        // A server that does not answer is reported, not waited for without end.
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("kassa");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kassa-postgres")
            .enable_all()
            .build()
            .map_err(|error| unreachable_database(&format!("cannot start its runtime: {error}")))?;
        let trees = PgTrees {
            config,
            runtime: Some(runtime),
            readers: (0..READ_CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next_reader: AtomicUsize::new(0),
            writer: Mutex::new(None),
            writing: Mutex::new(()),
        };
        trees.migrate()?;
        Ok(trees)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives as long as the store")
    }

    /// Runs `work` on the store's runtime and waits for it: for what must be spawned there (a
    /// connection's own task, the migrations).
    fn on_runtime<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        futures::executor::block_on(self.runtime().spawn(work))
            .map_err(|error| StoreError::Storage(format!("a database task failed: {error}")))?
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let config = self.config.clone();
        let report = self.on_runtime(async move {
            let (mut client, connection) = config.connect(NoTls).await.map_err(database_error)?;
            let driver = tokio::spawn(connection);
            client
                .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(database_error)?;
            let report = embedded::migrations::runner()
                .run_async(&mut client)
                .await
                .map_err(|error| StoreError::Storage(format!("migrating the schema: {error}")));
            drop(client);
            let _ = driver.await;
            report
        })?;
        for migration in report.applied_migrations() {
            tracing::info!(
                version = migration.version(),
                name = migration.name(),
                "applied a schema migration"
            );
        }
        Ok(())
    }

    fn connect(&self) -> Result<Arc<Connection>, StoreError> {
        let config = self.config.clone();
        self.on_runtime(async move {
            let (client, connection) = config.connect(NoTls).await.map_err(database_error)?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(%error, "a database connection ended");
                }
            });
            Connection::prepared(client).await.map(Arc::new)
        })
    }

    /// A live connection from `slot`, made (again) when the slot has none or its own broke.
    fn live(&self, slot: &Mutex<Option<Arc<Connection>>>) -> Result<Arc<Connection>, StoreError> {
        let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(connection) = slot.as_ref().filter(|connection| !connection.client.is_closed())
        {
            return Ok(Arc::clone(connection));
        }
        *slot = None;
        let connection = self.connect()?;
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }

    fn reader(&self) -> Result<Arc<Connection>, StoreError> {
        let next = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.live(&self.readers[next])
    }

    pub fn get(&self, tree: u8, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        let connection = self.reader()?;
        let row = wait(connection.client.query_opt(&connection.get, &[&i16::from(tree), &key]))?;
        Ok(row.map(|row| IVec::from(row.get::<_, Vec<u8>>(0))))
    }

    /// The entries of `tree` between `lower` and `upper`, read in chunks as they are taken.
    pub fn range(&self, tree: u8, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> PgRange<'_> {
        PgRange {
            trees: self,
            tree: i16::from(tree),
            lower: match lower {
                Bound::Included(key) => key,
                Bound::Excluded(key) => successor(key),
                Bound::Unbounded => Vec::new(),
            },
            upper: match upper {
                Bound::Included(key) => Some(successor(key)),
                Bound::Excluded(key) => Some(key),
                Bound::Unbounded => None,
            },
            chunk: FIRST_CHUNK,
            taken: VecDeque::new(),
            exhausted: false,
        }
    }

    /// Serialises a write with every other on the database (see the module's comment) until
    /// [`Serialized::commit`] or its drop.
    pub fn serialize(&self) -> Result<Serialized<'_>, StoreError> {
        let guard = self.writing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let connection = self.live(&self.writer)?;
        // One round trip: the transaction and its lock.
        let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})");
        if let Err(error) = wait(connection.client.batch_execute(&begin)) {
            let _ = wait(connection.client.batch_execute("ROLLBACK"));
            return Err(error);
        }
        Ok(Serialized { _guard: guard, connection, open: std::cell::Cell::new(true) })
    }

    /// Asks the database whether it answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        let connection = self.reader()?;
        wait(connection.client.simple_query("SELECT 1")).map(drop)
    }

    /// Takes or renews the claim on `work` for `node` (see [`crate::store::Durable::claim`]):
    /// one statement, so two nodes asking at once cannot both get it. Expiry is read on the
    /// database's clock, the one clock every node shares.
    pub fn claim(&self, work: &str, node: &str, lease: Duration) -> Result<bool, StoreError> {
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let connection = self.reader()?;
        let claimed = wait(connection.client.query_opt(
            "INSERT INTO claims (name, node, until_ms) VALUES ($1, $2, \
                 (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3) \
             ON CONFLICT (name) DO UPDATE SET node = EXCLUDED.node, until_ms = EXCLUDED.until_ms \
             WHERE claims.node = EXCLUDED.node \
                OR claims.until_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint \
             RETURNING node",
            &[&work, &node, &lease],
        ))?;
        Ok(claimed.is_some())
    }

    pub fn release_claims(&self, node: &str) -> Result<(), StoreError> {
        let connection = self.reader()?;
        wait(connection.client.execute("DELETE FROM claims WHERE node = $1", &[&node])).map(drop)
    }

    pub fn append_payload(&self, payload: &[u8]) -> Result<u64, StoreError> {
        let connection = self.reader()?;
        let row = wait(connection.client.query_one(&connection.append_payload, &[&payload]))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    pub fn read_payload(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let connection = self.reader()?;
        let id = i64::try_from(id).map_err(|_| StoreError::Corrupt(format!("payload {id}")))?;
        let row = wait(connection.client.query_opt(&connection.read_payload, &[&id]))?;
        Ok(row.map(|row| row.get::<_, Vec<u8>>(0)))
    }
}

impl Drop for PgTrees {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Connection {
    async fn prepared(client: Client) -> Result<Connection, StoreError> {
        const SELECT: &str = "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2";
        let prepare = async |sql: &str| client.prepare(sql).await.map_err(database_error);
        Ok(Connection {
            get: prepare("SELECT value FROM kv WHERE tree = $1 AND key = $2").await?,
            forwards: prepare(&format!("{SELECT} ORDER BY key LIMIT $3")).await?,
            forwards_to: prepare(&format!("{SELECT} AND key < $3 ORDER BY key LIMIT $4")).await?,
            backwards: prepare(&format!("{SELECT} ORDER BY key DESC LIMIT $3")).await?,
            backwards_to: prepare(&format!("{SELECT} AND key < $3 ORDER BY key DESC LIMIT $4"))
                .await?,
            put: prepare(
                "INSERT INTO kv (tree, key, value) \
                 SELECT * FROM UNNEST($1::smallint[], $2::bytea[], $3::bytea[]) \
                 ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await?,
            remove: prepare(
                "DELETE FROM kv WHERE (tree, key) IN \
                 (SELECT * FROM UNNEST($1::smallint[], $2::bytea[]))",
            )
            .await?,
            append_payload: prepare("INSERT INTO payloads (body) VALUES ($1) RETURNING id").await?,
            read_payload: prepare("SELECT body FROM payloads WHERE id = $1").await?,
            client,
        })
    }
}

/// A write serialised with every other (see [`PgTrees::serialize`]): its transaction is open
/// until [`Serialized::commit`]; dropped before, it is rolled back and changes nothing.
pub struct Serialized<'a> {
    _guard: MutexGuard<'a, ()>,
    connection: Arc<Connection>,
    open: std::cell::Cell<bool>,
}

impl Serialized<'_> {
    /// Makes `ops` in the transaction and commits it. A key's last op is the one that counts,
    /// so each key is written once: puts in one statement, removals in another.
    pub fn commit(&self, ops: &[Op]) -> Result<(), StoreError> {
        if !self.open.replace(false) {
            return Err(StoreError::Storage("a write committed twice under one lock".into()));
        }
        let mut last: BTreeMap<(u8, &[u8]), Option<&[u8]>> = BTreeMap::new();
        for op in ops {
            last.insert((op.tree, op.key.as_slice()), op.value.as_deref());
        }
        let (mut put_trees, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
        let (mut removed_trees, mut removed_keys) = (Vec::new(), Vec::new());
        for ((tree, key), value) in last {
            match value {
                Some(value) => {
                    put_trees.push(i16::from(tree));
                    put_keys.push(key);
                    put_values.push(value);
                }
                None => {
                    removed_trees.push(i16::from(tree));
                    removed_keys.push(key);
                }
            }
        }
        let (client, connection) = (&self.connection.client, &self.connection);
        let puts: [&(dyn ToSql + Sync); 3] = [&put_trees, &put_keys, &put_values];
        let removals: [&(dyn ToSql + Sync); 2] = [&removed_trees, &removed_keys];
        // Sent together and answered in order, in one round trip: a write that fails aborts
        // the transaction, and the COMMIT behind it then rolls it back.
        let (put, removed, committed) = futures::executor::block_on(async {
            futures::join!(
                async {
                    match put_keys.is_empty() {
                        true => Ok(0),
                        false => client.execute(&connection.put, &puts).await,
                    }
                },
                async {
                    match removed_keys.is_empty() {
                        true => Ok(0),
                        false => client.execute(&connection.remove, &removals).await,
                    }
                },
                client.batch_execute("COMMIT"),
            )
        });
        let made = put.and(removed).and(committed).map(drop).map_err(database_error);
        if made.is_err() && !client.is_closed() {
            let _ = wait(client.batch_execute("ROLLBACK"));
        }
        made
    }
}

impl Drop for Serialized<'_> {
    fn drop(&mut self) {
        if self.open.get() {
            let _ = wait(self.connection.client.batch_execute("ROLLBACK"));
        }
    }
}

/// A range of one tree, read a chunk at a time from the end being read. Read from one end
/// only: forwards, or backwards after `.rev()`.
pub struct PgRange<'a> {
    trees: &'a PgTrees,
    tree: i16,
    /// The least key not yet read (inclusive).
    lower: Vec<u8>,
    /// The key every key read lies below (exclusive); `None`: no bound.
    upper: Option<Vec<u8>>,
    chunk: i64,
    taken: VecDeque<(IVec, IVec)>,
    exhausted: bool,
}

impl PgRange<'_> {
    fn step(&mut self, forwards: bool) -> Option<Result<(IVec, IVec), StoreError>> {
        if self.taken.is_empty()
            && !self.exhausted
            && let Err(error) = self.read_chunk(forwards)
        {
            self.exhausted = true;
            return Some(Err(error));
        }
        self.taken.pop_front().map(Ok)
    }

    fn read_chunk(&mut self, forwards: bool) -> Result<(), StoreError> {
        let connection = self.trees.reader()?;
        let (tree, lower, limit) = (&self.tree, &self.lower, &self.chunk);
        let rows = match (&self.upper, forwards) {
            (None, true) => {
                wait(connection.client.query(&connection.forwards, &[tree, lower, limit]))
            }
            (None, false) => {
                wait(connection.client.query(&connection.backwards, &[tree, lower, limit]))
            }
            (Some(upper), true) => {
                wait(connection.client.query(&connection.forwards_to, &[tree, lower, upper, limit]))
            }
            (Some(upper), false) => wait(
                connection.client.query(&connection.backwards_to, &[tree, lower, upper, limit]),
            ),
        }?;
        self.exhausted = (rows.len() as i64) < self.chunk;
        self.chunk = (self.chunk * 2).min(LARGEST_CHUNK);
        for row in rows {
            let key: Vec<u8> = row.get(0);
            let value: Vec<u8> = row.get(1);
            self.taken.push_back((IVec::from(key), IVec::from(value)));
        }
        // The next chunk starts past the last key read, from the end being read.
        if let Some((key, _)) = self.taken.back() {
            match forwards {
                true => self.lower = successor(key.to_vec()),
                false => self.upper = Some(key.to_vec()),
            }
        }
        Ok(())
    }
}

impl Iterator for PgRange<'_> {
    type Item = Result<(IVec, IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for PgRange<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

/// The least key greater than `key`.
fn successor(mut key: Vec<u8>) -> Vec<u8> {
    key.push(0);
    key
}

/// Waits for a client's future on this thread (see the module's comment).
fn wait<T>(
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    futures::executor::block_on(future).map_err(database_error)
}

fn database_error(error: tokio_postgres::Error) -> StoreError {
    if error.is_closed() || error.as_db_error().is_none() {
        return unreachable_database(&error.to_string());
    }
    StoreError::Storage(format!("the database refused: {error}"))
}

fn unreachable_database(why: &str) -> StoreError {
    StoreError::Unavailable(format!("the database is unreachable: {why}"))
}
