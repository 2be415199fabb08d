//! Test databases for every back end: SQLite in a temp dir always, PostgreSQL (a fresh schema per
//! test, dropped afterwards) when `TUNE_TEST_POSTGRES_URL` is set (see `tests/pg.sh`).

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tune_spec::{EpochMetrics, JobSpec, ModelSpec, TrainOutcome, TrainSpec};
use tune_store::{NewSweep, Store, StoreOptions};

/// The environment variable naming the PostgreSQL server to test against.
pub const PG_ENV: &str = "TUNE_TEST_POSTGRES_URL";

/// A back end to run a test against.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh SQLite file in a temp dir.
    Sqlite,
    /// A fresh schema on this PostgreSQL server.
    Postgres(String),
}

/// SQLite always; PostgreSQL too when `TUNE_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var(PG_ENV)
        && !url.is_empty()
    {
        v.push(Backend::Postgres(url));
    }
    v
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Raw access to a test database, for checking tables behind the store's back.
pub enum Raw {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL, search path set to the test's schema.
    Postgres(PgPool),
}

/// A fresh, migrated database and a store on it.
pub struct TestDb {
    /// The store.
    pub store: Store,
    /// `sqlite` or `postgres`, for assertion messages.
    pub label: &'static str,
    /// What was passed to `Store::open_with`.
    pub target: String,
    /// The options the store was opened with.
    pub options: StoreOptions,
    /// Raw access to the same database.
    pub raw: Raw,
    dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database on `backend` with default options.
    pub async fn new(backend: &Backend) -> TestDb {
        TestDb::with_options(backend, StoreOptions::default()).await
    }

    /// A fresh database on `backend`.
    pub async fn with_options(backend: &Backend, mut options: StoreOptions) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("nested").join("results.db");
                let target = path.to_str().unwrap().to_string();
                let store = Store::open_with(&target, &options).await.unwrap();
                let raw = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
                    .await
                    .unwrap();
                TestDb {
                    store,
                    label: "sqlite",
                    target,
                    options,
                    raw: Raw::Sqlite(raw),
                    dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres(url) => {
                let schema = format!(
                    "tune_test_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                options.pg_schema = Some(schema.clone());
                let store = Store::open_with(url, &options).await.unwrap();
                let connect: PgConnectOptions = url.parse().unwrap();
                let raw = PgPoolOptions::new()
                    .max_connections(2)
                    .connect_with(connect.options([("search_path", schema.as_str())]))
                    .await
                    .unwrap();
                TestDb {
                    store,
                    label: "postgres",
                    target: url.clone(),
                    options,
                    raw: Raw::Postgres(raw),
                    dir: None,
                    pg: Some((url.clone(), schema)),
                }
            }
        }
    }

    /// Another store (its own connection pool) on the same database, as a second process would
    /// open it.
    pub async fn reopen(&self) -> Store {
        Store::open_with(&self.target, &self.options).await.unwrap()
    }

    /// Runs a query returning one integer.
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }

    /// Names of the tables and views of the store's schema.
    pub async fn relations(&self) -> Vec<String> {
        let mut v: Vec<String> = match &self.raw {
            Raw::Sqlite(p) => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            Raw::Postgres(p) => sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .fetch_all(p)
            .await
            .unwrap(),
        };
        v.sort();
        v
    }

    /// The rows of the `grid_results` view.
    pub async fn grid_results(&self) -> Vec<GridRow> {
        const SQL: &str = "SELECT layer1, layer2, layer3, kernel, layerdense, epochs, loss, \
             accuracy, runtime_mins, model, dataset, seed, params, job_key \
             FROM grid_results ORDER BY job_key";
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
            Raw::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
        }
    }

    /// Closes the store and drops the database (the PostgreSQL schema, the SQLite temp dir).
    pub async fn finish(self) {
        self.store.close().await;
        match &self.raw {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => p.close().await,
        }
        // Drop does the rest.
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((url, schema)) = self.pg.take() else {
            return;
        };
        // Drop the schema on a runtime of its own, so that it also goes when a test panics.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// A row of the `grid_results` view.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GridRow {
    pub layer1: Option<i64>,
    pub layer2: Option<i64>,
    pub layer3: Option<i64>,
    pub kernel: Option<i64>,
    pub layerdense: Option<i64>,
    pub epochs: i64,
    pub loss: f64,
    pub accuracy: f64,
    pub runtime_mins: f64,
    pub model: String,
    pub dataset: String,
    pub seed: i64,
    pub params: i64,
    pub job_key: String,
}

/// A small CNN job of 2 epochs.
pub fn cnn(filters: &[usize], dense: usize, seed: u64) -> JobSpec {
    JobSpec {
        model: ModelSpec::cnn(filters, dense),
        train: TrainSpec {
            epochs: 2,
            seed,
            ..TrainSpec::default()
        },
    }
}

/// `n` distinct jobs.
pub fn jobs(n: usize) -> Vec<JobSpec> {
    (0..n).map(|i| cnn(&[16, 32], 32, i as u64 + 1)).collect()
}

/// A sweep named `name` with grid text `text`.
pub fn sweep(name: &str, text: &str) -> NewSweep {
    NewSweep {
        data_versions: String::new(),
        name: name.to_string(),
        grid_text: text.to_string(),
        host: "testhost".to_string(),
        tune_version: "0.1.0".to_string(),
    }
}

/// Metrics of epoch `epoch`, shifted by `x` so rewrites are visible.
pub fn metrics(epoch: usize, x: f64) -> EpochMetrics {
    EpochMetrics {
        epoch,
        train_loss: 1.0 / epoch as f64 + x,
        train_accuracy: 0.8 + x,
        val_loss: 1.1 / epoch as f64 + x,
        val_accuracy: 0.75 + x,
        seconds: 12.5,
    }
}

/// A finished run of `spec`.
pub fn outcome(spec: &JobSpec, accuracy: f64) -> TrainOutcome {
    let mut confusion = vec![vec![0u64; 10]; 10];
    for (i, row) in confusion.iter_mut().enumerate() {
        row[i] = 900;
        row[(i + 1) % 10] = 100;
    }
    TrainOutcome {
        params: spec.model.params(&tune_spec::InputShape::BUILT_IN).unwrap(),
        test_loss: 0.3,
        test_accuracy: accuracy,
        runtime_s: 90.0,
        images_per_s: 4000.0,
        history: (1..=spec.train.epochs).map(|e| metrics(e, 0.0)).collect(),
        confusion,
        val_predictions: tune_spec::Predictions {
            predicted: vec![1, 2, 3, 4],
            labels: vec![1, 2, 3, 5],
        },
        test_predictions: tune_spec::Predictions {
            predicted: vec![7; 10],
            labels: (0..10).collect(),
        },
    }
}

/// A lease long enough never to expire during a test.
pub const LONG: Duration = Duration::from_secs(3600);

/// Waits until a lease of zero seconds has certainly expired by the database clock.
pub async fn let_lease_expire() {
    tokio::time::sleep(Duration::from_millis(30)).await;
}

/// Runs `sql` (one or more statements) on `db` outside the store; panics naming the back end.
pub async fn execute(db: &TestDb, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match &db.raw {
        Raw::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        Raw::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{}: {e}", db.label));
}
