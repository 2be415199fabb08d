//! Fixture databases made through the store's own API, a dashboard server on a free loopback
//! port, and a minimal HTTP client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tune_spec::{EpochMetrics, JobSpec, ModelSpec, Predictions, TrainOutcome, TrainSpec};
use tune_store::{Claim, NewSweep, Store};

/// Fashion-MNIST's class names, as the binary gives them (the one list, in tune-spec).
pub const CLASSES: [&str; 10] = tune_spec::FASHION_MNIST.classes;

/// The grid name every escaping check looks for.
pub const EVIL: &str = "<script>alert(1)</script>";

/// A small CNN (or ANN when `filters` is empty) job.
pub fn job(filters: &[usize], dropout: f64, lr: f64, l2: f64, seed: u64, epochs: usize) -> JobSpec {
    let mut model = if filters.is_empty() {
        ModelSpec::ann()
    } else {
        ModelSpec::cnn(filters, 32)
    };
    model.dropout = dropout;
    if !filters.is_empty() {
        model.l2 = l2;
    }
    JobSpec {
        model,
        train: TrainSpec {
            epochs,
            seed,
            lr,
            dataset: "fashion-mnist".into(),
            ..TrainSpec::default()
        },
    }
}

/// Epoch `e` of a job whose final validation accuracy is `acc`.
pub fn epoch(e: usize, epochs: usize, acc: f64) -> EpochMetrics {
    let t = e as f64 / epochs as f64;
    EpochMetrics {
        epoch: e,
        train_loss: 1.2 - 0.8 * t,
        train_accuracy: acc - 0.15 + 0.17 * t,
        val_loss: 1.3 - 0.7 * t,
        val_accuracy: acc - 0.2 + 0.2 * t,
        seconds: 3.5,
    }
}

/// A finished run of `spec` with test accuracy `acc` on `images` test images: its confusion
/// matrix and per-image predictions agree with `acc`.
pub fn outcome(spec: &JobSpec, acc: f64, images: usize) -> TrainOutcome {
    let labels: Vec<u8> = (0..images).map(|i| (i % 10) as u8).collect();
    let wrong = ((1.0 - acc) * images as f64).round() as usize;
    let predicted: Vec<u8> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if i < wrong { (l + 1) % 10 } else { l })
        .collect();
    let mut confusion = vec![vec![0u64; 10]; 10];
    for (p, l) in predicted.iter().zip(&labels) {
        confusion[*l as usize][*p as usize] += 1;
    }
    TrainOutcome {
        params: spec.model.params(&tune_spec::InputShape::BUILT_IN).unwrap(),
        test_loss: 1.0 - acc,
        test_accuracy: acc,
        runtime_s: 42.0,
        images_per_s: 3000.0,
        history: (1..=spec.train.epochs)
            .map(|e| epoch(e, spec.train.epochs, acc))
            .collect(),
        confusion,
        val_predictions: Predictions {
            predicted: predicted.clone(),
            labels: labels.clone(),
        },
        test_predictions: Predictions { predicted, labels },
    }
}

/// What [`fixture`] made.
pub struct Fixture {
    /// The sweep's id.
    pub sweep: String,
    /// Keys of the done jobs, best first.
    pub done: Vec<String>,
    /// The failed job.
    pub failed: String,
    /// The job left running, with one epoch recorded.
    pub running: Claim,
    /// The pending job.
    pub pending: String,
    /// The writer, still open (the running job's claim is its).
    pub writer: Store,
}

/// The failed job's error: markup that must show as text.
pub const FAILED_ERROR: &str = "diverged: loss is NaN at <b>epoch 2</b>; lower lr";

