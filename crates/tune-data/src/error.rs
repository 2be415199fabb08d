//! The crate's one error type. Every message names the file or URL concerned and says how to fix it.

use crate::locate::{Searched, Source};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Errors of reading, finding, verifying and downloading data sets.
#[derive(Debug, Error)]
pub enum DataError {
    /// The data set name is not in the registry.
    #[error("unknown data set `{name}`: the known data sets are {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// No searched directory holds the data set's four files.
    #[error("{}", not_found_message(name, searched, cache_root.as_ref(), system_package.as_deref()))]
    NotFound {
        /// The data set.
        name: String,
        /// Every directory looked at, in order, with what was found there.
        searched: Vec<Searched>,
        /// Where `tune data fetch` would put it, if there is a cache directory.
        cache_root: Option<PathBuf>,
        /// The Debian package that installs the data set, if any.
        system_package: Option<String>,
    },

    /// A data set directory lacks one of its files.
    #[error(
        "{}: missing {file}.gz (or the uncompressed {file}); {}",
        dir.display(),
        refetch_hint(dataset.as_deref())
    )]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file's name without `.gz`.
        file: String,
        /// The data set, when known.
        dataset: Option<String>,
    },

    /// An IDX file is damaged or is not the kind of file expected.
    #[error("{}: {problem}; {}", path.display(), refetch_hint(dataset.as_deref()))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: IdxProblem,
        /// The data set, when known.
        dataset: Option<String>,
    },

    /// The image file and the label file of one split disagree on the number of examples.
    #[error(
        "{} holds {images} images but {} holds {labels} labels: the files belong to different \
         data sets or one of them is damaged; {}",
        images_path.display(),
        labels_path.display(),
        refetch_hint(dataset.as_deref())
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Number of images it holds.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Number of labels it holds.
        labels: usize,
        /// The data set, when known.
        dataset: Option<String>,
    },

    /// The test images do not have the training images' size.
    #[error(
        "{}: images are {rows}x{cols} but the training images are {train_rows}x{train_cols}: \
         the files belong to different data sets; {}",
        path.display(),
        refetch_hint(dataset.as_deref())
    )]
    ShapeMismatch {
        /// The test image file.
        path: PathBuf,
        /// Its image height.
        rows: usize,
        /// Its image width.
        cols: usize,
        /// The training images' height.
        train_rows: usize,
        /// The training images' width.
        train_cols: usize,
        /// The data set, when known.
        dataset: Option<String>,
    },

    /// A file on disk does not have the registry's SHA-256 (of its decompressed content).
    #[error(
        "{}: SHA-256 of the decompressed data is {actual} ({actual_size} bytes), expected {expected} \
         ({expected_size} bytes): the file is damaged or is another version; {}",
        path.display(),
        refetch_hint(dataset.as_deref())
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// SHA-256 from the registry, lowercase hex.
        expected: String,
        /// SHA-256 of the file's decompressed content.
        actual: String,
        /// Decompressed size from the registry.
        expected_size: u64,
        /// Decompressed size of the file.
        actual_size: u64,
        /// The data set, when known.
        dataset: Option<String>,
    },

    /// A file system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read", "create directory".
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// There is nowhere to put downloaded data sets.
    #[error(
        "no cache directory for data sets: none of TUNE_CACHE_DIR, XDG_CACHE_HOME and HOME is set; \
         set TUNE_CACHE_DIR=DIR, or keep the files in a directory of your own and pass --data-dir DIR"
    )]
    NoCacheDir,

    /// A request failed: connection refused, DNS, TLS, an HTTP error status. The advice (check the
    /// network, another mirror, the manual route) is [`DataError::AllMirrorsFailed`]'s, said once.
    #[error("{url}: download failed: {source}")]
    Download {
        /// The URL requested.
        url: String,
        /// The underlying error.
        source: Box<ureq::Error>,
    },

    /// The connection broke before the whole file arrived.
    #[error(
        "{url}: download interrupted after {received} of {} bytes ({source}); nothing was kept, \
         run the command again to retry",
        expected.map_or_else(|| "?".to_string(), |n| n.to_string())
    )]
    Interrupted {
        /// The URL requested.
        url: String,
        /// Bytes received before the error.
        received: u64,
        /// Bytes announced by `Content-Length`, if any.
        expected: Option<u64>,
        /// The underlying error.
        source: io::Error,
    },

    /// A downloaded file is not a gzip file, or its gzip stream is damaged.
    #[error(
        "{url}: the downloaded {file} is not valid gzip data ({source}); nothing was kept: the \
         mirror serves a damaged file, pick another with TUNE_MIRROR=URL"
    )]
    BadDownload {
        /// The URL requested.
        url: String,
        /// The file's name without `.gz`.
        file: String,
        /// The decoder's error.
        source: io::Error,
    },

    /// A downloaded file does not have the registry's SHA-256; it was discarded.
    #[error(
        "{url}: SHA-256 of the decompressed {file} is {actual} ({actual_size} bytes), expected \
         {expected} ({expected_size} bytes); nothing was kept: the mirror serves a different or \
         damaged file, pick another with TUNE_MIRROR=URL"
    )]
    DownloadMismatch {
        /// The URL requested.
        url: String,
        /// The file's name without `.gz`.
        file: String,
        /// SHA-256 from the registry, lowercase hex.
        expected: String,
        /// SHA-256 of the downloaded file's decompressed content.
        actual: String,
        /// Decompressed size from the registry.
        expected_size: u64,
        /// Decompressed size of the download.
        actual_size: u64,
    },

    /// Every mirror failed for one file (also when there was only one to try and the network
    /// failed). The message gives each mirror's error and then the advice once: check the
    /// network, pick another mirror, or copy the files by hand and pass `--data-dir`.
    #[error("{}", all_mirrors_message(file, errors, dataset, files))]
    AllMirrorsFailed {
        /// The file's name without `.gz`.
        file: String,
        /// One error per mirror, in the order tried.
        errors: Vec<DataError>,
        /// The data set being fetched.
        dataset: String,
        /// The data set's file names (`.gz`), for the manual route.
        files: Vec<String>,
    },

    /// An image file holds no images: nothing to train on, or nothing to test on.
    #[error(
        "{}: holds 0 images, a {split} split needs at least one; the file is truncated or was \
         written empty; {}",
        path.display(),
        refetch_hint(dataset.as_deref())
    )]
    Empty {
        /// The image file.
        path: PathBuf,
        /// `training` or `test`.
        split: &'static str,
        /// The data set, when known.
        dataset: Option<String>,
    },

    /// The images of a known data set do not have its image size.
    #[error(
        "{}: images are {rows}x{cols}, but data set `{name}` has {expected_rows}x{expected_cols} \
         images (the networks are built for that size): the files belong to another data set; \
         put the right files there, or delete them and run `tune data fetch {name}`",
        path.display()
    )]
    ImageSize {
        /// The image file.
        path: PathBuf,
        /// The data set.
        name: String,
        /// Its images' height in the file.
        rows: usize,
        /// Its images' width in the file.
        cols: usize,
        /// The data set's image height.
        expected_rows: usize,
        /// The data set's image width.
        expected_cols: usize,
    },

    /// A file or folder of a user's own data set (see [`DataSpec`](crate::DataSpec)) is not as its
    /// format requires. The message names the file or folder, the row or image, and the fix.
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The file or folder concerned (a CSV file, an image, a class folder, a batch file).
        path: PathBuf,
        /// What is wrong with it, and how to fix it.
        problem: DataProblem,
    },
}

