//! Downloads from a tiny HTTP/1.1 server on the loopback interface, serving fixtures made here.

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tempfile::TempDir;
use tune_data::idx::{Images, encode_images, encode_labels};
use tune_data::{DataError, DatasetInfo, FetchEvent, FetchOptions, FileInfo, fetch_info};

// ---- fixtures ----

/// A tiny data set: 5 training and 3 test images of 28x28.
struct Fixture {
    info: DatasetInfo,
    /// Decompressed bytes of each file, in registry order.
    raw: Vec<Vec<u8>>,
}

impl Fixture {
    fn new() -> Self {
        let images = |count: usize, salt: usize| {
            encode_images(&Images {
                count,
                rows: 28,
                cols: 28,
                pixels: (0..count * 784)
                    .map(|i| ((i * 7 + salt) % 256) as u8)
                    .collect(),
            })
        };
        let raw = vec![
            images(5, 0),
            encode_labels(&[5, 0, 4, 1, 9]),
            images(3, 1),
            encode_labels(&[7, 2, 1]),
        ];
        let names = [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ];
        let files: Vec<FileInfo> = names
            .iter()
            .zip(&raw)
            .map(|(name, bytes)| FileInfo::new(name, &sha256(bytes), bytes.len() as u64))
            .collect();
        let info = DatasetInfo {
            name: "tiny".into(),
            files: files.try_into().unwrap(),
            classes: (0..10).map(|i| i.to_string()).collect(),
            mirrors: vec![],
            system_package: None,
        };
        Fixture { info, raw }
    }

    /// Routes serving each file gzip-compressed under `/prefix/NAME.gz`.
    fn routes(&self, prefix: &str) -> HashMap<String, Reply> {
        self.info
            .files
            .iter()
            .zip(&self.raw)
            .map(|(f, raw)| (format!("/{prefix}/{}", f.gz_name()), Reply::Ok(gzip(raw))))
            .collect()
    }

    fn options(&self, dest: &Path, base: String) -> FetchOptions {
        FetchOptions {
            dest_root: dest.to_path_buf(),
            mirror: Some(base),
            force: false,
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Names of the entries of `dir`, sorted.
/// The names in `dir`, sorted; none when `dir` does not exist.
fn entries(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        assert!(!dir.exists(), "cannot read {}", dir.display());
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Events of a fetch, as strings like "Started train-images-idx3-ubyte 123".
fn recorder() -> (Arc<Mutex<Vec<String>>>, impl FnMut(FetchEvent<'_>)) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let record = move |e: FetchEvent<'_>| {
        let line = match e {
            FetchEvent::Started { file, total, .. } => format!("Started {file} {total:?}"),
            FetchEvent::Progress { .. } => return,
            FetchEvent::Finished { file } => format!("Finished {file}"),
            FetchEvent::Skipped { file } => format!("Skipped {file}"),
            FetchEvent::MirrorFailed { file, url, .. } => format!("MirrorFailed {file} {url}"),
        };
        sink.lock().unwrap().push(line);
    };
    (log, record)
}

// ---- the server ----

/// What the server answers for a path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole body.
    Ok(Vec<u8>),
    /// 200 announcing `claimed` bytes, then only `body` and the connection closes.
    Cut { body: Vec<u8>, claimed: usize },
}

/// A one-connection-at-a-time HTTP/1.1 server on 127.0.0.1; stops when dropped.
struct Server {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(routes: HashMap<String, Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(Mutex::new(routes));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, hits, stop) = (routes.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        // A client that misbehaves only fails its own request.
                        let _ = serve(stream, &routes, &hits);
                    }
                }
            })
        };
        Server {
            addr,
            routes,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    fn base(&self, prefix: &str) -> String {
        format!("http://{}/{prefix}/", self.addr)
    }

    fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    routes: &Mutex<HashMap<String, Reply>>,
    hits: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    hits.lock().unwrap().push(path.clone());
    let reply = routes.lock().unwrap().get(&path).cloned();
    let mut out = stream;
    let head = |len: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {len}\r\n\
             Connection: close\r\n\r\n"
        )
    };
    match reply {
        Some(Reply::Ok(body)) => {
            out.write_all(head(body.len()).as_bytes())?;
            out.write_all(&body)?;
        }
        Some(Reply::Cut { body, claimed }) => {
            out.write_all(head(claimed).as_bytes())?;
            out.write_all(&body)?;
        }
        None => out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?,
    }
    out.flush()?;
    out.shutdown(std::net::Shutdown::Both)
}

