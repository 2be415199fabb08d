//! Users' own data sets: each format decoded from fixtures made here, Fashion-MNIST written out as
//! CSV and as PNG folders decoding to the IDX files' pixels, every kind of bad input, the cache.

use image::{GrayImage, Luma, Rgb, RgbImage};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use tune_data::idx::{Images, read_images, read_labels, write_images, write_labels};
use tune_data::{
    CIFAR_RECORD, CacheOutcome, DataSpec, DecodedDataset, Format, TestSet, decode, decode_cached,
};

// ---- fixtures ----

/// Writes a Kaggle-style CSV: header `label,pixel1,...`, one row per image.
fn write_csv(path: &Path, pixels: &[u8], labels: &[u8]) {
    let n = pixels.len() / labels.len();
    let mut s = String::from("label");
    for i in 1..=n {
        write!(s, ",pixel{i}").unwrap();
    }
    s.push('\n');
    for (i, &l) in labels.iter().enumerate() {
        write!(s, "{l}").unwrap();
        for p in &pixels[i * n..(i + 1) * n] {
            write!(s, ",{p}").unwrap();
        }
        s.push('\n');
    }
    fs::write(path, s).unwrap();
}

/// Writes text to `dir/name`, returning the path.
fn text(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    path
}

/// Writes a grayscale PNG of `w`x`h` whose pixels are `seed + i`.
fn gray_png(path: &Path, w: u32, h: u32, seed: u8) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    GrayImage::from_fn(w, h, |x, y| Luma([seed.wrapping_add((y * w + x) as u8)]))
        .save(path)
        .unwrap();
}

/// Writes an image folder `root/CLASS/i.png` of 4x3 grayscale images, `n` per class.
fn gray_folder(root: &Path, classes: &[&str], n: usize) {
    for (c, class) in classes.iter().enumerate() {
        for i in 0..n {
            gray_png(
                &root.join(class).join(format!("{i}.png")),
                4,
                3,
                (c * 10 + i) as u8,
            );
        }
    }
}

/// A CIFAR batch of `n` records: label `i % classes`, pixel bytes from the record index.
fn cifar_batch(n: usize, classes: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(i as u8 % classes);
        out.extend((0..3072).map(|p| (p * 7 + i) as u8));
    }
    out
}

fn message(result: Result<DecodedDataset, tune_data::DataError>) -> String {
    let m = result.expect_err("expected an error").to_string();
    eprintln!("{m}");
    m
}

fn csv_spec(train: &Path, test: &Path) -> DataSpec {
    DataSpec::new(Format::Csv, train, test)
}

// ---- the real data: CSV and PNG folders decode to the IDX pixels ----

/// The first images and labels of a real data set's training and test files.
struct Sample {
    dir: PathBuf,
    train: Images,
    train_labels: Vec<u8>,
    test: Images,
    test_labels: Vec<u8>,
}

/// The first `n` training and `m` test images and labels of Fashion-MNIST (or MNIST), if present.
fn real_sample(n: usize, m: usize) -> Option<Sample> {
    // Debian's dataset-fashion-mnist (.ci/run installs it), else the MNIST copy in ../shared.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/mnist");
    let dir = [PathBuf::from("/usr/share/datasets/fashion-mnist"), shared]
        .into_iter()
        .find(|d| d.join("train-images-idx3-ubyte.gz").is_file())?;
    let cut = |mut images: Images, labels: Vec<u8>, k: usize| {
        images.pixels.truncate(k * 784);
        images.count = k;
        (images, labels[..k].to_vec())
    };
    let (train, train_labels) = cut(
        read_images(&dir.join("train-images-idx3-ubyte.gz")).unwrap(),
        read_labels(&dir.join("train-labels-idx1-ubyte.gz")).unwrap(),
        n,
    );
    let (test, test_labels) = cut(
        read_images(&dir.join("t10k-images-idx3-ubyte.gz")).unwrap(),
        read_labels(&dir.join("t10k-labels-idx1-ubyte.gz")).unwrap(),
        m,
    );
    Some(Sample {
        dir,
        train,
        train_labels,
        test,
        test_labels,
    })
}

