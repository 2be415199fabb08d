//! `tune report` on a halving sweep (the final ranking among the jobs that reached the last rung,
//! then the pruned jobs with the rung they stopped at) and `tune report --replay-halving` (what
//! successive halving would have chosen on a finished full grid's per-epoch metrics).

use super::results::{Selection, rows_with_predictions};
use crate::halving::ReplayJob;
use anyhow::{Context, bail};
use std::collections::HashMap;
use tune_report::{Align, Cell, Column, Format, Report, ReportOptions, Style, TableData};
use tune_store::{HalvingPlan, JobStatus, RungDecision, Store};

/// A halving sweep's plan and decisions.
pub(super) struct HalvingView {
    plan: HalvingPlan,
    decisions: Vec<RungDecision>,
    /// Every job of the sweep: key -> (label, status, epochs done).
    jobs: HashMap<String, (String, JobStatus, u32)>,
    /// Every job's spec, by key.
    specs: HashMap<String, tune_spec::JobSpec>,
}

impl HalvingView {
    /// Keys of the jobs pruned at some rung.
    pub(super) fn pruned(&self) -> impl Iterator<Item = &String> {
        self.decisions
            .iter()
            .flat_map(|d| d.prune.iter().chain(&d.late_prune))
    }

    /// Keys of the jobs that failed before a rung's decision and are still failed: out of the
    /// race at that rung.
    fn out_of_race(&self) -> impl Iterator<Item = (&RungDecision, &String)> {
        self.decisions.iter().flat_map(move |d| {
            d.failed.iter().filter_map(move |k| {
                let failed = matches!(self.jobs.get(k), Some((_, JobStatus::Failed, _)));
                (failed && !d.judged(k)).then_some((d, k))
            })
        })
    }
}

/// The plan and decisions of `sweep` (or, without `--sweep`, of the database's only sweep) when
/// it is a halving sweep; `None` otherwise.
pub(super) async fn view(
    store: &Store,
    sweep: Option<&str>,
) -> anyhow::Result<Option<HalvingView>> {
    let sweeps = store.sweeps().await?;
    let sweep = match sweep {
        Some(s) if sweeps.iter().any(|w| w.id == s) => s.to_string(),
        Some(s) => {
            let named: Vec<&tune_store::SweepRow> = sweeps.iter().filter(|w| w.name == s).collect();
            match named.as_slice() {
                [] | [_] => s.to_string(),
                many => {
                    // Each halving sweep decided its own rungs: one report per sweep.
                    let mut halving = Vec::new();
                    for w in many {
                        if store.halving_plan(&w.id).await?.is_some() {
                            halving.push(format!("{} (started {})", w.id, w.started_at));
                        }
                    }
                    if halving.is_empty() {
                        return Ok(None);
                    }
                    bail!(
                        "--sweep {s} names {} sweeps, halving sweeps among them, and each \
                         decided its rungs on its own: give one sweep's id, --sweep ID, one of {}",
                        many.len(),
                        halving.join(", ")
                    );
                }
            }
        }
        None => match sweeps.as_slice() {
            [only] => only.id.clone(),
            _ => return Ok(None),
        },
    };
    let Some(plan) = store.halving_plan(&sweep).await? else {
        return Ok(None);
    };
    let decisions = store.rung_decisions(&sweep).await?;
    let rows = store.jobs_of_sweep(&sweep).await?;
    let specs = rows
        .iter()
        .map(|j| (j.key.clone(), j.spec.clone()))
        .collect();
    let jobs = rows
        .into_iter()
        .map(|j| (j.key, (j.spec.model.label(), j.status, j.epochs_done)))
        .collect();
    Ok(Some(HalvingView {
        plan,
        decisions,
        jobs,
        specs,
    }))
}

