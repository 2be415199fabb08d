//! Measures how long users' data sets take to load: Fashion-MNIST written out once as Kaggle
//! CSV files and as folders of PNGs (from the IDX files in /usr/share/datasets/fashion-mnist, or
//! the folder given with `--idx DIR`), then decoded, then loaded again from the cache.
//!
//! ```text
//! cargo run --release --example load_times -- csv      # 60,000-row train CSV; run on one core:
//! taskset -c 0 target/release/examples/load_times csv
//! target/release/examples/load_times folder            # 60,000 PNGs, all cores
//! target/release/examples/load_times cache             # decode_cached: write, then hit
//! ```
//! Files go to `/tmp/tune-load-times` (or `--out DIR`) and are reused on later runs.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tune_data::idx::{read_images, read_labels};
use tune_data::{DataSpec, Format, decode, decode_cached};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut what = Vec::new();
    let mut idx = PathBuf::from("/usr/share/datasets/fashion-mnist");
    let mut out = PathBuf::from("/tmp/tune-load-times");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--idx" => idx = args.next().expect("--idx DIR").into(),
            "--out" => out = args.next().expect("--out DIR").into(),
            _ => what.push(a),
        }
    }
    if what.is_empty() {
        what = vec!["csv".into(), "folder".into(), "cache".into()];
    }
    fs::create_dir_all(&out).unwrap();
    let threads = rayon::current_num_threads();
    for w in &what {
        match w.as_str() {
            "csv" => {
                let (train, test) = write_csv(&idx, &out);
                let spec = DataSpec::with_test_split(Format::Csv, &train, 0.2);
                time("csv: 60,000-row train CSV, test_split 0.2", threads, || {
                    decode(&spec).unwrap()
                });
                let spec = DataSpec::new(Format::Csv, &train, &test);
                time("csv: train (60,000) + test (10,000) CSV", threads, || {
                    decode(&spec).unwrap()
                });
            }
            "folder" => {
                let (train, test) = write_folder(&idx, &out);
                let spec = DataSpec::with_test_split(Format::Folder, &train, 0.2);
                time("folder: 60,000 PNGs, test_split 0.2", threads, || {
                    decode(&spec).unwrap()
                });
                let spec = DataSpec::new(Format::Folder, &train, &test);
                time("folder: 60,000 + 10,000 PNGs", threads, || {
                    decode(&spec).unwrap()
                });
            }
            "cache" => {
                let (train, test) = write_folder(&idx, &out);
                let spec = DataSpec::new(Format::Folder, &train, &test);
                let cache = out.join("cache");
                let _ = fs::remove_dir_all(&cache);
                time("cache: first run (decode + write)", threads, || {
                    decode_cached(&spec, &cache).unwrap()
                });
                let (_, outcome) = time("cache: second run", threads, || {
                    decode_cached(&spec, &cache).unwrap()
                });
                println!("  {outcome:?}");
            }
            other => panic!("unknown measurement `{other}`: csv, folder or cache"),
        }
    }
}

/// Prints the wall-clock time and the CPU time (all threads, user + system) `f` takes: on a
/// machine shared with other work the CPU time is the figure that does not depend on the load.
fn time<T>(what: &str, threads: usize, f: impl FnOnce() -> T) -> T {
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let r = f();
    println!(
        "{what}: {:.2} s wall, {:.2} s CPU ({threads} rayon threads)",
        start.elapsed().as_secs_f64(),
        cpu_seconds() - cpu
    );
    r
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // The kernel's USER_HZ is 100 on every Linux architecture tune runs on.
    (ticks(14) + ticks(15)) / 100.0
}

type Split = (Vec<u8>, Vec<u8>);

fn read(idx: &Path, prefix: &str) -> Split {
    let images = read_images(&idx.join(format!("{prefix}-images-idx3-ubyte.gz"))).unwrap();
    let labels = read_labels(&idx.join(format!("{prefix}-labels-idx1-ubyte.gz"))).unwrap();
    (images.pixels, labels)
}

fn write_csv(idx: &Path, out: &Path) -> (PathBuf, PathBuf) {
    let paths = (out.join("fashion-train.csv"), out.join("fashion-test.csv"));
    for (path, prefix) in [(&paths.0, "train"), (&paths.1, "t10k")] {
        if path.exists() {
            continue;
        }
        let (pixels, labels) = read(idx, prefix);
        let mut s = String::from("label");
        for i in 1..=784 {
            write!(s, ",pixel{i}").unwrap();
        }
        s.push('\n');
        for (i, l) in labels.iter().enumerate() {
            write!(s, "{l}").unwrap();
            for p in &pixels[i * 784..(i + 1) * 784] {
                write!(s, ",{p}").unwrap();
            }
            s.push('\n');
        }
        let tmp = path.with_extension("partial");
        fs::File::create(&tmp)
            .unwrap()
            .write_all(s.as_bytes())
            .unwrap();
        fs::rename(tmp, path).unwrap();
    }
    paths
}

fn write_folder(idx: &Path, out: &Path) -> (PathBuf, PathBuf) {
    let paths = (out.join("png/train"), out.join("png/test"));
    for (root, prefix) in [(&paths.0, "train"), (&paths.1, "t10k")] {
        if root.join(".complete").exists() {
            continue;
        }
        let (pixels, labels) = read(idx, prefix);
        for (i, l) in labels.iter().enumerate() {
            let dir = root.join(format!("class{l}"));
            fs::create_dir_all(&dir).unwrap();
            image::GrayImage::from_raw(28, 28, pixels[i * 784..(i + 1) * 784].to_vec())
                .unwrap()
                .save(dir.join(format!("{i:05}.png")))
                .unwrap();
        }
        // Hidden: ignored (and counted) by the reader.
        fs::write(root.join(".complete"), b"").unwrap();
    }
    paths
}