#[test]
fn real_images_as_csv_and_png_folders_decode_to_the_idx_pixels() {
    let Some(Sample {
        dir,
        train,
        train_labels,
        test,
        test_labels,
    }) = real_sample(1000, 200)
    else {
        eprintln!("skipped: neither Fashion-MNIST nor MNIST is on this machine");
        return;
    };
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();

    // IDX of any source: the sample itself, read through the user IDX format.
    write_images(&t.join("train-images-idx3-ubyte"), &train, false).unwrap();
    write_labels(&t.join("train-labels-idx1-ubyte"), &train_labels, false).unwrap();
    write_images(&t.join("t10k-images-idx3-ubyte.gz"), &test, true).unwrap();
    write_labels(&t.join("t10k-labels.gz"), &test_labels, true).unwrap();
    let mut idx_spec = DataSpec::new(Format::Idx, t.join("train-images-idx3-ubyte"), "");
    idx_spec.test = TestSet::Paths(vec![
        t.join("t10k-images-idx3-ubyte.gz"),
        t.join("t10k-labels.gz"),
    ]);
    let idx = decode(&idx_spec).unwrap();

    // Kaggle CSV: the same pixels, labels and order, the same content hash.
    write_csv(&t.join("train.csv"), &train.pixels, &train_labels);
    write_csv(&t.join("test.csv"), &test.pixels, &test_labels);
    let csv = decode(&csv_spec(&t.join("train.csv"), &t.join("test.csv"))).unwrap();
    assert_eq!((csv.height, csv.width, csv.channels), (28, 28, 1));
    assert_eq!(csv.train.images.as_slice(), train.pixels.as_slice());
    assert_eq!(csv.train.labels.as_slice(), train_labels.as_slice());
    assert_eq!(csv.test.images.as_slice(), test.pixels.as_slice());
    assert_eq!(csv.test.labels.as_slice(), test_labels.as_slice());
    assert_eq!(
        csv,
        DecodedDataset {
            format: Format::Csv,
            ..idx.clone()
        }
    );
    assert_eq!(csv.sha256, idx.sha256);

    // As f32, bit for bit what the built-in loader gives the training loop.
    let name = dir.file_name().unwrap().to_str().unwrap();
    let builtin = tune_data::load(name, Some(&dir)).unwrap();
    let f32s = csv.train.to_f32();
    assert!(
        f32s.iter()
            .zip(&builtin.train.images[..1000 * 784])
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );

    // A folder of PNGs, one sub-folder per class (named so that sorted order is not label order),
    // decodes to the same images in the folder's own order: sorted classes, then file names.
    let names = [
        "t-shirt",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    ];
    for (split, images, labels) in [
        ("train", &train, &train_labels),
        ("test", &test, &test_labels),
    ] {
        for (i, &l) in labels.iter().enumerate() {
            let pixels = images.pixels[i * 784..(i + 1) * 784].to_vec();
            let path = t
                .join(split)
                .join(names[l as usize])
                .join(format!("{i:05}.png"));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            GrayImage::from_raw(28, 28, pixels)
                .unwrap()
                .save(&path)
                .unwrap();
        }
    }
    let folder = decode(&DataSpec::new(
        Format::Folder,
        t.join("train"),
        t.join("test"),
    ))
    .unwrap();
    let mut sorted = names.to_vec();
    sorted.sort();
    assert_eq!(folder.classes, sorted);
    assert_eq!((folder.height, folder.width, folder.channels), (28, 28, 1));
    for (split, images, labels) in [
        (&folder.train, &train, &train_labels),
        (&folder.test, &test, &test_labels),
    ] {
        // The IDX images in folder order, labelled by their folder's rank.
        let mut expected_pixels = Vec::new();
        let mut expected_labels = Vec::new();
        for (rank, class) in sorted.iter().enumerate() {
            let label = names.iter().position(|n| n == class).unwrap() as u8;
            for (i, _) in labels.iter().enumerate().filter(|&(_, &l)| l == label) {
                expected_pixels.extend_from_slice(&images.pixels[i * 784..(i + 1) * 784]);
                expected_labels.push(rank as u8);
            }
        }
        assert_eq!(split.images.as_slice(), expected_pixels.as_slice());
        assert_eq!(split.labels.as_slice(), expected_labels.as_slice());
    }
}

// ---- each format ----

