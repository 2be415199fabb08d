//! A sweep's ranking, computed once per request: one query for all its jobs, one pass to fold
//! them into the report's rows, then sorting, filtering and cutting on the server.

use std::cmp::Ordering;
use std::collections::HashMap;

use tune_report::{
    Field, FieldValue, Filter, Report, ReportOptions, ReportRow, ResultRow, SortKey,
};
use tune_store::{DashJob, Store, SweepProgress};

use crate::pages::PageError;

/// Rows shown in a sweep's table unless `?top=N` says otherwise.
pub const DEFAULT_TOP: usize = 200;

/// Largest `?top=N`.
pub const MAX_TOP: usize = 10_000;

/// Above this many finished jobs the page does not read per-image predictions, so rows have no
/// tie marks or single-run intervals (`tune report` gives them); reading them all would take
/// longer than a page may.
pub const TIE_LIMIT: usize = 1_000;

/// What the query string of a sweep's pages asks for.
#[derive(Debug, Clone)]
pub struct SweepQuery {
    /// `?sort=COLUMN` (a report column key or a setting), parsed.
    pub sort: SortKey,
    /// The column key as given (empty: the default ranking).
    pub sort_name: String,
    /// Highest first (`?dir=desc`); by default accuracies are and everything else is not.
    pub desc: bool,
    /// `?where=FIELD=VALUE[,VALUE]`, repeatable.
    pub filters: Vec<Filter>,
    /// The `where` values as given, to carry into links.
    pub where_text: Vec<String>,
    /// `?top=N`.
    pub top: usize,
}

/// The sort key of a ranked-table column key (its CSV name), if the column can be sorted by.
pub fn sort_key_of(column: &str) -> Option<SortKey> {
    let name = match column {
        "rank" => "val_accuracy",
        "accuracy" | "test_ci" | "test_ci_low" | "test_ci_high" => "test_accuracy",
        "runtime_min" => "runtime",
        other => other,
    };
    name.parse().ok()
}

fn default_desc(k: SortKey) -> bool {
    matches!(k, SortKey::Accuracy | SortKey::TestAccuracy)
}

impl SweepQuery {
    /// Parses `?sort=`, `?dir=`, `?where=` (repeatable) and `?top=`; a bad value is a 400 page
    /// naming it.
    pub fn parse(q: &[(String, String)]) -> Result<SweepQuery, PageError> {
        let mut out = SweepQuery {
            sort: SortKey::Accuracy,
            sort_name: String::new(),
            desc: true,
            filters: Vec::new(),
            where_text: Vec::new(),
            top: DEFAULT_TOP,
        };
        let mut dir: Option<bool> = None;
        for (k, v) in q {
            match k.as_str() {
                "sort" if !v.is_empty() => {
                    out.sort = sort_key_of(v).ok_or_else(|| {
                        PageError::BadRequest(format!(
                            "?sort={v}: not a column to sort by ({})",
                            v.parse::<SortKey>()
                                .err()
                                .map_or(String::new(), |e| e.to_string())
                        ))
                    })?;
                    out.sort_name = v.clone();
                }
                "dir" => {
                    dir = Some(match v.as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => {
                            return Err(PageError::BadRequest(format!(
                                "?dir={v}: write asc or desc"
                            )));
                        }
                    })
                }
                "where" => {
                    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                        let f: Filter = part
                            .parse()
                            .map_err(|e| PageError::BadRequest(format!("?where={part}: {e}")))?;
                        out.filters.push(f);
                        out.where_text.push(part.to_string());
                    }
                }
                "top" => {
                    out.top = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_TOP).contains(n))
                        .ok_or_else(|| {
                            PageError::BadRequest(format!(
                                "?top={v}: give a number from 1 to {MAX_TOP}"
                            ))
                        })?;
                }
                _ => {}
            }
        }
        out.desc = dir.unwrap_or_else(|| default_desc(out.sort));
        Ok(out)
    }

    /// The query string (without `?`) of this query with another sort, for header links.
    pub fn with_sort(&self, column: &str, desc: bool) -> String {
        let mut parts = vec![
            format!("sort={}", crate::html::enc(column)),
            format!("dir={}", if desc { "desc" } else { "asc" }),
        ];
        parts.extend(self.filter_parts());
        if self.top != DEFAULT_TOP {
            parts.push(format!("top={}", self.top));
        }
        parts.join("&")
    }

    /// The query string of the filters alone (for pictures and downloads).
    pub fn filter_query(&self) -> String {
        self.filter_parts().join("&")
    }

    fn filter_parts(&self) -> Vec<String> {
        self.where_text
            .iter()
            .map(|w| format!("where={}", crate::html::enc(w)))
            .collect()
    }
}

/// A sweep read for its pages.
pub struct SweepData {
    /// Its header row: counts and progress.
    pub progress: SweepProgress,
    /// Its jobs passing the filters, in grid order.
    pub jobs: Vec<DashJob>,
    /// Jobs before filtering.
    pub all_jobs: usize,
    /// The finished ones as report rows (with predictions when `with_ties`).
    pub rows: Vec<ResultRow>,
    /// Whether per-image predictions were read (tie marks and single-run intervals).
    pub with_ties: bool,
}