/// The pruned jobs as a table: job, architecture, the rung and epoch it stopped at, its
/// configuration's mean validation accuracy there and its place in that rung's ranking.
fn pruned_table(v: &HalvingView) -> TableData {
    let left = Align::Left;
    let mut table = TableData::with_columns(vec![
        Column::new("job", "key", left),
        Column::named("architecture", left),
        Column::named("status", left),
        Column::named("rung", Align::Right),
        Column::new("stopped at epoch", "epoch", Align::Right),
        Column::new("val acc there", "val_accuracy", Align::Right),
        Column::new("place at the rung", "place", Align::Right),
    ])
    .styled(Style::Borders);
    for d in &v.decisions {
        for key in d.prune.iter().chain(&d.late_prune) {
            let (label, status) = v
                .jobs
                .get(key)
                .map_or((String::new(), "pruned"), |(l, s, _)| {
                    (l.clone(), s.as_str())
                });
            let Some(at) = d.stopped_place(key) else {
                continue;
            };
            let place = at.place.unwrap_or(0);
            table.rows.push(vec![
                Cell::text(key.clone()),
                Cell::text(label),
                Cell::text(status),
                Cell::int(d.rung as u64 + 1),
                Cell::int(d.epoch as u64),
                Cell::num(at.val_accuracy, 4),
                Cell::new(at.to_string(), place.to_string(), place.into()),
            ]);
        }
    }
    for (d, key) in v.out_of_race() {
        let label = v.jobs.get(key).map_or(String::new(), |(l, _, _)| l.clone());
        table.rows.push(vec![
            Cell::text(key.clone()),
            Cell::text(label),
            Cell::text("failed: out of the race"),
            Cell::int(d.rung as u64 + 1),
            Cell::int(d.epoch as u64),
            Cell::num(None, 4),
            Cell::new("-".to_string(), String::new(), serde_json::Value::Null),
        ]);
    }
    table
}