#[test]
fn idx_of_any_image_size() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let images = |count: usize, seed: usize| Images {
        count,
        rows: 5,
        cols: 7,
        pixels: (0..count * 35).map(|i| (i + seed) as u8).collect(),
    };
    write_images(&t.join("a-images-idx3-ubyte"), &images(6, 0), false).unwrap();
    write_labels(&t.join("a-labels-idx1-ubyte"), &[0, 1, 2, 0, 1, 2], false).unwrap();
    write_images(&t.join("b-images-idx3-ubyte"), &images(2, 9), true).unwrap();
    write_labels(&t.join("b-labels-idx1-ubyte"), &[2, 1], true).unwrap();
    let spec = DataSpec::new(
        Format::Idx,
        t.join("a-images-idx3-ubyte"),
        t.join("b-images-idx3-ubyte"),
    );
    let d = decode(&spec).unwrap();
    assert_eq!((d.height, d.width, d.channels), (5, 7, 1));
    assert_eq!(d.classes, ["0", "1", "2"]);
    assert_eq!((d.train.len, d.test.len), (6, 2));
    assert_eq!(d.test.image(1, 35)[0], 35 + 9);

    // A test label beyond the training classes, with the file and the label's index.
    write_labels(&t.join("b-labels-idx1-ubyte"), &[2, 3], true).unwrap();
    let m = message(decode(&spec));
    assert!(
        m.contains("b-labels-idx1-ubyte: label 1 (0-based): label 3 is not a class"),
        "{m}"
    );
    // A damaged user file: no advice to fetch a known data set.
    fs::write(t.join("b-labels-idx1-ubyte"), b"junk").unwrap();
    let m = message(decode(&spec));
    assert!(m.contains("b-labels-idx1-ubyte: "), "{m}");
    assert!(m.contains("export the file again"), "{m}");
    assert!(!m.contains("tune data fetch"), "{m}");
    // Label and image counts differ.
    write_labels(&t.join("b-labels-idx1-ubyte"), &[2, 1, 0], false).unwrap();
    let m = message(decode(&spec));
    assert!(m.contains("holds 2 images but"), "{m}");
    assert!(m.contains("holds 3 labels"), "{m}");
    // A size that is not the files'.
    write_labels(&t.join("b-labels-idx1-ubyte"), &[2, 1], false).unwrap();
    let mut sized = spec.clone();
    sized.size = Some((28, 28));
    let m = message(decode(&sized));
    assert!(
        m.contains("IDX images are 5x7 (height x width) but size = [28, 28]"),
        "{m}"
    );
}

#[test]
fn csv_rgb_with_size_is_stored_planar() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    // Two 1x2 RGB images, interleaved per pixel in the file.
    let train = text(
        t,
        "train.csv",
        "pixel1,pixel2,pixel3,label,pixel4,pixel5,pixel6\n1,2,3,1,4,5,6\n10,20,30,0,40,50,60\n",
    );
    let mut spec = DataSpec::with_test_split(Format::Csv, &train, 0.5);
    spec.size = Some((1, 2));
    let d = decode(&spec).unwrap();
    assert_eq!((d.height, d.width, d.channels), (1, 2, 3));
    assert_eq!(d.class_count(), 2);
    // The label column may be anywhere. One image per class, one to test: the tie of the
    // stratified draw goes to the lower class.
    assert_eq!(d.class_counts(), (vec![0, 1], vec![1, 0]));
    let mut all: Vec<&[u8]> = vec![d.train.image(0, 6), d.test.image(0, 6)];
    all.sort();
    assert_eq!(
        all,
        [&[1, 4, 2, 5, 3, 6][..], &[10, 40, 20, 50, 30, 60][..]]
    );
}

#[test]
fn csv_shape_without_size_must_be_a_square() {
    let tmp = TempDir::new().unwrap();
    let train = text(tmp.path(), "train.csv", "label,a,b,c\n0,1,2,3\n");
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains("train.csv: 3 pixel columns are not a square image"),
        "{m}"
    );
    assert!(m.contains("size = [HEIGHT, WIDTH]"), "{m}");
}

#[test]
fn folder_ignores_hidden_and_other_files_and_counts_them() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["b", "a"], 2);
    gray_folder(&t.join("test"), &["b", "a"], 1);
    text(&t.join("train/a"), "notes.txt", "not an image");
    text(&t.join("train/a"), ".DS_Store", "hidden");
    text(&t.join("train"), "README", "beside the classes");
    fs::create_dir_all(t.join("train/.cache")).unwrap();
    gray_png(&t.join("train/.cache/x.png"), 4, 3, 0);
    // Nested folders inside a class folder are read; upper-case extensions too.
    gray_png(&t.join("train/b/deeper/z.PNG"), 4, 3, 99);
    let d = decode(&DataSpec::new(
        Format::Folder,
        t.join("train"),
        t.join("test"),
    ))
    .unwrap();
    assert_eq!(d.classes, ["a", "b"]);
    assert_eq!((d.height, d.width, d.channels), (3, 4, 1));
    assert_eq!(d.train.labels.as_slice(), &[0, 0, 1, 1, 1]);
    // Order: sorted paths inside the class folder (`0.png`, `1.png`, `deeper/z.PNG`).
    assert_eq!(d.train.image(0, 12)[0], 10);
    assert_eq!(d.train.image(4, 12)[0], 99);
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("4 hidden or non-image files and folders ignored")),
        "{:?}",
        d.notes
    );
}

