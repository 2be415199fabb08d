//! `tune data list` and `tune data fetch`.

use crate::cli::{DataCommand, TableFormat};
use crate::commands::common;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use tune_data::{FetchEvent, FetchOptions};
use tune_report::{Align, Cell, Column, Style, TableData};

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::List { data_dir, format } => list(data_dir.as_deref(), format),
        DataCommand::Fetch {
            name,
            mirror,
            dest,
            force,
        } => fetch(&name, mirror, dest, force),
    }
}

/// One row per known data set: name, where it was found and by which rule (empty, `null` in
/// JSON, when missing), and the check. Keys for CSV and JSON: `dataset`, `dir`, `source`, `check`.
fn list(data_dir: Option<&std::path::Path>, format: TableFormat) -> anyhow::Result<ExitCode> {
    let left = Align::Left;
    let mut table = TableData::with_columns(vec![
        Column::new("data set", "dataset", left),
        Column::new("found in", "dir", left),
        Column::new("from", "source", left),
        Column::named("check", left),
    ])
    .styled(Style::Borders);
    for info in tune_data::known() {
        let status = tune_data::status(&info.name, data_dir)?;
        let (dir, source) = match &status.located {
            Some(l) => (
                Cell::text(l.dir.display().to_string()),
                Cell::text(l.source.to_string()),
            ),
            None => (Cell::empty(), Cell::empty()),
        };
        let check = match (&status.located, &status.check) {
            (None, _) => format!("missing: run `tune data fetch {}`", info.name),
            (Some(l), Ok(())) => match tune_data::verify(&l.dir, info) {
                Ok(()) => "verified (SHA-256)".to_string(),
                Err(e) => format!("FAILED: {e}"),
            },
            (Some(_), Err(e)) => format!("FAILED: {e}"),
        };
        table.rows.push(vec![
            Cell::text(info.name.clone()),
            dir,
            source,
            Cell::text(check),
        ]);
    }
    common::print_listing(format.into(), &table, None, &[], &[]);
    Ok(ExitCode::SUCCESS)
}

fn fetch(
    name: &str,
    mirror: Option<String>,
    dest: Option<std::path::PathBuf>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let mut opts = match dest {
        Some(d) => FetchOptions::new(d),
        None => FetchOptions::to_cache()?,
    };
    opts.mirror = mirror;
    opts.force = force;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>26} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let dir = tune_data::fetch(name, &opts, &mut |event| match event {
        FetchEvent::Started { file, total, .. } => {
            bar.reset();
            bar.set_prefix(file.to_string());
            bar.set_length(total.unwrap_or(0));
        }
        FetchEvent::Progress { bytes, .. } => bar.set_position(bytes),
        FetchEvent::Finished { file } => bar.println(format!("{file}: downloaded and verified")),
        FetchEvent::Skipped { file } => {
            bar.println(format!("{file}: already present and verified"))
        }
        FetchEvent::MirrorFailed { url, error, .. } => {
            bar.println(format!("{url}: {error}; trying the next mirror"))
        }
    })?;
    bar.finish_and_clear();
    println!("{name} is ready in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