/// A database at `path` with one sweep named [`EVIL`]: six done jobs (one and two conv layers
/// and an ANN, with different dropouts), one failed, one running (one of its 3 epochs recorded)
/// and one pending.
pub async fn fixture(path: &Path) -> Fixture {
    let writer = Store::open(path.to_str().unwrap()).await.unwrap();
    let done_specs = [
        (job(&[16], 0.25, 1e-3, 1e-3, 1, 3), 0.86),
        (job(&[16], 0.5, 1e-3, 1e-3, 1, 3), 0.84),
        (job(&[16, 32], 0.25, 1e-3, 1e-3, 1, 3), 0.90),
        (job(&[16, 32], 0.5, 1e-3, 1e-3, 1, 3), 0.88),
        (job(&[], 0.25, 1e-3, 0.0, 1, 3), 0.83),
        (job(&[], 0.5, 1e-3, 0.0, 1, 3), 0.82),
    ];
    let failed = job(&[16, 32], 0.5, 1.0, 1e-3, 1, 3);
    let running = job(&[16, 32], 0.0, 1e-3, 1e-3, 1, 3);
    let pending = job(&[16], 0.0, 1e-3, 1e-3, 1, 3);
    let mut specs: Vec<JobSpec> = done_specs.iter().map(|(s, _)| s.clone()).collect();
    specs.extend([failed.clone(), running.clone()]);
    let sweep = NewSweep {
        data_versions: String::new(),
        name: EVIL.to_string(),
        grid_text: "# a grid whose name is markup\n".to_string(),
        host: "testhost".to_string(),
        tune_version: "0.1.0".to_string(),
    };
    // The queue takes the costliest jobs first: every job but the pending one is claimed before
    // that one joins the sweep (last, as a grid run again with one more job adds it).
    writer.enqueue(&sweep, &specs).await.unwrap();
    let lease = Duration::from_secs(3600);
    for _ in 0..specs.len() {
        let claim = writer.claim("w:1", lease, None).await.unwrap().unwrap();
        if let Some((spec, acc)) = done_specs.iter().find(|(s, _)| s.key() == claim.key) {
            writer
                .complete(&claim, &outcome(spec, *acc, 200))
                .await
                .unwrap();
        } else if claim.key == failed.key() {
            writer
                .record_epoch(&claim, &epoch(1, 3, 0.3), None)
                .await
                .unwrap();
            writer.fail(&claim, FAILED_ERROR).await.unwrap();
        } else if claim.key == running.key() {
            writer
                .record_epoch(&claim, &epoch(1, 3, 0.8), None)
                .await
                .unwrap();
        }
    }
    specs.push(pending.clone());
    let report = writer.enqueue(&sweep, &specs).await.unwrap();
    let mut done: Vec<(String, f64)> = done_specs.iter().map(|(s, a)| (s.key(), *a)).collect();
    done.sort_by(|a, b| b.1.total_cmp(&a.1));
    let running_claim = Claim {
        key: running.key(),
        spec: running.clone(),
        attempt: 1,
        worker_id: "w:1".into(),
        lease,
        stop_at: None,
    };
    Fixture {
        sweep: report.sweep_id,
        done: done.into_iter().map(|(k, _)| k).collect(),
        failed: failed.key(),
        running: running_claim,
        pending: pending.key(),
        writer,
    }
}

/// A dashboard of the database at `path` (opened read-only) with `router` wrapped by `wrap`,
/// served on a free loopback port from a thread of its own; returns the address.
pub fn start(
    path: &Path,
    wrap: impl FnOnce(axum::Router) -> axum::Router + Send + 'static,
) -> SocketAddr {
    start_with(path, |d| d, wrap)
}

/// [`start`] with the dashboard set up by `setup` first (e.g. a weights directory).
pub fn start_with(
    path: &Path,
    setup: impl FnOnce(tune_serve::Dashboard) -> tune_serve::Dashboard + Send + 'static,
    wrap: impl FnOnce(axum::Router) -> axum::Router + Send + 'static,
) -> SocketAddr {
    let target = path.to_str().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Store::open_read_only(&target).await.unwrap();
            let classes: tune_serve::ClassNames = Arc::new(|_: &tune_spec::TrainSpec| {
                CLASSES.iter().map(|c| c.to_string()).collect()
            });
            let app = wrap(tune_serve::router(setup(tune_serve::Dashboard::new(
                store, classes,
            ))));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

/// A response: status, headers (names lowercase) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response as bytes: status, headers (names lowercase) and body (de-chunked, not decoded).
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with the extra `headers` over HTTP/1.1 and reads the whole reply.
pub fn request_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> RawReply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    RawReply {
        status,
        headers,
        body,
    }
}

/// Sends `method path` over HTTP/1.1 (no `Accept-Encoding`) and reads the whole reply as text.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let r = request_raw(addr, method, path, &[]);
    Reply {
        status: r.status,
        headers: r.headers,
        body: String::from_utf8(r.body).expect("UTF-8 body"),
    }
}

/// `GET path` as a browser asks for it (`Accept-Encoding: gzip, deflate, br`), undecoded.
pub fn get_gzip(addr: SocketAddr, path: &str) -> RawReply {
    request_raw(
        addr,
        "GET",
        path,
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + n]);
        b = &b[end + 2 + n + 2..];
    }
}

/// `s` percent-encoded as one path segment.
pub fn enc(s: &str) -> String {
    tune_serve::html::enc(s)
}