#[test]
fn folder_converts_channels_and_resizes() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["x", "y"], 3);
    let colour = t.join("train/y/colour.png");
    RgbImage::from_pixel(4, 3, Rgb([200, 100, 0]))
        .save(&colour)
        .unwrap();
    // A colour image among grayscale ones: RGB for all, grayscale ones in every channel.
    let spec = DataSpec::with_test_split(Format::Folder, t.join("train"), 0.25);
    let d = decode(&spec).unwrap();
    assert_eq!(d.channels, 3);
    let all: Vec<&[u8]> = (0..d.train.len)
        .map(|i| d.train.image(i, 36))
        .chain((0..d.test.len).map(|i| d.test.image(i, 36)))
        .collect();
    assert!(all.contains(&[[200; 12], [100; 12], [0; 12]].concat().as_slice()));
    assert!(
        all.iter()
            .filter(|i| i[..12] == i[12..24] && i[..12] == i[24..])
            .count()
            == 6
    );
    // channels = 1 converts colour to gray.
    let mut gray = spec.clone();
    gray.channels = Some(1);
    assert_eq!(decode(&gray).unwrap().channels, 1);
    // size resizes every image.
    let mut sized = spec.clone();
    sized.size = Some((6, 8));
    let d = decode(&sized).unwrap();
    assert_eq!((d.height, d.width, d.channels), (6, 8, 3));
    assert_eq!(d.train.images.len(), d.train.len * 6 * 8 * 3);
    // channels other than 1 and 3 are refused.
    let mut bad = spec;
    bad.channels = Some(2);
    let m = message(decode(&bad));
    assert!(
        m.contains("channels = 2: use 1 (grayscale) or 3 (RGB)"),
        "{m}"
    );
}

#[test]
fn cifar_batches_with_class_names_and_grayscale() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    fs::write(t.join("data_batch_1.bin"), cifar_batch(4, 10)).unwrap();
    fs::write(t.join("data_batch_2.bin"), cifar_batch(3, 10)).unwrap();
    fs::write(t.join("test_batch.bin"), cifar_batch(2, 10)).unwrap();
    let mut spec = DataSpec::new(
        Format::Cifar,
        t.join("data_batch_1.bin"),
        t.join("test_batch.bin"),
    );
    spec.train.push(t.join("data_batch_2.bin"));
    let d = decode(&spec).unwrap();
    assert_eq!((d.height, d.width, d.channels), (32, 32, 3));
    assert_eq!((d.train.len, d.test.len), (7, 2));
    assert_eq!(d.classes[0], "airplane");
    assert_eq!(d.train.labels.as_slice(), &[0, 1, 2, 3, 0, 1, 2]);
    assert_eq!(d.train.image(4, 3072), &cifar_batch(1, 10)[1..]);
    // The meta file names the classes; channels = 1 converts to gray.
    let names: String = (0..10).map(|i| format!("c{i}\n")).collect();
    text(t, "batches.meta.txt", &names);
    spec.channels = Some(1);
    let d = decode(&spec).unwrap();
    assert_eq!(d.classes[3], "c3");
    assert_eq!(d.channels, 1);
    assert_eq!(d.train.images.len(), 7 * 1024);
    // A label beyond the classes names the file and record.
    let mut batch = cifar_batch(3, 10);
    batch[2 * CIFAR_RECORD] = 10;
    fs::write(t.join("test_batch.bin"), batch).unwrap();
    let m = message(decode(&spec));
    assert!(
        m.contains("test_batch.bin: record 2 (byte 6146): label 10 is not a class"),
        "{m}"
    );
    // The class count's source is named: batches.meta.txt when it sets it ...
    assert!(
        m.contains("the data set has 10 classes (0-9), from the 10 class names in"),
        "{m}"
    );
    assert!(
        m.contains("batches.meta.txt: add a line for every class"),
        "{m}"
    );
    let names: String = (0..5).map(|i| format!("c{i}\n")).collect();
    text(t, "batches.meta.txt", &names);
    let mut batch = cifar_batch(3, 10);
    batch[CIFAR_RECORD] = 7;
    fs::write(t.join("test_batch.bin"), batch).unwrap();
    let m = message(decode(&spec));
    assert!(
        m.contains("test_batch.bin: record 1 (byte 3073): label 7 is not a class"),
        "{m}"
    );
    assert!(
        m.contains("the data set has 5 classes (0-4), from the 5 class names in"),
        "{m}"
    );
    // ... CIFAR-10's names when there is no such file, and `classes` when given.
    fs::remove_file(t.join("batches.meta.txt")).unwrap();
    let mut batch = cifar_batch(3, 10);
    batch[CIFAR_RECORD] = 12;
    fs::write(t.join("test_batch.bin"), batch).unwrap();
    let m = message(decode(&spec));
    assert!(
        m.contains(
            "label 12 is not a class: the data set has 10 classes (0-9), CIFAR-10's, as there is no"
        ),
        "{m}"
    );
    spec.classes = Some((0..10).map(|i| format!("n{i}")).collect());
    let m = message(decode(&spec));
    assert!(m.contains("(0-9), named by `classes` (10 names)"), "{m}");
}

