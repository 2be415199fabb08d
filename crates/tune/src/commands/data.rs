//! `tune data list` and `tune data fetch`.

use crate::cli::{DataCommand, TableFormat};
use crate::commands::common;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use tune_data::{FetchEvent, FetchOptions};
use tune_report::{Align, Cell, Column, Style, TableData};

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::List {
            grid: Some(grid),
            format,
            ..
        } => list_grid(&grid, format),
        DataCommand::List {
            data_dir, format, ..
        } => list(data_dir.as_deref(), format),
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

/// One row per data set a grid file defines (`[datasets.NAME]`), decoded (or read from tune's
/// cache of decoded data sets): name, format, image size (`HxW`), channels, classes, images and
/// images per class (`name count`, label order) of each split, content hash, training files and
/// test files (or `test_split = F of the training files`); the readers' notes after the table,
/// each once. Keys for CSV and JSON: `dataset`, `format`, `size`, `channels`, `classes`,
/// `train_images`, `test_images`, `train_per_class`, `test_per_class`, `sha256`, `train`, `test`.
fn list_grid(grid: &std::path::Path, format: TableFormat) -> anyhow::Result<ExitCode> {
    let datasets = tune_grid::load_datasets(grid)?;
    let left = Align::Left;
    let mut table = TableData::with_columns(vec![
        Column::new("data set", "dataset", left),
        Column::named("format", left),
        Column::new("size (HxW)", "size", left),
        Column::named("channels", left),
        Column::named("classes", left),
        Column::new("train", "train_images", left),
        Column::new("test", "test_images", left),
        Column::new("train per class", "train_per_class", left),
        Column::new("test per class", "test_per_class", left),
        Column::new("SHA-256", "sha256", left),
        Column::new("training files", "train", left),
        Column::new("test files", "test", left),
    ])
    .styled(Style::Borders);
    let mut notes = Vec::new();
    for d in &datasets {
        let decoded = common::decode_grid_dataset(d)?;
        let (train, test) = decoded.class_counts();
        let per_class = |counts: &[usize]| {
            let each: Vec<String> = decoded
                .classes
                .iter()
                .zip(counts)
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            Cell::text(each.join(", "))
        };
        let paths = |paths: &[std::path::PathBuf]| {
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            shown.join(", ")
        };
        let test_files = match &d.spec.test {
            tune_spec::TestSet::Paths(p) => paths(p),
            tune_spec::TestSet::Split(f) => format!("test_split = {f} of the training files"),
        };
        table.rows.push(vec![
            Cell::text(d.name.clone()),
            Cell::text(decoded.format.to_string()),
            Cell::text(format!("{}x{}", decoded.height, decoded.width)),
            Cell::int(decoded.channels as u64),
            Cell::int(decoded.class_count() as u64),
            Cell::int(decoded.train.len as u64),
            Cell::int(decoded.test.len as u64),
            per_class(&train),
            per_class(&test),
            Cell::text(decoded.sha256.clone()),
            Cell::text(paths(&d.spec.train)),
            Cell::text(test_files),
        ]);
        notes.extend(decoded.notes.iter().map(|n| format!("{}: {n}", d.name)));
    }
    if datasets.is_empty() {
        notes.push(format!(
            "{} defines no data sets of its own ([datasets.NAME] tables)",
            grid.display()
        ));
    }
    common::print_listing(format.into(), &table, None, &[], &notes);
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