/// What is wrong with a user's data set file or folder. Each message says where (line, record,
/// image) and how to fix it; [`DataError::Invalid`] puts the path in front.
#[derive(Debug, Error)]
pub enum DataProblem {
    /// The data set description itself is wrong (paths, `size`, `channels`, `test_split`).
    #[error("{0}")]
    Spec(String),

    /// The CSV file's header has no column named `label`.
    #[error(
        "the header row has no `label` column (it starts `{header}`): the CSV layout is a header \
         row `label,pixel1,pixel2,...` and one image per row; name the class column `label`{looks}"
    )]
    CsvNoLabel {
        /// The first few cells of the header.
        header: String,
        /// What the file looks like instead (`; it looks like an image ...`), or empty.
        looks: String,
    },

    /// A CSV row has another number of cells than the header.
    #[error(
        "line {line} has {found} cells but the header has {expected}: every row holds a label and \
         the same number of pixels; fix or delete the row"
    )]
    CsvRagged {
        /// 1-based line number in the file.
        line: u64,
        /// Cells in the row.
        found: usize,
        /// Cells in the header.
        expected: usize,
    },

    /// A CSV cell is not a whole number.
    #[error(
        "line {line}, column `{column}`: `{value}` is not a whole number; labels are class \
         indices 0, 1, ... and pixels whole numbers 0-255: fix the cell or re-export the file"
    )]
    CsvNotNumber {
        /// 1-based line number.
        line: u64,
        /// The column's name from the header.
        column: String,
        /// The cell (cut to 20 characters).
        value: String,
    },

    /// A CSV pixel is a number outside 0-255.
    #[error(
        "line {line}, column `{column}`: pixel value {value} is outside 0-255; pixels are bytes: \
         export the images unscaled (0-255, not 0-1 or standardised)"
    )]
    CsvPixelRange {
        /// 1-based line number.
        line: u64,
        /// The column's name from the header.
        column: String,
        /// The value.
        value: i64,
    },

    /// The CSV file's pixel columns do not make images of the asked or of a square size.
    #[error("{0}")]
    CsvShape(String),

    /// The CSV file's columns do not say one image layout: two `label` columns, a pixel column
    /// named twice, numbered pixel columns out of order or missing, or pixel columns that differ
    /// from those of the data set's first training file.
    #[error("{0}")]
    CsvColumns(String),

    /// The CSV file cannot be parsed at all (the `csv` crate's message).
    #[error("not a readable CSV file ({0}); save it as comma-separated text")]
    CsvSyntax(String),

    /// A label is not one of the data set's classes.
    #[error(
        "{at}: label {label} is not a class: the data set has {} (0-{}), {}",
        tune_spec::count(*classes, "class"),
        classes.saturating_sub(1),
        origin.explain(*classes)
    )]
    LabelOutOfRange {
        /// Where: `line 12`, `record 5`.
        at: String,
        /// The label.
        label: i64,
        /// Number of classes.
        classes: usize,
        /// Where that number comes from (and so how to fix it).
        origin: ClassSource,
    },

    /// A label outside 0-255, where no class names limit the labels.
    #[error(
        "{at}: label {label} is not a class index: labels are whole numbers 0, 1, ... up to 255 \
         (one per class, at most 256 classes); fix the row, or export the labels as class indices"
    )]
    LabelNotByte {
        /// Where: `line 12`.
        at: String,
        /// The label.
        label: i64,
    },

    /// A file of 0 bytes.
    #[error(
        "is empty (0 bytes): it was not written completely, or it is not the file meant; give a \
         {format} file with data"
    )]
    EmptyFile {
        /// The format's name.
        format: &'static str,
    },

    /// A folder of images has no class sub-folders.
    #[error(
        "holds no class folders: put the images of each class in a sub-folder named after the \
         class (`FOLDER/CLASS/IMAGE.png`){}",
        ignored_note(*ignored)
    )]
    NoClasses {
        /// Files and folders ignored (hidden, not images, not in a class folder).
        ignored: usize,
    },

    /// A class folder holds no image.
    #[error(
        "class folder `{class}` holds no images (PNG, JPEG or BMP){}: add its images or remove \
         the folder",
        ignored_note(*ignored)
    )]
    EmptyClass {
        /// The class (the folder's name).
        class: String,
        /// Files and folders ignored in it.
        ignored: usize,
    },

    /// A colour test image when every training image is grayscale and `channels` is not given:
    /// converting it would silently drop its colour.
    #[error(
        "is a colour image, but the training images ({}) are all grayscale and `channels` is not \
         given: set channels = 3 to train on colour (grayscale images are then repeated in red, \
         green and blue; --channels 3 on the command line), or channels = 1 to convert every \
         image to grayscale",
        train.display()
    )]
    ColourInGrayscale {
        /// The training folder.
        train: PathBuf,
    },

    /// A symbolic link in an image folder whose target does not exist (moved or deleted): most
    /// likely a mistake, so it is refused rather than ignored as a non-image file.
    #[error(
        "is a symbolic link to {}, which does not exist: fix the link, or delete it if that \
         image or class is gone",
        target.display()
    )]
    BrokenLink {
        /// Where the link points.
        target: PathBuf,
    },

    /// An image cannot be decoded.
    #[error(
        "cannot decode the image ({0}): the file is corrupt, truncated or not a PNG, JPEG or BMP \
         image; replace or delete it"
    )]
    BadImage(String),

    /// Images of one data set differ in size and no `size` was given to resize them to. Sizes
    /// are height x width, the order of `size = [HEIGHT, WIDTH]` and `--size HxW`.
    #[error(
        "image is {height}x{width} (height x width) but {} is {first_height}x{first_width}: give \
         `size = [HEIGHT, WIDTH]` to resize every image to one size, or resize them yourself",
        first.display()
    )]
    MixedSizes {
        /// Width of this image.
        width: u32,
        /// Height of this image.
        height: u32,
        /// The first image of the data set.
        first: PathBuf,
        /// Its width.
        first_width: u32,
        /// Its height.
        first_height: u32,
    },

    /// The test folder's classes are not the training folder's.
    #[error(
        "the test classes are not the training classes of {}: {differences}; every class needs \
         a folder, of the same name, in both",
        train.display()
    )]
    ClassSetsDiffer {
        /// The training folder.
        train: PathBuf,
        /// The classes only in one of them, e.g. "only in training: cat; only in test: cow".
        differences: String,
    },

    /// A CIFAR batch file is not a whole number of records.
    #[error(
        "is {len} bytes, not a whole number of 3,073-byte records (1 label byte, then 1,024 red, \
         1,024 green and 1,024 blue bytes): the file is truncated or not a CIFAR-10 binary batch \
         (CIFAR-100's 3,074-byte records are not supported){looks}"
    )]
    CifarLength {
        /// The file's length in bytes.
        len: u64,
        /// What the file looks like instead (`; it looks like a CSV ...`), or empty.
        looks: String,
    },

    /// A split holds no images.
    #[error("the {split} split holds no images: {fix}")]
    EmptySplit {
        /// `training` or `test`.
        split: &'static str,
        /// How to fix it, for this format.
        fix: &'static str,
    },

    /// The test images' shape is not the training images'.
    #[error(
        "the test images are {found} (height x width x channels) but the training images are \
         {train}: the files belong to different data sets{}",
        if *resizable { "; or give `size = [HEIGHT, WIDTH]` to resize both" } else { "" }
    )]
    SplitShape {
        /// The test images' `HxWxC`.
        found: String,
        /// The training images' `HxWxC`.
        train: String,
        /// Whether `size` would resize them (image folders).
        resizable: bool,
    },

    /// A file or folder of the user's cannot be read (missing, no permission, ...).
    #[error(
        "cannot {op} it ({reason}): check the path (relative paths are from the grid file's folder, \
         or the current folder for flags) and its permissions"
    )]
    Unreadable {
        /// What was being done: `read`, `open`, `list`.
        op: &'static str,
        /// The operating system's message.
        reason: String,
    },

    /// Neither a file nor a folder: a named pipe, socket or device, which tune would wait on
    /// forever or read without end.
    #[error(
        "is not a file or a folder (a named pipe, socket or device): tune reads data sets from \
         files; write the data to a file and give its path"
    )]
    NotAFile,

    /// A folder where the format reads files, or a file where it reads a folder.
    #[error("{}", wrong_kind(format, *is_dir))]
    WrongKind {
        /// The format's name (`csv`, `folder`, ...).
        format: &'static str,
        /// Whether the path is a folder.
        is_dir: bool,
    },

    /// A user's IDX file is damaged or of the wrong kind.
    #[error("{0}; export the file again")]
    Idx(IdxProblem),

    /// A user's IDX image and label files disagree on the number of examples.
    #[error(
        "holds {images} images but {} holds {labels} labels: give the label file that belongs \
         to these images",
        labels_path.display()
    )]
    IdxCount {
        /// Images in the image file.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Labels in it.
        labels: usize,
    },
}