#[test]
fn test_split_is_stratified_and_fixed() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    // 100 images: 70 of class 0, 30 of class 1.
    let labels: Vec<u8> = (0..100).map(|i| u8::from(i % 10 >= 7)).collect();
    let pixels: Vec<u8> = (0..100 * 4).map(|i| (i / 4) as u8).collect();
    write_csv(&t.join("all.csv"), &pixels, &labels);
    let spec = DataSpec::with_test_split(Format::Csv, t.join("all.csv"), 0.2);
    let d = decode(&spec).unwrap();
    assert_eq!(d.class_counts(), (vec![56, 24], vec![14, 6]));
    assert_eq!(decode(&spec).unwrap(), d);
    // Every image once, train and test disjoint; the test images are not simply the last ones.
    let mut ids: Vec<u8> = (0..d.train.len)
        .map(|i| d.train.image(i, 4)[0])
        .chain((0..d.test.len).map(|i| d.test.image(i, 4)[0]))
        .collect();
    let test_ids = ids[80..].to_vec();
    ids.sort_unstable();
    assert_eq!(ids, (0..100).collect::<Vec<u8>>());
    assert_ne!(test_ids, (80..100).collect::<Vec<u8>>());
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("20 test images are drawn")),
        "{:?}",
        d.notes
    );
    // Fractions that leave a side empty are refused.
    for f in [0.0, 1.0, 0.001, 1.5] {
        let m = message(decode(&DataSpec::with_test_split(
            Format::Csv,
            t.join("all.csv"),
            f,
        )));
        assert!(
            m.contains(&format!("test_split = {f} of 100 training images")),
            "{m}"
        );
    }
}

// ---- bad input, one test each ----

#[test]
fn csv_ragged_row() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let train = text(t, "train.csv", "label,p1,p2,p3,p4\n0,1,2,3,4\n1,1,2,3\n");
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains("train.csv: line 3 has 4 cells but the header has 5"),
        "{m}"
    );
    assert!(m.contains("fix or delete the row"), "{m}");
}

#[test]
fn csv_non_numeric_cell() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let train = text(t, "train.csv", "label,p1,p2,p3,p4\n0,1,2,3,4\n1,1,x7,3,4\n");
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains("train.csv: line 3, column `p2`: `x7` is not a whole number"),
        "{m}"
    );
    let train = text(t, "train.csv", "label,p1,p2,p3,p4\ncat,1,2,3,4\n");
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains("line 2, column `label`: `cat` is not a whole number"),
        "{m}"
    );
}

#[test]
fn csv_pixel_outside_0_255() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let train = text(
        t,
        "train.csv",
        "label,p1,p2,p3,p4\n0,1,2,3,4\n1,1,2,256,4\n",
    );
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains("train.csv: line 3, column `p3`: pixel value 256 is outside 0-255"),
        "{m}"
    );
    let train = text(t, "train.csv", "label,p1,p2,p3,p4\n0,1,-2,3,4\n");
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains("line 2, column `p2`: pixel value -2 is outside 0-255"),
        "{m}"
    );
}

