//! A statement as one value: its SQL text and its arguments in `$N` order. The statement
//! functions of [`super`] build one beside their SQL, binding each parameter set once (a claimed
//! job is always named by [`Stmt::claim`]); [`Stmt::execute`] and [`Stmt::fetch_all`] run it on
//! whichever back end, and [`Stmt::query_as`] and [`Stmt::query_scalar`] turn it into that back
//! end's sqlx query.

use std::time::Duration;

use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Executor, FromRow};

use crate::types::Claim;

/// One argument: the value types the store binds.
#[derive(Debug, Clone, Copy)]
enum Arg<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Real(f64),
    Bool(Option<bool>),
    Bytes(&'a [u8]),
}

/// A statement and its arguments, ready to run on either back end.
#[derive(Debug, Clone)]
pub(crate) struct Stmt<'a> {
    sql: &'static str,
    args: Vec<Arg<'a>>,
}

impl<'a> Stmt<'a> {
    /// `sql` with no arguments yet.
    pub fn new(sql: &'static str) -> Stmt<'a> {
        Stmt {
            sql,
            args: Vec::new(),
        }
    }

    fn arg(mut self, arg: Arg<'a>) -> Stmt<'a> {
        self.args.push(arg);
        self
    }

    /// The next parameter: text.
    pub fn text(self, v: &'a str) -> Stmt<'a> {
        self.arg(Arg::Text(Some(v)))
    }

    /// The next parameter: text or NULL.
    pub fn opt_text(self, v: Option<&'a str>) -> Stmt<'a> {
        self.arg(Arg::Text(v))
    }

    /// The next parameter: an integer.
    pub fn int(self, v: i64) -> Stmt<'a> {
        self.arg(Arg::Int(Some(v)))
    }

    /// The next parameter: an integer or NULL.
    pub fn opt_int(self, v: Option<i64>) -> Stmt<'a> {
        self.arg(Arg::Int(v))
    }

    /// The next parameter: a real number.
    pub fn real(self, v: f64) -> Stmt<'a> {
        self.arg(Arg::Real(v))
    }

    /// The next parameter: a boolean or NULL.
    pub fn opt_bool(self, v: Option<bool>) -> Stmt<'a> {
        self.arg(Arg::Bool(v))
    }