fn wrong_kind(format: &str, is_dir: bool) -> String {
    if is_dir {
        format!(
            "is a folder, but format {format} reads files: give the {format} file(s) in it (a list \
             of paths, or --data once per file), or format folder for one sub-folder of images \
             per class"
        )
    } else {
        "is a file, but format folder reads a folder with one sub-folder of images per class: give \
         that folder, or the format of this file (csv, idx or cifar)"
            .to_string()
    }
}

/// Where the number of classes that labels are checked against comes from: named in the message
/// about a label outside the classes, with the fix that fits that source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassSource {
    /// The class names given (`classes` in a grid's `[datasets.NAME]`).
    Given,
    /// A file of class names, one per line, label 0 first (CIFAR's `batches.meta.txt`).
    NamesFile(PathBuf),
    /// CIFAR-10's ten names, taken because there is no names file at this path.
    Cifar10 {
        /// Where `batches.meta.txt` was looked for.
        looked_for: PathBuf,
    },
    /// The labels of the training files (0 to the largest of them), for test files.
    TrainingLabels,
    /// Nothing but the byte labels are kept in (0-255): no names, training files being read.
    AnyByte,
}

impl ClassSource {
    /// The source and the fix, after "the data set has N classes (0-M), ".
    fn explain(&self, classes: usize) -> String {
        match self {
            ClassSource::Given => format!(
                "named by `classes` ({}): give one name per class, label 0 first, or fix the label",
                tune_spec::count(classes, "name")
            ),
            ClassSource::NamesFile(path) => format!(
                "from the {} in {}: add a line for every class (label 0 first), or fix the label",
                tune_spec::count(classes, "class name"),
                path.display()
            ),
            ClassSource::Cifar10 { looked_for } => format!(
                "CIFAR-10's, as there is no {}: for other classes put their names there, one per \
                 line, label 0 first (or give `classes`)",
                looked_for.display()
            ),
            ClassSource::TrainingLabels => "the labels of the training files: the test files \
                 hold a class the training files lack; give training files with every class, or \
                 test and training files of one data set"
                .to_string(),
            ClassSource::AnyByte => "labels are whole numbers 0-255".to_string(),
        }
    }
}