#[test]
fn csv_missing_label_column() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let train = text(t, "train.csv", "class,p1,p2,p3,p4,p5\n0,1,2,3,4,5\n");
    let m = message(decode(&DataSpec::with_test_split(Format::Csv, &train, 0.5)));
    assert!(
        m.contains(
            "train.csv: the header row has no `label` column (it starts `class,p1,p2,p3,...`)"
        ),
        "{m}"
    );
    assert!(m.contains("name the class column `label`"), "{m}");
}

#[test]
fn csv_label_outside_the_classes() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let train = text(t, "train.csv", "label,a,b,c,d\n0,1,2,3,4\n2,1,2,3,4\n");
    let test = text(t, "test.csv", "label,a,b,c,d\n1,1,2,3,4\n3,1,2,3,4\n");
    let m = message(decode(&csv_spec(&train, &test)));
    assert!(
        m.contains("test.csv: line 3: label 3 is not a class: the data set has 3 classes (0-2)"),
        "{m}"
    );
    // With class names given, the names set the classes.
    let mut named = csv_spec(&train, &test);
    named.classes = Some(vec!["a".into(), "b".into()]);
    let m = message(decode(&named));
    assert!(
        m.contains("train.csv: line 3: label 2 is not a class: the data set has 2 classes"),
        "{m}"
    );
    let m = message(decode(&DataSpec::with_test_split(
        Format::Csv,
        text(t, "neg.csv", "label,a,b,c,d\n-1,1,2,3,4\n"),
        0.5,
    )));
    assert!(m.contains("line 2: label -1 is not a class"), "{m}");
}

#[test]
fn folder_class_with_no_images() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["cat", "dog"], 2);
    fs::create_dir_all(t.join("train/cow")).unwrap();
    text(&t.join("train/cow"), "readme.txt", "no images here");
    let m = message(decode(&DataSpec::with_test_split(
        Format::Folder,
        t.join("train"),
        0.5,
    )));
    assert!(m.contains("train/cow: class folder `cow` holds no images (PNG, JPEG or BMP) (1 hidden or non-image entry ignored)"), "{m}");
    assert!(m.contains("add its images or remove the folder"), "{m}");
    // A folder without class folders at all.
    fs::create_dir_all(t.join("flat")).unwrap();
    gray_png(&t.join("flat/a.png"), 2, 2, 0);
    let m = message(decode(&DataSpec::with_test_split(
        Format::Folder,
        t.join("flat"),
        0.5,
    )));
    assert!(m.contains("flat: holds no class folders"), "{m}");
}

#[test]
fn folder_mixed_sizes_without_size() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["a", "b"], 2);
    gray_png(&t.join("train/b/big.png"), 5, 3, 0);
    let spec = DataSpec::with_test_split(Format::Folder, t.join("train"), 0.5);
    let m = message(decode(&spec));
    // Sizes are height x width, the order of `size = [HEIGHT, WIDTH]`: big.png is 5 wide, 3 high.
    assert!(
        m.contains("train/b/big.png: image is 3x5 (height x width) but"),
        "{m}"
    );
    assert!(m.contains("train/a/0.png is 3x4"), "{m}");
    assert!(!m.contains("width x height"), "{m}");
    assert!(m.contains("give `size = [HEIGHT, WIDTH]`"), "{m}");
    let mut sized = spec;
    sized.size = Some((3, 4));
    let d = decode(&sized).unwrap();
    assert_eq!(d.train.len + d.test.len, 5);
}

#[test]
fn folder_corrupt_or_truncated_image() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["a", "b"], 2);
    let spec = DataSpec::with_test_split(Format::Folder, t.join("train"), 0.5);
    let good = fs::read(t.join("train/b/1.png")).unwrap();
    fs::write(t.join("train/b/1.png"), &good[..good.len() / 2]).unwrap();
    let m = message(decode(&spec));
    assert!(m.contains("train/b/1.png: cannot decode the image"), "{m}");
    assert!(m.contains("corrupt, truncated"), "{m}");
    assert!(m.contains("replace or delete it"), "{m}");
    fs::write(t.join("train/b/1.png"), b"this is not a PNG").unwrap();
    let m = message(decode(&spec));
    assert!(m.contains("train/b/1.png: cannot decode the image"), "{m}");
}