// ---- the tests ----

#[test]
fn fetch_downloads_verifies_and_then_skips() {
    let fx = Fixture::new();
    let server = Server::start(fx.routes("d"));
    let dest = TempDir::new().unwrap();
    let opts = fx.options(dest.path(), server.base("d"));

    let (log, mut record) = recorder();
    let dir = fetch_info(&fx.info, &opts, &mut record).unwrap();
    assert_eq!(dir, dest.path().join("tiny"));
    let names: Vec<String> = fx.info.files.iter().map(FileInfo::gz_name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(entries(&dir), sorted, "the four files and nothing else");
    tune_data::verify(&dir, &fx.info).unwrap();
    let data = tune_data::load_dir(&dir, &fx.info).unwrap();
    assert_eq!((data.train.len, data.test.len), (5, 3));
    assert_eq!(*data.test.labels, vec![7, 2, 1]);

    let gz_len = |i: usize| gzip(&fx.raw[i]).len() as u64;
    let expected: Vec<String> = fx
        .info
        .files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            [
                format!("Started {} Some({})", f.name, gz_len(i)),
                format!("Finished {}", f.name),
            ]
        })
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
    assert_eq!(server.hits().len(), 4);

    // Second fetch: everything is there and verified, nothing is requested.
    let (log, mut record) = recorder();
    fetch_info(&fx.info, &opts, &mut record).unwrap();
    let skipped: Vec<String> = fx
        .info
        .files
        .iter()
        .map(|f| format!("Skipped {}", f.name))
        .collect();
    assert_eq!(*log.lock().unwrap(), skipped);
    assert_eq!(server.hits().len(), 4);

    // A damaged file is downloaded again; the others are skipped.
    std::fs::write(dir.join(&names[1]), b"damaged").unwrap();
    let (log, mut record) = recorder();
    fetch_info(&fx.info, &opts, &mut record).unwrap();
    assert_eq!(server.hits().len(), 5);
    assert!(
        log.lock()
            .unwrap()
            .contains(&"Finished train-labels-idx1-ubyte".to_string())
    );
    tune_data::verify(&dir, &fx.info).unwrap();

    // `force` downloads everything again.
    let forced = FetchOptions {
        force: true,
        ..opts.clone()
    };
    fetch_info(&fx.info, &forced, &mut |_| {}).unwrap();
    assert_eq!(server.hits().len(), 9);
    assert_eq!(entries(&dir), sorted);
}

#[test]
fn checksum_mismatch_keeps_nothing() {
    let fx = Fixture::new();
    let server = Server::start(fx.routes("d"));
    // The mirror serves other labels than the registry's.
    let wrong = encode_labels(&[5, 0, 4, 1, 8]);
    server.set("/d/train-labels-idx1-ubyte.gz", Reply::Ok(gzip(&wrong)));
    let dest = TempDir::new().unwrap();

    let err = fetch_info(
        &fx.info,
        &fx.options(dest.path(), server.base("d")),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::DownloadMismatch { .. }), "{err:?}");
    let m = err.to_string();
    assert!(
        m.contains(&fx.info.files[1].sha256),
        "expected digest missing: {m}"
    );
    assert!(m.contains(&sha256(&wrong)), "actual digest missing: {m}");
    assert!(
        m.contains(&format!("{}train-labels-idx1-ubyte.gz", server.base("d"))),
        "{m}"
    );
    // The file before it was kept; the bad one left nothing, not even a temporary file.
    let dir = dest.path().join("tiny");
    assert_eq!(entries(&dir), ["train-images-idx3-ubyte.gz"]);
}

#[test]
fn interrupted_download_keeps_nothing() {
    let fx = Fixture::new();
    let server = Server::start(fx.routes("d"));
    let full = gzip(&fx.raw[2]);
    server.set(
        "/d/t10k-images-idx3-ubyte.gz",
        Reply::Cut {
            body: full[..full.len() / 2].to_vec(),
            claimed: full.len(),
        },
    );
    let dest = TempDir::new().unwrap();

    let err = fetch_info(
        &fx.info,
        &fx.options(dest.path(), server.base("d")),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Interrupted { .. }), "{err:?}");
    let m = err.to_string();
    assert!(
        m.contains("t10k-images-idx3-ubyte.gz: download interrupted"),
        "{m}"
    );
    let dir = dest.path().join("tiny");
    assert_eq!(
        entries(&dir),
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    );
}