fn ignored_note(ignored: usize) -> String {
    match ignored {
        0 => String::new(),
        1 => " (1 hidden or non-image entry ignored)".to_string(),
        n => format!(" ({n} hidden or non-image entries ignored)"),
    }
}

/// What is wrong inside one IDX file.
#[derive(Debug, Error)]
pub enum IdxProblem {
    /// The file ends inside the header.
    #[error("too short for an IDX header: {found} bytes, expected at least {expected}")]
    ShortHeader {
        /// Header length for this kind of file.
        expected: usize,
        /// Bytes present.
        found: usize,
    },

    /// The magic number is not the one of this kind of file.
    #[error("{}", magic_message(*expected, *found))]
    BadMagic {
        /// The magic number of the expected kind of file.
        expected: u32,
        /// The magic number found.
        found: u32,
    },

    /// Fewer payload bytes than the header announces.
    #[error("truncated: header says {what} ({expected} bytes) but only {found} bytes follow")]
    Truncated {
        /// What the header announces, e.g. "60000 images of 28x28".
        what: String,
        /// Payload bytes announced.
        expected: u64,
        /// Payload bytes present.
        found: u64,
    },

    /// More payload bytes than the header announces.
    #[error("header says {what} ({expected} bytes) but {extra} more bytes follow")]
    TrailingBytes {
        /// What the header announces.
        what: String,
        /// Payload bytes announced.
        expected: u64,
        /// Bytes after the announced payload.
        extra: u64,
    },

