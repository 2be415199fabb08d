//! `tune migrate`: bring a database's schema up to date (readers never migrate).

use crate::cli::MigrateArgs;
use crate::commands::common;
use std::process::ExitCode;

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_existing(
            &args.db.db,
            "migrate",
            "migrate upgrades an existing database and never creates one: pass the --db that \
             holds your results",
        )
        .await?;
        println!("{}: schema up to date", store.target());
        store.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
