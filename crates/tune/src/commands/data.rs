//! `tune data list` and `tune data fetch`.

use crate::cli::DataCommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use tune_data::{FetchEvent, FetchOptions};

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::List { data_dir } => list(data_dir.as_deref()),
        DataCommand::Fetch {
            name,
            mirror,
            dest,
            force,
        } => fetch(&name, mirror, dest, force),
    }
}

fn list(data_dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_header(["data set", "found in", "from", "check"]);
    for info in tune_data::known() {
        let status = tune_data::status(&info.name, data_dir)?;
        let (dir, source) = match &status.located {
            Some(l) => (l.dir.display().to_string(), l.source.to_string()),
            None => ("—".to_string(), "—".to_string()),
        };
        let check = match (&status.located, &status.check) {
            (None, _) => format!("missing: run `tune data fetch {}`", info.name),
            (Some(l), Ok(())) => match tune_data::verify(&l.dir, info) {
                Ok(()) => "verified (SHA-256)".to_string(),
                Err(e) => format!("FAILED: {e}"),
            },
            (Some(_), Err(e)) => format!("FAILED: {e}"),
        };
        table.add_row([info.name.clone(), dir, source, check]);
    }
    println!("{table}");
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