    /// The dimensions announce more data than this machine can address.
    #[error("header says {what}, which is too large")]
    TooLarge {
        /// What the header announces.
        what: String,
    },

    /// The gzip stream is damaged or cut short.
    #[error("corrupt or truncated gzip data ({0})")]
    Gzip(io::Error),

    /// The decompressed file does not have the registry's size.
    #[error("decompressed size is {found} bytes, expected {expected}")]
    WrongSize {
        /// Size from the registry.
        expected: u64,
        /// Size of the file (for gzip, as recorded in its trailer).
        found: u64,
    },

    /// A label is not a class index.
    #[error(
        "label {label} at index {index} is not a class: there {} {}",
        if *classes == 1 { "is" } else { "are" },
        tune_spec::count(*classes, "class")
    )]
    LabelOutOfRange {
        /// Position of the label.
        index: usize,
        /// The label.
        label: u8,
        /// Number of classes of the data set.
        classes: usize,
    },
}

impl DataError {
    /// Names the data set in the fix-it hint of errors about its files.
    pub fn in_dataset(mut self, name: &str) -> Self {
        match &mut self {
            DataError::MissingFile { dataset, .. }
            | DataError::Malformed { dataset, .. }
            | DataError::CountMismatch { dataset, .. }
            | DataError::ShapeMismatch { dataset, .. }
            | DataError::ChecksumMismatch { dataset, .. }
            | DataError::Empty { dataset, .. } => *dataset = Some(name.to_string()),
            _ => {}
        }
        self
    }