#[test]
fn truncated_gzip_keeps_nothing() {
    let fx = Fixture::new();
    let server = Server::start(fx.routes("d"));
    // Complete as far as HTTP goes (honest Content-Length), but the gzip stream is cut.
    let full = gzip(&fx.raw[0]);
    let cut = full[..full.len() - 6].to_vec();
    server.set("/d/train-images-idx3-ubyte.gz", Reply::Ok(cut));
    let dest = TempDir::new().unwrap();

    let err = fetch_info(
        &fx.info,
        &fx.options(dest.path(), server.base("d")),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::BadDownload { .. }), "{err:?}");
    assert!(err.to_string().contains("not valid gzip data"), "{err}");
    assert!(entries(&dest.path().join("tiny")).is_empty());
}

#[test]
fn next_mirror_is_tried_after_a_failure() {
    if std::env::var_os("TUNE_MIRROR").is_some() {
        eprintln!("skipped: TUNE_MIRROR overrides the mirror list");
        return;
    }
    let fx = Fixture::new();
    let server = Server::start(fx.routes("good"));
    let mut info = fx.info.clone();
    // A mirror that answers 404 for everything, then one that works.
    info.mirrors = vec![server.base("missing"), server.base("good")];
    let dest = TempDir::new().unwrap();
    let (log, mut record) = recorder();
    let dir = fetch_info(&info, &FetchOptions::new(dest.path()), &mut record).unwrap();
    tune_data::verify(&dir, &info).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 12, "{log:?}");
    assert_eq!(
        log[0],
        format!(
            "MirrorFailed train-images-idx3-ubyte {}train-images-idx3-ubyte.gz",
            server.base("missing")
        )
    );
    assert_eq!(server.hits().len(), 8);
}

#[test]
fn every_mirror_failing_reports_each() {
    if std::env::var_os("TUNE_MIRROR").is_some() {
        eprintln!("skipped: TUNE_MIRROR overrides the mirror list");
        return;
    }
    let fx = Fixture::new();
    let server = Server::start(HashMap::new());
    // A port nobody listens on: bind one, then free it.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let mut info = fx.info.clone();
    info.mirrors = vec![closed.clone(), server.base("missing")];
    let dest = TempDir::new().unwrap();
    let err = fetch_info(&info, &FetchOptions::new(dest.path()), &mut |_| {}).unwrap_err();
    let DataError::AllMirrorsFailed { file, errors, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(file, "train-images-idx3-ubyte");
    assert_eq!(errors.len(), 2);
    let m = err.to_string();
    assert!(
        m.contains(&format!("{closed}train-images-idx3-ubyte.gz")),
        "{m}"
    );
    assert!(m.contains("404"), "{m}");
    // The advice is given once, and names the manual route.
    assert_eq!(m.matches("TUNE_MIRROR").count(), 1, "{m}");
    assert!(m.contains("--data-dir DIR"), "{m}");
    assert!(err.is_unavailable());
    // Nothing was downloaded: the folder the fetch created is gone again.
    assert!(!dest.path().join("tiny").exists());
}

#[test]
fn offline_with_one_mirror_gives_the_advice_once_and_leaves_no_folder() {
    let fx = Fixture::new();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let dest = TempDir::new().unwrap();
    let root = dest.path().join("cache").join("datasets");
    let mut events = Vec::new();
    let err = fetch_info(&fx.info, &fx.options(&root, closed), &mut |e| {
        events.push(format!("{e:?}"))
    })
    .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let m = err.to_string();
    assert_eq!(
        m.matches("check the network").count() + m.matches("Check the network").count(),
        1,
        "{m}"
    );
    assert!(m.contains("--data-dir DIR"), "{m}");
    assert!(
        !events.iter().any(|e| e.contains("MirrorFailed")),
        "{events:?}"
    );
    // Neither the data set's folder nor the cache folders above it were left behind.
    assert!(!dest.path().join("cache").exists());
}
