//! Confusion matrices as tables: per-class accuracy (diagonal / row sum) and the matrix itself.

use crate::ReportError;
use crate::table::{Align, Cell, Column, EMPTY, Format, TableData, to_json};
use serde::Serialize;

/// Fashion-MNIST's class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = tune_spec::FASHION_MNIST.classes;

/// MNIST's class names (the digits).
pub const MNIST_CLASSES: [&str; 10] = tune_spec::MNIST.classes;

/// Class names of a data set by its name (`fashion-mnist`, `mnist`), `None` for another.
pub fn class_names(dataset: &str) -> Option<[&'static str; 10]> {
    tune_spec::dataset(dataset).map(|d| d.classes)
}

/// A checked confusion matrix with its per-class accuracies.
#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    /// Class names, by label.
    pub classes: Vec<String>,
    /// `matrix[true][predicted]` counts.
    pub matrix: Vec<Vec<u64>>,
    /// Overall accuracy (trace / total), `null` for an empty matrix.
    pub accuracy: Option<f64>,
    /// One entry per class, by label.
    pub per_class: Vec<ClassAccuracy>,
}

/// How well one class is recognised.
#[derive(Debug, Clone, Serialize)]
pub struct ClassAccuracy {
    /// The class's name.
    pub class: String,
    /// Test images of the class (row sum).
    pub images: u64,
    /// Of them, predicted correctly (the diagonal cell).
    pub correct: u64,
    /// `correct / images`, `null` when the class has no images.
    pub accuracy: Option<f64>,
    /// The class its images are most often mistaken for, if any are.
    pub confused_with: Option<String>,
    /// How many of its images went to `confused_with`.
    pub confused_count: u64,
}

impl Confusion {
    /// Checks that `matrix` is square with one row per class name, and computes the accuracies.
    pub fn new<S: AsRef<str>>(
        matrix: &[Vec<u64>],
        class_names: &[S],
    ) -> Result<Confusion, ReportError> {
        let k = class_names.len();
        if matrix.len() != k || matrix.iter().any(|r| r.len() != k) {
            return Err(ReportError::BadMatrix {
                rows: matrix.len(),
                cols: matrix.iter().map(Vec::len).collect(),
                classes: k,
            });
        }
        let classes: Vec<String> = class_names.iter().map(|s| s.as_ref().to_string()).collect();
        let per_class = matrix
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let images: u64 = row.iter().sum();
                let correct = row[i];
                let worst = row
                    .iter()
                    .enumerate()
                    .filter(|&(j, &c)| j != i && c > 0)
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
                ClassAccuracy {
                    class: classes[i].clone(),
                    images,
                    correct,
                    accuracy: (images > 0).then(|| correct as f64 / images as f64),
                    confused_with: worst.map(|(j, _)| classes[j].clone()),
                    confused_count: worst.map_or(0, |(_, &c)| c),
                }
            })
            .collect();
        let total: u64 = matrix.iter().flatten().sum();
        let trace: u64 = (0..k).map(|i| matrix[i][i]).sum();
        Ok(Confusion {
            classes,
            matrix: matrix.to_vec(),
            accuracy: (total > 0).then(|| trace as f64 / total as f64),
            per_class,
        })
    }

    /// At most `n` of the classes less accurate than the best class, worst first: none when
    /// every class (with images) is equally accurate, and never the best class, however few
    /// classes there are.
    pub fn weakest(&self, n: usize) -> Vec<&ClassAccuracy> {
        let mut v: Vec<(&ClassAccuracy, f64)> = self
            .per_class
            .iter()
            .filter_map(|c| Some((c, c.accuracy?)))
            .collect();
        let best = v.iter().map(|&(_, a)| a).fold(f64::NEG_INFINITY, f64::max);
        v.retain(|&(_, a)| a < best);
        v.sort_by(|a, b| a.1.total_cmp(&b.1));
        v.into_iter().take(n).map(|(c, _)| c).collect()
    }

    /// Per-class accuracy: headers as tables show them, keys as CSV names them.
    fn per_class_table(&self) -> TableData {
        let mut t = TableData::with_columns(vec![
            Column::named("class", Align::Left),
            Column::named("images", Align::Right),
            Column::named("correct", Align::Right),
            Column::named("accuracy", Align::Right),
            Column::new("most often taken for", "confused_with", Align::Left),
            Column::new("count", "confused_count", Align::Right),
        ]);
        t.rows = self
            .per_class
            .iter()
            .map(|c| {
                vec![
                    Cell::text(c.class.clone()),
                    Cell::int(c.images),
                    Cell::int(c.correct),
                    Cell::num(c.accuracy, 4),
                    c.confused_with.clone().map_or_else(Cell::empty, Cell::text),
                    Cell::int(c.confused_count),
                ]
            })
            .collect();
        t
    }

    /// The per-class figures with each class's row of the matrix as columns `predicted_CLASS`:
    /// one CSV table that a spreadsheet or `csv` reader takes whole.
    fn csv_table(&self) -> TableData {
        let mut t = self.per_class_table();
        t.columns.extend(self.classes.iter().map(|c| {
            Column::new(
                format!("predicted {c}"),
                format!("predicted_{c}"),
                Align::Right,
            )
        }));
        for (cells, row) in t.rows.iter_mut().zip(&self.matrix) {
            cells.extend(row.iter().map(|&c| Cell::int(c)));
        }
        t
    }

    /// The matrix, rows: true class, columns: predicted class.
    fn matrix_table(&self) -> TableData {
        let mut columns = vec![Column::new("true \\ predicted", "true", Align::Left)];
        columns.extend(self.classes.iter().map(|c| Column::named(c, Align::Right)));
        let mut t = TableData::with_columns(columns);
        t.rows = self
            .matrix
            .iter()
            .zip(&self.classes)
            .map(|(row, name)| {
                let mut cells = vec![Cell::text(name.clone())];
                cells.extend(row.iter().map(|&c| Cell::int(c)));
                cells
            })
            .collect();
        t
    }

    /// Writes per-class accuracy and the matrix. Table and Markdown: a heading naming the weakest
    /// classes, the per-class table, then the matrix (rows: true class, columns: predicted). CSV: one
    /// table, a row per true class: its per-class figures, then its row of the matrix as columns
    /// `predicted_CLASS`. JSON: this value.
    pub fn render(&self, format: Format, width: Option<u16>) -> String {
        match format {
            Format::Json => to_json(self),
            Format::Csv => self.csv_table().to_csv(),
            Format::Table | Format::Markdown => {
                let md = format == Format::Markdown;
                let write = |t: &TableData| t.render(format, width);
                let heading = |h: &str| {
                    if md {
                        format!("### {h}\n\n")
                    } else {
                        format!("{h}\n")
                    }
                };
                let overall = self
                    .accuracy
                    .map_or(EMPTY.to_string(), |a| format!("{a:.4}"));
                let weakest: Vec<String> = self
                    .weakest(3)
                    .iter()
                    .map(|c| format!("{} {:.4}", c.class, c.accuracy.unwrap_or(f64::NAN)))
                    .collect();
                let weakest = if weakest.is_empty() {
                    "every class equally accurate".to_string()
                } else {
                    format!("weakest: {}", weakest.join(", "))
                };
                let mut out = heading(&format!(
                    "Per-class accuracy (correct / images of the class); overall {overall}; {weakest}"
                ));
                out.push_str(&write(&self.per_class_table()));
                out.push('\n');
                out.push_str(&heading(
                    "Confusion matrix (rows: true class, columns: predicted class)",
                ));
                out.push_str(&write(&self.matrix_table()));
                out
            }
        }
    }
}