    /// The next parameter: bytes.
    pub fn bytes(self, v: &'a [u8]) -> Stmt<'a> {
        self.arg(Arg::Bytes(v))
    }

    /// The next three parameters: the job key, worker id and attempt of `claim`, which every
    /// write about a claimed job names in its `WHERE` clause.
    pub fn claim(self, claim: &'a Claim) -> Stmt<'a> {
        self.text(&claim.key)
            .text(&claim.worker_id)
            .int(i64::from(claim.attempt))
    }

    /// The next parameter: `lease` in seconds.
    pub fn lease(self, lease: Duration) -> Stmt<'a> {
        self.real(lease_secs(lease))
    }

    /// Runs the statement on `executor` (a pool or a transaction); the number of rows it changed.
    pub fn execute<'e, 'c: 'e, DB, E>(&self, executor: E) -> Fetch<'e, u64>
    where
        DB: Binds,
        E: 'e + Executor<'c, Database = DB>,
    {
        DB::execute(self, executor)
    }

    /// Runs the statement on `executor`; every row it returns, read as `O`.
    pub fn fetch_all<'e, 'c: 'e, DB, O, E>(&self, executor: E) -> Fetch<'e, Vec<O>>
    where
        'a: 'e,
        DB: Binds,
        O: 'e + Send + Unpin + for<'r> FromRow<'r, DB::Row>,
        E: 'e + Executor<'c, Database = DB>,
    {
        DB::fetch_all(self, executor)
    }

    /// The statement as an sqlx query whose rows are read as `O`.
    pub fn query_as<DB: Binds, O>(&self) -> QueryAs<'a, DB, O, DB::Arguments>
    where
        O: for<'r> FromRow<'r, DB::Row>,
    {
        DB::query_as(self)
    }

    /// The statement as an sqlx query whose first column is read as `O`.
    pub fn query_scalar<DB: Binds, O>(&self) -> QueryScalar<'a, DB, O, DB::Arguments>
    where
        (O,): for<'r> FromRow<'r, DB::Row>,
    {
        DB::query_scalar(self)
    }
}

/// What [`Stmt::execute`] and [`Stmt::fetch_all`] return: a future of
/// their result (boxed, so that it is `Send` whatever the lifetimes of the executor, as sqlx's own
/// executor futures are).
pub(crate) type Fetch<'e, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'e>>;

/// A lease as seconds for the database (at most about four months).
fn lease_secs(lease: Duration) -> f64 {
    lease.as_secs_f64().min(1e7)
}

/// A back end that binds a [`Stmt`]'s arguments (SQLite and PostgreSQL).
pub(crate) trait Binds: sqlx::Database + Sized {
    /// See [`Stmt::execute`].
    fn execute<'e, 'c: 'e, E>(stmt: &Stmt<'_>, executor: E) -> Fetch<'e, u64>
    where
        E: 'e + Executor<'c, Database = Self>;
    /// See [`Stmt::fetch_all`].
    fn fetch_all<'a: 'e, 'e, 'c: 'e, O, E>(stmt: &Stmt<'a>, executor: E) -> Fetch<'e, Vec<O>>
    where
        O: 'e + Send + Unpin + for<'r> FromRow<'r, Self::Row>,
        E: 'e + Executor<'c, Database = Self>;
    /// See [`Stmt::query_as`].
    fn query_as<'a, O>(stmt: &Stmt<'a>) -> QueryAs<'a, Self, O, Self::Arguments>
    where
        O: for<'r> FromRow<'r, Self::Row>;
    /// See [`Stmt::query_scalar`].
    fn query_scalar<'a, O>(stmt: &Stmt<'a>) -> QueryScalar<'a, Self, O, Self::Arguments>
    where
        (O,): for<'r> FromRow<'r, Self::Row>;
}

/// Binds `$stmt`'s arguments, in order, to the sqlx query `$query`.
macro_rules! bind_all {
    ($query:expr, $stmt:expr) => {
        $stmt.args.iter().fold($query, |q, arg| match *arg {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Real(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
        })
    };
}

/// Implements [`Binds`] for back end `$db`.
macro_rules! binds {
    ($db:ty) => {
        impl Binds for $db {
            fn execute<'e, 'c: 'e, E>(stmt: &Stmt<'_>, executor: E) -> Fetch<'e, u64>
            where
                E: 'e + Executor<'c, Database = Self>,
            {
                let query: Query<'e, Self, _> = bind_all!(sqlx::query(stmt.sql), stmt);
                Box::pin(async move { Ok(query.execute(executor).await?.rows_affected()) })
            }

            fn fetch_all<'a: 'e, 'e, 'c: 'e, O, E>(
                stmt: &Stmt<'a>,
                executor: E,
            ) -> Fetch<'e, Vec<O>>
            where
                O: 'e + Send + Unpin + for<'r> FromRow<'r, Self::Row>,
                E: 'e + Executor<'c, Database = Self>,
            {
                let query: QueryAs<'e, Self, O, _> = bind_all!(sqlx::query_as(stmt.sql), stmt);
                Box::pin(query.fetch_all(executor))
            }

            fn query_as<'a, O>(stmt: &Stmt<'a>) -> QueryAs<'a, Self, O, Self::Arguments>
            where
                O: for<'r> FromRow<'r, Self::Row>,
            {
                bind_all!(sqlx::query_as(stmt.sql), stmt)
            }

            fn query_scalar<'a, O>(stmt: &Stmt<'a>) -> QueryScalar<'a, Self, O, Self::Arguments>
            where
                (O,): for<'r> FromRow<'r, Self::Row>,
            {
                bind_all!(sqlx::query_scalar(stmt.sql), stmt)
            }
        }
    };
}

binds!(sqlx::Sqlite);
binds!(sqlx::Postgres);