/// What every job of the sweep reached, for JSON: key, status, rung (1-based, the last one it
/// trained in) and epoch.
fn jobs_json(v: &HalvingView) -> serde_json::Value {
    let mut stopped: HashMap<&str, &RungDecision> = HashMap::new();
    for d in &v.decisions {
        for key in d.prune.iter().chain(&d.late_prune) {
            stopped.insert(key, d);
        }
    }
    for (d, key) in v.out_of_race() {
        stopped.insert(key, d);
    }
    let mut keys: Vec<&String> = v.jobs.keys().collect();
    keys.sort();
    let rows: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|key| {
            let (_, status, epochs_done) = &v.jobs[key];
            let (rung, epoch) = match stopped.get(key.as_str()) {
                Some(d) => (d.rung + 1, d.epoch),
                None => {
                    // The highest rung whose epoch it reached.
                    let r = v
                        .plan
                        .rungs
                        .iter()
                        .take_while(|&&e| e <= *epochs_done as usize)
                        .count();
                    (r, *epochs_done as usize)
                }
            };
            serde_json::json!({
                "key": key,
                "status": status.as_str(),
                "rung": rung,
                "epoch": epoch,
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// One configuration confirmed with more seeds (`confirm` in `[search]`).
#[derive(Debug, serde::Serialize)]
struct Confirmed {
    /// Its place in the last rung's ranking, from 1.
    place: usize,
    label: String,
    /// Its jobs: the halving run's seeds, then the confirm seeds.
    keys: Vec<String>,
    /// Mean validation accuracy of its halving seeds at the last rung.
    val_accuracy: f64,
    /// Test accuracies of its finished jobs, in `keys` order.
    test_accuracies: Vec<f64>,
    /// Mean and spread of `test_accuracies`.
    summary: Option<tune_report::stats::Summary>,
    /// 95% Student-t interval of the mean (two or more seeds finished).
    interval: Option<tune_report::stats::Interval>,
}

/// The confirmed configurations of the sweep, best of the last rung first, with their finished
/// seeds' test accuracies (from `results`); empty without `confirm`.
fn confirmed(v: &HalvingView, results: &[tune_store::JobResult]) -> Vec<Confirmed> {
    let Some(d) = v.decisions.iter().find(|d| !d.confirm_top.is_empty()) else {
        return Vec::new();
    };
    let config = |key: &str| {
        v.specs.get(key).map(|s| {
            let mut s = s.clone();
            s.train.seed = 0;
            s
        })
    };
    let mut out = Vec::new();
    for (i, c) in d.ranking.iter().enumerate() {
        if !c.keys.iter().any(|k| d.confirm_top.contains(k)) {
            continue;
        }
        let spec = config(&c.keys[0]);
        let mut keys = c.keys.clone();
        keys.extend(
            d.confirm
                .iter()
                .filter(|k| config(k) == spec && spec.is_some())
                .cloned(),
        );
        let test_accuracies: Vec<f64> = keys
            .iter()
            .filter_map(|k| {
                results
                    .iter()
                    .find(|r| &r.key == k)
                    .map(|r| r.test_accuracy)
            })
            .collect();
        out.push(Confirmed {
            place: i + 1,
            label: v
                .jobs
                .get(&c.keys[0])
                .map_or(String::new(), |j| j.0.clone()),
            keys,
            val_accuracy: c.val_accuracy,
            summary: tune_report::stats::Summary::of(&test_accuracies),
            interval: tune_report::stats::t_interval(&test_accuracies, 0.95)
                .map(|i| i.within(0.0, 1.0)),
            test_accuracies,
        });
    }
    out
}

/// The confirmed configurations as a table: place at the last rung, architecture, seeds finished
/// of planned, mean test accuracy, 95% interval, standard deviation.
fn confirmed_table(rows: &[Confirmed]) -> TableData {
    let left = Align::Left;
    let right = Align::Right;
    let mut table = TableData::with_columns(vec![
        Column::new("place at the last rung", "place", right),
        Column::named("architecture", left),
        Column::new("seeds done", "seeds", right),
        Column::new("val acc (halving)", "val_accuracy", right),
        Column::new("mean test acc", "mean", right),
        Column::new("95% interval", "interval", right),
        Column::new("sd", "sd", right),
    ])
    .styled(Style::Borders);
    for c in rows {
        let interval = c.interval.map_or_else(
            || "-".to_string(),
            |i| format!("[{:.4}, {:.4}]", i.low, i.high),
        );
        table.rows.push(vec![
            Cell::int(c.place as u64),
            Cell::text(c.label.clone()),
            Cell::text(format!("{} of {}", c.test_accuracies.len(), c.keys.len())),
            Cell::num(Some(c.val_accuracy), 4),
            Cell::num(c.summary.map(|s| s.mean), 4),
            Cell::text(interval),
            Cell::num(c.summary.and_then(|s| s.sd), 4),
        ]);
    }
    table
}

/// For `--format json`: what a halving sweep's report adds to its object under `"halving"`.
pub(super) fn after_report_json(
    v: &HalvingView,
    results: &[tune_store::JobResult],
    format: Format,
) -> Option<serde_json::Value> {
    (format == Format::Json).then(|| {
        serde_json::json!({
            "eta": v.plan.eta,
            "min_epochs": v.plan.min_epochs,
            "rungs": v.plan.rungs,
            "decisions": v.decisions,
            "jobs": jobs_json(v),
            "confirmed": confirmed(v, results),
        })
    })
}

/// Prints, after a halving sweep's report, the plan line, the pruned jobs and the confirmed
/// configurations (table and Markdown; CSV: a note on stderr; JSON: nothing, see
/// [`after_report_json`]).
pub(super) fn after_report(v: &HalvingView, results: &[tune_store::JobResult], format: Format) {
    let pruned = v.pruned().count();
    let failed = v.out_of_race().count();
    let out = if failed > 0 {
        format!(
            "; {} failed before a rung's decision: out of the race (`tune run GRID \
             --retry-failed` trains {} to the rung and judges {} against its ranking)",
            crate::commands::common::count(failed, "job"),
            if failed == 1 { "it" } else { "them" },
            if failed == 1 { "it" } else { "them" },
        )
    } else {
        String::new()
    };
    let summary = format!(
        "successive halving (eta {}, min_epochs {}, rungs at epochs {}): the table ranks the jobs \
         that reached the last rung; {} pruned at earlier rungs{out}",
        v.plan.eta,
        v.plan.min_epochs,
        v.plan
            .rungs
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        crate::commands::common::count(pruned, "job"),
    );
    match format {
        Format::Json => {}
        Format::Csv => eprintln!("{summary} (`--format json` lists them with their rung)"),
        Format::Table | Format::Markdown => {
            println!();
            println!("{summary}");
            if pruned + failed > 0 {
                if format == Format::Markdown {
                    println!();
                }
                print!("{}", pruned_table(v).render(format, None));
            }
            let confirmed = confirmed(v, results);
            if !confirmed.is_empty() {
                println!();
                println!(
                    "confirm: the last rung's best {} trained again with more seeds, for every \
                     epoch; test accuracy over all their seeds (95% Student-t interval of the \
                     mean):",
                    crate::commands::common::count(confirmed.len(), "configuration"),
                );
                if format == Format::Markdown {
                    println!();
                }
                print!("{}", confirmed_table(&confirmed).render(format, None));
            }
        }
    }
}

/// Adds `extra` as `"halving"` to the report's JSON object `text`, keeping the report's own text
/// (and key order) as rendered.
pub(super) fn add_to_json(text: &str, extra: &serde_json::Value) -> String {
    let trimmed = text.trim_end();
    match trimmed.strip_suffix('}') {
        Some(body) => format!(
            "{},\n  \"halving\": {}\n}}\n",
            body.trim_end(),
            serde_json::to_string(extra).expect("JSON values always serialise")
        ),
        None => text.to_string(),
    }
}

/// `--replay-halving eta=E,min_epochs=M`: the two settings.
pub(super) fn parse_replay(text: &str) -> anyhow::Result<(usize, usize)> {
    let mut eta = tune_grid::DEFAULT_ETA;
    let mut min_epochs = tune_grid::DEFAULT_MIN_EPOCHS;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').with_context(|| {
            format!("--replay-halving: `{part}` is not KEY=VALUE; write eta=3,min_epochs=2")
        })?;
        let n: usize = v.trim().parse().with_context(|| {
            format!("--replay-halving: {k} must be a whole number, found `{v}`")
        })?;
        match k.trim() {
            "eta" if n >= 2 => eta = n,
            "eta" => bail!("--replay-halving: eta must be at least 2, found {n}"),
            "min_epochs" if n >= 1 => min_epochs = n,
            "min_epochs" => bail!("--replay-halving: min_epochs must be at least 1, found {n}"),
            other => bail!("--replay-halving: unknown setting `{other}`; write eta=3,min_epochs=2"),
        }
    }
    Ok((eta, min_epochs))
}

/// `tune report --replay-halving`: replays successive halving on the selection's finished jobs
/// and prints which configuration it would have chosen, whether the full grid's report counts it
/// tied with the best, and the share of epochs it would have trained.
pub(super) async fn replay(
    sel: &Selection,
    sweep: Option<&str>,
    eta: usize,
    min_epochs: usize,
    alpha: f64,
    format: Format,
) -> anyhow::Result<()> {
    let mut jobs = Vec::with_capacity(sel.results.len());
    for r in &sel.results {
        jobs.push(ReplayJob {
            key: r.key.clone(),
            spec: r.spec.clone(),
            params: r.params,
            val_by_epoch: r.history.iter().map(|m| m.val_accuracy).collect(),
        });
    }
    let replayed = crate::halving::replay(&jobs, eta, min_epochs)?;
    let rows = rows_with_predictions(&sel.store, &sel.results, sweep).await?;
    let report = Report::build(
        &rows,
        &ReportOptions {
            alpha,
            ..ReportOptions::default()
        },
    )?;
    let all_rows: Vec<_> = report.groups.iter().flat_map(|g| g.rows.iter()).collect();
    let chosen = all_rows
        .iter()
        .find(|r| r.keys == replayed.chosen.keys)
        .context("the chosen configuration is not in the report")?;
    let best = all_rows
        .iter()
        .min_by(tune_report::rank::compare_rows)
        .context("no finished configuration")?;
    let verdict = if chosen.keys == best.keys {
        "best"
    } else {
        match chosen.tied {
            Some(true) => "tied",
            Some(false) => "not tied",
            None => "untested",
        }
    };
    let json = serde_json::json!({
        "eta": eta,
        "min_epochs": min_epochs,
        "rungs": replayed.rungs.iter().map(|(e, n)| serde_json::json!({"epoch": e, "configurations": n})).collect::<Vec<_>>(),
        "chosen": {"label": chosen.label, "keys": chosen.keys, "val_accuracy": chosen.val_accuracy, "test_accuracy": chosen.test_accuracy},
        "best": {"label": best.label, "keys": best.keys, "val_accuracy": best.val_accuracy, "test_accuracy": best.test_accuracy},
        "tied_with_best": verdict,
        "epochs_used": replayed.epochs_used,
        "epochs_full": replayed.epochs_full,
        "share": replayed.share(),
    });
    if format == Format::Json {
        println!("{}", tune_report::table::to_json(&json));
        return Ok(());
    }
    let rungs: Vec<String> = replayed
        .rungs
        .iter()
        .map(|(e, n)| format!("epoch {e}: {n}"))
        .collect();
    println!(
        "replaying successive halving (eta {eta}, min_epochs {min_epochs}) on {} of the \
         selection; configurations per rung: {}",
        crate::commands::common::count(replayed.rungs.first().map_or(0, |r| r.1), "configuration"),
        rungs.join(", ")
    );
    println!(
        "halving would have chosen: {} (val acc {:.4}, test acc {:.4})",
        chosen.label, chosen.val_accuracy, chosen.test_accuracy
    );
    println!(
        "the full grid's best: {} (val acc {:.4}, test acc {:.4}); halving's choice {}",
        best.label,
        best.val_accuracy,
        best.test_accuracy,
        match verdict {
            "best" => "is the same configuration".to_string(),
            "tied" => format!("is tied with it (not significantly worse, alpha {alpha})"),
            "not tied" => format!("is significantly worse than it (alpha {alpha})"),
            _ => "was not tested against it (no predictions recorded)".to_string(),
        }
    );
    println!(
        "training epochs: {} of the full grid's {} ({:.1}%)",
        crate::commands::common::thousands(replayed.epochs_used as u64),
        crate::commands::common::thousands(replayed.epochs_full as u64),
        replayed.share() * 100.0
    );
    Ok(())
}