    /// Whether the error means the environment is unavailable (no network, no mirror reachable,
    /// a download cut off) rather than bad input: the command may succeed later unchanged.
    /// `tune` exits with code 69 (`EX_UNAVAILABLE`) for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DataError::Download { .. } | DataError::Interrupted { .. } => true,
            DataError::AllMirrorsFailed { errors, .. } => {
                errors.iter().all(DataError::is_unavailable)
            }
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DataError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

fn refetch_hint(dataset: Option<&str>) -> String {
    match dataset {
        Some(name) => format!("delete the file and run `tune data fetch {name}`"),
        None => "delete the file and fetch the data set again (`tune data fetch NAME`)".to_string(),
    }
}

fn magic_message(expected: u32, found: u32) -> String {
    let kind = |magic: u32| match magic {
        0x0000_0803 => Some("image"),
        0x0000_0801 => Some("label"),
        _ => None,
    };
    let expected_kind = kind(expected).unwrap_or("IDX");
    match (kind(found), found & 0xffff_ff00) {
        (Some(found_kind), _) => format!(
            "this is an IDX {found_kind} file, expected an IDX {expected_kind} file \
             (magic number 0x{found:08x}, expected 0x{expected:08x})"
        ),
        (None, 0x0000_0800) => format!(
            "IDX file of unsigned bytes with {} dimensions, expected {} for an {expected_kind} file \
             (magic number 0x{found:08x}, expected 0x{expected:08x})",
            found & 0xff,
            expected & 0xff
        ),
        _ => format!(
            "not an IDX {expected_kind} file: magic number is 0x{found:08x}, expected 0x{expected:08x}"
        ),
    }
}

fn not_found_message(
    name: &str,
    searched: &[Searched],
    cache_root: Option<&PathBuf>,
    system_package: Option<&str>,
) -> String {
    let mut m = format!("data set `{name}` not found. Searched:");
    for s in searched {
        let _ = write!(m, "\n  {} ({}): {}", s.dir.display(), s.source, s.finding);
    }
    let explicit = searched.iter().all(|s| s.source == Source::Explicit);
    m.push_str("\nGet it in one of these ways:");
    let into = cache_root.map_or_else(
        || " (set TUNE_CACHE_DIR first: there is no cache directory)".to_string(),
        |root| format!(" (downloads into {})", root.join(name).display()),
    );
    let _ = write!(m, "\n  - tune data fetch {name}{into}");
    if let Some(package) = system_package {
        let _ = write!(
            m,
            "\n  - apt-get install {package} (installs into /usr/share/datasets/{name})"
        );
    }
    let _ = write!(
        m,
        "\n  - --data-dir DIR or TUNE_DATA_DIR=DIR, where DIR or DIR/{name} holds the four files \
         (NAME.gz or uncompressed)"
    );
    if explicit {
        m.push_str("\n(with --data-dir, no other place is searched)");
    } else if let [only] = searched
        && only.source == Source::Env
    {
        m.push_str(
            "\n(TUNE_DATA_DIR names a folder that does not exist: no other place is searched; \
             fix it or unset it)",
        );
    }
    m
}

fn all_mirrors_message(
    file: &str,
    errors: &[DataError],
    dataset: &str,
    files: &[String],
) -> String {
    let mut m = format!("{file}: no mirror could deliver it:");
    for e in errors {
        let _ = write!(m, "\n  - {e}");
    }
    let network = errors.iter().any(DataError::is_unavailable);
    if network {
        m.push_str(
            "\nCheck the network connection (a proxy is taken from HTTPS_PROXY/HTTP_PROXY), or \
             pick another mirror with --mirror URL or TUNE_MIRROR=URL.",
        );
    } else {
        m.push_str("\nPick another mirror with --mirror URL or TUNE_MIRROR=URL.");
    }
    let _ = write!(
        m,
        "\nWithout a network: copy the four files ({}) from a machine that has them into a \
         directory DIR (or DIR/{dataset}) and pass --data-dir DIR or set TUNE_DATA_DIR=DIR; \
         `tune data list --data-dir DIR` checks them.",
        files.join(", ")
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_messages_tell_the_kinds_apart() {
        let labels_for_images = magic_message(0x803, 0x801);
        assert!(labels_for_images.contains("IDX label file, expected an IDX image file"));
        let wrong_dims = magic_message(0x803, 0x802);
        assert!(
            wrong_dims.contains("2 dimensions, expected 3"),
            "{wrong_dims}"
        );
        let garbage = magic_message(0x801, 0x1234_5678);
        assert!(garbage.contains("not an IDX label file"), "{garbage}");
        assert!(garbage.contains("0x12345678"), "{garbage}");
    }

    #[test]
    fn in_dataset_names_the_fetch_command() {
        let e = DataError::MissingFile {
            dir: "/d".into(),
            file: "train-images-idx3-ubyte".into(),
            dataset: None,
        };
        assert!(e.to_string().contains("`tune data fetch NAME`"));
        let e = e.in_dataset("mnist");
        assert!(e.to_string().contains("`tune data fetch mnist`"), "{e}");
    }

    #[test]
    fn error_stays_small() {
        // Results carry this type everywhere; keep it cheap to move (clippy's result_large_err).
        assert!(std::mem::size_of::<DataError>() <= 128);
    }
}