#[test]
fn train_and_test_with_different_class_sets() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["cat", "dog"], 2);
    gray_folder(&t.join("test"), &["cat", "cow"], 1);
    let m = message(decode(&DataSpec::new(
        Format::Folder,
        t.join("train"),
        t.join("test"),
    )));
    assert!(
        m.contains("test: the test classes are not the training classes of"),
        "{m}"
    );
    assert!(
        m.contains("only in training: dog; only in test: cow"),
        "{m}"
    );
}

#[test]
fn train_and_test_of_different_shapes() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    gray_folder(&t.join("train"), &["a"], 2);
    gray_png(&t.join("test/a/0.png"), 3, 3, 0);
    let m = message(decode(&DataSpec::new(
        Format::Folder,
        t.join("train"),
        t.join("test"),
    )));
    assert!(
        m.contains(
            "the test images are 3x3x1 (height x width x channels) but the training images are \
             3x4x1"
        ),
        "{m}"
    );
    let train = text(t, "train.csv", "label,a,b,c,d\n0,1,2,3,4\n");
    let test = text(
        t,
        "test.csv",
        "label,a,b,c,d,e,f,g,h,i\n0,1,2,3,4,5,6,7,8,9\n",
    );
    // CSV files of another count of pixel columns: both files and both counts are named.
    let m = message(decode(&csv_spec(&train, &test)));
    assert!(m.contains("test.csv: has 9 pixel columns but"), "{m}");
    assert!(
        m.contains("train.csv has 4 (2x2x1 images, height x width x channels)"),
        "{m}"
    );
    // 784 and 3,072 columns: not the advice `channels = 3`, which the training file's 784
    // grayscale pixels cannot take; the same for a second training file.
    let row = |n: usize| {
        let header: Vec<String> = (1..=n).map(|i| format!("pixel{i}")).collect();
        format!("label,{}\n0,{}\n", header.join(","), vec!["7"; n].join(","))
    };
    let train = text(t, "train784.csv", &row(784));
    let test = text(t, "test3072.csv", &row(3072));
    let m = message(decode(&csv_spec(&train, &test)));
    assert!(
        m.contains("test3072.csv: has 3,072 pixel columns but"),
        "{m}"
    );
    assert!(m.contains("train784.csv has 784 (28x28x1 images"), "{m}");
    assert!(!m.contains("channels = 3"), "{m}");
    let mut two = DataSpec::with_test_split(Format::Csv, &train, 0.5);
    two.train.push(test.clone());
    let m = message(decode(&two));
    assert!(
        m.contains("test3072.csv: has 3,072 pixel columns but"),
        "{m}"
    );
    assert!(!m.contains("channels = 3"), "{m}");
}

#[test]
fn cifar_length_not_a_multiple_of_3073() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let mut batch = cifar_batch(2, 10);
    batch.pop();
    fs::write(t.join("data_batch_1.bin"), batch).unwrap();
    let m = message(decode(&DataSpec::with_test_split(
        Format::Cifar,
        t.join("data_batch_1.bin"),
        0.5,
    )));
    assert!(
        m.contains("data_batch_1.bin: is 6145 bytes, not a whole number of 3,073-byte records"),
        "{m}"
    );
}

#[test]
fn empty_split() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let train = text(t, "train.csv", "label,a,b,c,d\n0,1,2,3,4\n");
    let test = text(t, "test.csv", "label,a,b,c,d\n");
    let m = message(decode(&csv_spec(&train, &test)));
    assert!(
        m.contains("test.csv: the test split holds no images: the file has a header but no rows"),
        "{m}"
    );
    fs::write(t.join("empty.bin"), b"").unwrap();
    let m = message(decode(&DataSpec::with_test_split(
        Format::Cifar,
        t.join("empty.bin"),
        0.5,
    )));
    // A 0-byte file is refused as empty before any reader sees it.
    assert!(m.contains("empty.bin: is empty (0 bytes)"), "{m}");
}

// ---- identity and the cache ----

#[test]
fn the_hash_follows_the_content_not_the_place() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    for dir in ["one", "two", "three"] {
        gray_folder(&t.join(dir), &["a", "b"], 2);
    }
    gray_png(&t.join("three/b/1.png"), 4, 3, 77);
    let hash = |dir: &str| {
        decode(&DataSpec::with_test_split(Format::Folder, t.join(dir), 0.5))
            .unwrap()
            .sha256
    };
    assert_eq!(hash("one"), hash("two"));
    assert_ne!(hash("one"), hash("three"));
    // Renaming a class changes the data set.
    fs::rename(t.join("two/b"), t.join("two/c")).unwrap();
    assert_ne!(hash("one"), hash("two"));
}