/// Per-class accuracy and the confusion matrix `matrix[true][predicted]` as text in `format`
/// (`width`: terminal width for [`Format::Table`], `None` not to wrap).
pub fn confusion_table<S: AsRef<str>>(
    matrix: &[Vec<u64>],
    class_names: &[S],
    format: Format,
    width: Option<u16>,
) -> Result<String, ReportError> {
    Ok(Confusion::new(matrix, class_names)?.render(format, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_accuracy_is_diagonal_over_row_sum() {
        // row 0: 8 of 10 right, 2 taken for class 1; row 1: 5 of 5; row 2: no images
        let m = vec![vec![8, 2, 0], vec![0, 5, 0], vec![0, 0, 0]];
        let c = Confusion::new(&m, &["a", "b", "c"]).unwrap();
        assert_eq!(c.per_class[0].accuracy, Some(0.8));
        assert_eq!(c.per_class[0].confused_with.as_deref(), Some("b"));
        assert_eq!(c.per_class[0].confused_count, 2);
        assert_eq!(c.per_class[1].accuracy, Some(1.0));
        assert_eq!(c.per_class[1].confused_with, None);
        assert_eq!(c.per_class[2].accuracy, None);
        // overall: (8 + 5) / 15
        assert_eq!(c.accuracy, Some(13.0 / 15.0));
        assert_eq!(c.weakest(1)[0].class, "a");
    }

    #[test]
    fn weakest_lists_only_classes_below_the_best() {
        // Two classes: only the less accurate one, though 3 are asked for.
        let c = Confusion::new(&[vec![9, 1], vec![2, 8]], &["a", "b"]).unwrap();
        let names: Vec<&str> = c.weakest(3).iter().map(|w| w.class.as_str()).collect();
        assert_eq!(names, ["b"]);
        // All equal: none, and the heading says so instead of naming the best class.
        let c = Confusion::new(&[vec![5, 0], vec![0, 5]], &["a", "b"]).unwrap();
        assert!(c.weakest(3).is_empty());
        let text = c.render(Format::Table, None);
        assert!(text.contains("every class equally accurate"), "{text}");
        assert!(!text.contains("weakest"), "{text}");
        // Ties at the top stay out; the worst comes first; a class without images is no class
        // to rank.
        let m = vec![
            vec![4, 0, 0, 0],
            vec![0, 4, 0, 0],
            vec![1, 1, 2, 0],
            vec![0, 0, 0, 0],
        ];
        let c = Confusion::new(&m, &["a", "b", "c", "d"]).unwrap();
        let names: Vec<&str> = c.weakest(3).iter().map(|w| w.class.as_str()).collect();
        assert_eq!(names, ["c"]);
    }

    #[test]
    fn shape_must_match_the_classes() {
        let err = Confusion::new(&[vec![1, 2], vec![3]], &["a", "b"]).unwrap_err();
        assert!(err.to_string().contains("2 classes"), "{err}");
        assert!(Confusion::new(&[vec![1]], &["a", "b"]).is_err());
    }
}
