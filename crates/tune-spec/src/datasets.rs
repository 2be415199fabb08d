//! The data sets a job can name, with their class names: the one list every crate reads (the
//! grid's check of `dataset`, the data registry, the comparison table, confusion tables).

use crate::CLASSES;

/// A data set a job can train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetName {
    /// The name used in grid files, on the command line, in the database and as a directory name.
    pub name: &'static str,
    /// Class names, indexed by label.
    pub classes: [&'static str; CLASSES],
    /// Other spellings that name it where a data set is looked up by name (never stored).
    pub aliases: &'static [&'static str],
}

/// Zalando's Fashion-MNIST: 28x28 grayscale clothing images, 10 classes.
pub const FASHION_MNIST: DatasetName = DatasetName {
    name: "fashion-mnist",
    classes: [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    aliases: &["fashion_mnist"],
};

/// LeCun's MNIST: 28x28 grayscale handwritten digits, classes `0` to `9`.
pub const MNIST: DatasetName = DatasetName {
    name: "mnist",
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    aliases: &[],
};

/// The known data sets, `fashion-mnist` then `mnist`.
pub const DATASETS: [DatasetName; 2] = [FASHION_MNIST, MNIST];

/// The names of [`DATASETS`], in the same order.
pub const DATASET_NAMES: [&str; 2] = [FASHION_MNIST.name, MNIST.name];

/// The data set called `name` (or one of its aliases).
pub fn dataset(name: &str) -> Option<&'static DatasetName> {
    DATASETS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_find_their_data_set() {
        assert_eq!(DATASET_NAMES, ["fashion-mnist", "mnist"]);
        assert_eq!(dataset("fashion_mnist"), Some(&FASHION_MNIST));
        assert_eq!(dataset("mnist").unwrap().classes[7], "7");
        assert_eq!(dataset("cifar10"), None);
    }
}