#[test]
fn the_cache_is_used_checked_and_rebuilt() {
    let tmp = TempDir::new().unwrap();
    let t = tmp.path();
    let cache = t.join("cache");
    gray_folder(&t.join("train"), &["a", "b"], 3);
    let spec = DataSpec::with_test_split(Format::Folder, t.join("train"), 0.5);
    let fresh = decode(&spec).unwrap();

    let (d, outcome) = decode_cached(&spec, &cache).unwrap();
    let CacheOutcome::Written(file) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(d, fresh);
    let (d, outcome) = decode_cached(&spec, &cache).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit(file.clone()));
    assert_eq!(d, fresh);

    // A damaged cache file is ignored and replaced.
    let mut bytes = fs::read(&file).unwrap();
    let middle = bytes.len() - 40;
    bytes[middle] ^= 0xff;
    fs::write(&file, &bytes).unwrap();
    let (d, outcome) = decode_cached(&spec, &cache).unwrap();
    assert!(
        matches!(&outcome, CacheOutcome::Rebuilt { reason, .. } if reason.contains("content hash")),
        "{outcome:?}"
    );
    assert_eq!(d, fresh);
    fs::write(&file, &bytes[..100]).unwrap();
    let (_, outcome) = decode_cached(&spec, &cache).unwrap();
    assert!(
        matches!(&outcome, CacheOutcome::Rebuilt { reason, .. } if reason.contains("truncated")),
        "{outcome:?}"
    );
    assert_eq!(
        decode_cached(&spec, &cache).unwrap().1,
        CacheOutcome::Hit(file.clone())
    );

    // A changed image changes the data set: decoded again, with another hash.
    gray_png(&t.join("train/a/0.png"), 4, 3, 200);
    let (d, outcome) = decode_cached(&spec, &cache).unwrap();
    assert!(
        matches!(&outcome, CacheOutcome::Rebuilt { reason, .. } if reason.contains("changed")),
        "{outcome:?}"
    );
    assert_ne!(d.sha256, fresh.sha256);
    assert_eq!(d, decode(&spec).unwrap());
    // One cache file per data set, however often it changes.
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);

    // Errors are decode's; nothing is cached.
    fs::write(t.join("train/a/0.png"), b"broken").unwrap();
    let e = decode_cached(&spec, &cache).unwrap_err().to_string();
    assert!(e.contains("cannot decode the image"), "{e}");
}

/// Decoded pixels are planar; the trainer takes channels-last. A non-square RGB image whose
/// three channels differ must come out of `to_dataset` as `r g b r g b ...`, row by row.
#[test]
fn rgb_folder_reaches_the_trainer_channels_last() {
    let tmp = TempDir::new().unwrap();
    let (w, h) = (3u32, 2u32);
    let value = |x: u32, y: u32, c: u32| (10 + x + 3 * y + 100 * c) as u8;
    for (class, split) in [("a", "train"), ("b", "train"), ("a", "test"), ("b", "test")] {
        let path = tmp.path().join(split).join(class).join("0.png");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([value(x, y, 0), value(x, y, 1), value(x, y, 2)])
        })
        .save(&path)
        .unwrap();
    }
    let spec = DataSpec::new(
        Format::Folder,
        tmp.path().join("train"),
        tmp.path().join("test"),
    );
    let d = decode(&spec).unwrap();
    assert_eq!((d.height, d.width, d.channels), (2, 3, 3));
    // Planar as decoded: all red values of the image, then green, then blue.
    assert_eq!(&d.train.image(0, 18)[..3], &[10, 11, 12]);
    assert_eq!(d.train.image(0, 18)[6], 110);
    let data = d.to_dataset("rgb");
    assert_eq!(
        (data.train.rows, data.train.cols, data.train.channels),
        (2, 3, 3)
    );
    let mut expected = Vec::new();
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                expected.push(f32::from(value(x, y, c)) / 255.0);
            }
        }
    }
    assert_eq!(data.train.image(0), expected.as_slice());
    assert_eq!(data.test.image(1), expected.as_slice());
    assert_eq!(data.classes, ["a", "b"]);
    let user = d.user_data(spec.clone());
    assert_eq!(
        (
            user.input.height,
            user.input.width,
            user.input.channels,
            user.input.classes
        ),
        (2, 3, 3, 2)
    );
    assert_eq!(user.sha256, d.sha256);
}
