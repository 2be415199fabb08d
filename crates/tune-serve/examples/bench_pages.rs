//! Measures the dashboard's page times on a large database: one sweep of 9,984 finished jobs
//! (39 architectures x 4 dropouts x 8 learning rates x 8 L2 factors, 10 epochs each) and 99
//! small sweeps, 100 sweeps in all, made through the store's API.
//!
//! `cargo run --release -p tune-serve --example bench_pages [-- DB]` builds the database at DB
//! (default: a temporary file; an existing DB is reused, migrated to this tune's schema first),
//! serves it on a loopback port and prints the time of the first load of the big sweep's page
//! (which reads and ranks it), wall-clock and the CPU time the process spent on it, then the time
//! and size of the first and the median of five later loads of each page. It allocates with
//! mimalloc, as the `tune` binary does (`crates/tune/src/main.rs`), so that it measures what
//! `tune serve` does.

#[path = "../tests/util/mod.rs"]
mod util;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tune_store::{NewSweep, Store};

async fn build(path: &std::path::Path) {
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    let mut archs: Vec<Vec<usize>> = Vec::new();
    for a in [16, 32, 64] {
        archs.push(vec![a]);
        for b in [16, 32, 64] {
            archs.push(vec![a, b]);
            for c in [16, 32, 64] {
                archs.push(vec![a, b, c]);
            }
        }
    }
    let mut big = Vec::new();
    for f in &archs {
        for dropout in [0.0, 0.25, 0.4, 0.5] {
            for lr in [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2] {
                for l2 in [0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2] {
                    big.push(util::job(f, dropout, lr, l2, 1, 10));
                }
            }
        }
    }
    let sweep = |name: &str, text: String| NewSweep {
        data_versions: String::new(),
        name: name.to_string(),
        grid_text: text,
        host: "benchhost".into(),
        tune_version: "0.1.0".into(),
    };
    store
        .enqueue(&sweep("big", "# 9984 jobs".into()), &big)
        .await
        .unwrap();
    for s in 0..99u64 {
        let jobs: Vec<_> = (0..20u64)
            .map(|i| util::job(&[8], 0.5, 1e-3, 1e-3, 1000 + s * 100 + i, 10))
            .collect();
        store
            .enqueue(&sweep(&format!("small{s}"), format!("# {s}")), &jobs)
            .await
            .unwrap();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while let Some(claim) = store
        .claim("bench:1", Duration::from_secs(3600), None)
        .await
        .unwrap()
    {
        // A deterministic accuracy from the key, between 0.80 and 0.92.
        let h = claim
            .key
            .bytes()
            .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
        let acc = 0.80 + (h % 1200) as f64 / 10_000.0;
        store
            .complete(&claim, &util::outcome(&claim.spec, acc, 1000))
            .await
            .unwrap();
        n += 1;
        if n.is_multiple_of(2000) {
            eprintln!("{n} jobs finished in {:.0?}", start.elapsed());
        }
    }
    store.close().await;
}

/// CPU time of every thread of this process so far, in ns (Linux: `/proc/self/task/*/schedstat`;
/// 0 elsewhere).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn time(addr: std::net::SocketAddr, path: &str) -> (Duration, Duration, usize, u16) {
    let t = Instant::now();
    let first = util::get(addr, path);
    let first_t = t.elapsed();
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let r = util::get(addr, path);
            assert_eq!(r.status, first.status);
            t.elapsed()
        })
        .collect();
    times.sort();
    (first_t, times[2], first.body.len(), first.status)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("bench.db"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    if !path.exists() {
        let t = Instant::now();
        rt.block_on(build(&path));
        eprintln!("built {} in {:.1?}", path.display(), t.elapsed());
    }
    // The dashboard opens the database read-only and never migrates it: a database made by an
    // earlier tune is migrated first, as `tune migrate` would.
    let t = Instant::now();
    rt.block_on(async {
        Store::open(path.to_str().unwrap())
            .await
            .unwrap()
            .close()
            .await
    });
    eprintln!("opened (and migrated) in {:.1?}", t.elapsed());
    drop(rt);
    let addr = util::start(&path, |r| r);
    // The first load of the sweep reads and ranks it (tie tests included) and keeps the ranking
    // until the database changes; later loads and the pictures reuse it.
    let (t, cpu) = (Instant::now(), cpu_ns());
    let big = util::get(addr, "/sweeps/big");
    let (cold, cold_cpu) = (t.elapsed(), cpu_ns() - cpu);
    assert_eq!(big.status, 200);
    assert!(big.body.contains("tied"), "the ranking has tie marks");
    println!(
        "first load of `/sweeps/big` after start (reads and ranks 9,984 jobs, tie tests \
         included): {:.0} ms, {:.0} ms of CPU (server and client threads)",
        cold.as_secs_f64() * 1000.0,
        cold_cpu as f64 / 1e6
    );
    println!();
    println!("| page | first load | median of 5 | size | size, gzip |");
    println!("|---|---|---|---|---|");
    for p in [
        "/",
        "/sweeps/big",
        "/sweeps/big?sort=lr&dir=asc",
        "/sweeps/big?where=dropout%3D0.25",
        "/sweeps/big/parallel.svg",
        "/sweeps/big/depth.svg",
        "/sweeps/big/report.csv",
        "/compare",
        "/mark",
    ] {
        let (first, median, size, status) = time(addr, p);
        assert_eq!(status, 200, "{p}");
        let zipped = util::get_gzip(addr, p).body.len();
        println!(
            "| `{p}` | {:.0} ms | {:.0} ms | {:.0} kB | {:.0} kB |",
            first.as_secs_f64() * 1000.0,
            median.as_secs_f64() * 1000.0,
            size as f64 / 1000.0,
            zipped as f64 / 1000.0
        );
    }
    // What a browser downloads for the big sweep's page: the page, its two pictures, the
    // stylesheet and the script, compressed as it asks.
    let weight: usize = [
        "/sweeps/big",
        "/sweeps/big/depth.svg?",
        "/sweeps/big/parallel.svg?",
        "/assets/dash.css",
        "/assets/dash.js",
    ]
    .iter()
    .map(|p| util::get_gzip(addr, p).body.len())
    .sum();
    println!();
    println!(
        "weight of `/sweeps/big` with its pictures, stylesheet and script, gzip as browsers ask: \
         {:.0} kB",
        weight as f64 / 1000.0
    );
}