/// Reads sweep `id` (its id, or a name that names one sweep) with the jobs passing `q`'s
/// filters; `predictions` asks for per-image predictions (tie tests) when the sweep has at most
/// [`TIE_LIMIT`] finished jobs. 404 for an unknown sweep.
pub async fn load(
    store: &Store,
    id: &str,
    q: &SweepQuery,
    predictions: bool,
) -> Result<SweepData, PageError> {
    let mut found = store.sweep_progress(Some(id)).await?;
    if found.is_empty() {
        // A grid name that names exactly one sweep is as good as its id.
        let named: Vec<SweepProgress> = store
            .sweep_progress(None)
            .await?
            .into_iter()
            .filter(|s| s.name == id)
            .collect();
        found = named;
    }
    let progress = match found.len() {
        1 => found.remove(0),
        0 => return Err(PageError::NotFound(format!("no sweep has the id `{id}`"))),
        n => {
            return Err(PageError::NotFound(format!(
                "{n} sweeps are named `{id}`: open one by its id from the sweeps page"
            )));
        }
    };
    let mut jobs = store.sweep_jobs(&progress.id).await?;
    let all_jobs = jobs.len();
    if !q.filters.is_empty() {
        jobs.retain(|j| Filter::all(&q.filters, &j.spec));
    }
    let mut rows: Vec<ResultRow> = jobs
        .iter()
        .filter_map(|j| {
            let r = j.result?;
            Some(ResultRow {
                key: j.key.clone(),
                spec: j.spec.clone(),
                params: j.params as usize,
                loss: r.test_loss,
                accuracy: r.test_accuracy,
                val_accuracy: j.val_accuracy,
                val_predictions: None,
                test_predictions: None,
                runtime_s: r.runtime_s,
                sweep: Some(progress.id.clone()),
            })
        })
        .collect();
    let with_ties = predictions && rows.len() <= TIE_LIMIT && rows.len() > 1;
    if with_ties {
        let mut p = store.sweep_predictions(&progress.id).await?;
        for r in &mut rows {
            if let Some(p) = p.remove(&r.key) {
                r.val_predictions = p.val;
                r.test_predictions = p.test;
            }
        }
    }
    Ok(SweepData {
        progress,
        jobs,
        all_jobs,
        rows,
        with_ties,
    })
}

/// The ranking of `rows` as `tune report` makes it (no grouping, every row kept).
pub fn ranking(rows: &[ResultRow]) -> Result<Report, PageError> {
    Ok(Report::build(rows, &ReportOptions::default())?)
}

/// The report's rows (one group) sorted by `q`'s column and direction; equal values keep the
/// ranking's order.
pub fn sorted_rows(report: &Report, q: &SweepQuery) -> Vec<ReportRow> {
    let mut rows: Vec<ReportRow> = report
        .groups
        .iter()
        .flat_map(|g| g.rows.iter().cloned())
        .collect();
    if q.sort == SortKey::Accuracy && q.desc {
        return rows; // the ranking's own order
    }
    enum V {
        Num(f64),
        Val(FieldValue),
    }
    let value = |r: &ReportRow| match q.sort {
        SortKey::Accuracy => V::Num(r.val_accuracy),
        SortKey::TestAccuracy => V::Num(r.accuracy),
        SortKey::Loss => V::Num(r.loss),
        SortKey::Runtime => V::Num(r.runtime_s),
        SortKey::Params => V::Num(r.params as f64),
        SortKey::Field(f) => V::Val(f.value(&r.spec)),
    };
    let values: Vec<V> = rows.iter().map(value).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&i, &j| {
        let o = match (&values[i], &values[j]) {
            (V::Num(a), V::Num(b)) => a.total_cmp(b),
            (V::Val(a), V::Val(b)) => a.cmp(b),
            _ => Ordering::Equal,
        };
        (if q.desc { o.reverse() } else { o }).then(rows[i].rank.cmp(&rows[j].rank))
    });
    let mut slots: Vec<Option<ReportRow>> = rows.drain(..).map(Some).collect();
    order
        .into_iter()
        .map(|i| slots[i].take().expect("each row once"))
        .collect()
}

/// The settings that take more than one value among `rows`, architecture first (for the
/// parallel-coordinates picture).
pub fn varying_fields(rows: &[ResultRow]) -> Vec<Field> {
    let depth = rows
        .iter()
        .map(|r| r.spec.model.filters.len())
        .max()
        .unwrap_or(0);
    let mut candidates = vec![Field::Model, Field::Layers];
    candidates.extend((1..=depth).map(Field::Layer));
    candidates.extend([Field::Kernel, Field::Dense]);
    candidates.extend(Field::training().into_iter().filter(|f| *f != Field::Seed));
    candidates
        .into_iter()
        .filter(|f| {
            let mut seen: HashMap<String, ()> = HashMap::new();
            for r in rows {
                seen.insert(f.value(&r.spec).to_string(), ());
                if seen.len() > 1 {
                    return true;
                }
            }
            false
        })
        .collect()
}
