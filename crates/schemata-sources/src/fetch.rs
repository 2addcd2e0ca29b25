//! Reading catalog rows from any source under the refresh's limits: a
//! client-side deadline, a cap on rows enforced while they arrive (a hostile
//! server may ignore LIMIT), and every row's size charged to the budget.

use crate::{Budget, SourceError, within};
use futures::TryStreamExt;
use sqlx::{ColumnIndex, Database, Decode, Executor, FromRow, IntoArguments, Row, Type};
use std::time::Duration;

/// What a row costs in memory beyond its values (allocations, bookkeeping).
const ROW_OVERHEAD: usize = 64;

/// How many rows a query may return, and how to say so when it returns more.
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    pub at_most: usize,
    /// The refresh's cap, as the message names it.
    pub cap: usize,
    pub what: &'static str,
}

impl Rows {
    pub fn all(cap: usize, what: &'static str) -> Self {
        Self {
            at_most: cap,
            cap,
            what,
        }
    }
}

/// Streams `query`'s rows into `T`s; `row_bytes` says what a row weighs.
pub async fn fetch_rows<'e, DB, A, T, E>(
    executor: E,
    query: sqlx::query::Query<'e, DB, A>,
    budget: &mut Budget,
    deadline: Duration,
    limit: Rows,
    row_bytes: fn(&DB::Row) -> usize,
) -> Result<Vec<T>, SourceError>
where
    DB: Database,
    A: IntoArguments<DB> + 'e,
    E: Executor<'e, Database = DB> + 'e,
    T: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    within(deadline, async {
        let mut rows = query.fetch(executor);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(SourceError::from_query)? {
            if out.len() >= limit.at_most {
                return Err(budget.too_many(limit.what, limit.cap));
            }
            budget.charge_bytes(row_bytes(&row) + size_of::<T>() + ROW_OVERHEAD)?;
            out.push(T::from_row(&row).map_err(SourceError::from_query)?);
        }
        Ok(out)
    })
    .await
}

/// The size of a row's values as they came over the wire (for servers that
/// send them: a hostile one could send a huge comment on every row).
pub fn wire_bytes<R>(row: &R) -> usize
where
    R: Row,
    for<'r> &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    (0..row.len())
        .map(|i| {
            row.try_get_unchecked::<Option<&[u8]>, _>(i)
                .ok()
                .flatten()
                .map_or(0, <[u8]>::len)
        })
        .sum()
}

/// For SQLite, whose values come from a file under our own root: decoding
/// them twice is not allowed, and their rows are charged by shape alone.
pub fn shape_only<R>(_: &R) -> usize {
    0
}
