//! A summary of a dataset for people and scripts: what was read, from where, how it splits for
//! the search, and statistics measured from the pixels, so a wrong file or a mismatched
//! normalisation shows up before hours of training.

use super::Dataset;
use super::kind::{DatasetKind, Format, Normalize};
use super::sampling::search_split;
use serde::Serialize;
use std::fmt::{self, Write};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataInfo {
    pub name: String,
    pub kind: DatasetKind,
    pub format: Format,
    pub source: String,
    pub classes: Vec<String>,
    /// [C, H, W].
    pub image_shape: [usize; 3],
    pub train: usize,
    /// `None` when the dataset has no test split.
    pub test: Option<usize>,
    /// Images the search trains weights on (first half of train).
    pub weight_half: usize,
    /// Images the search trains the architecture on (second half).
    pub alpha_half: usize,
    /// Per-channel mean of the training pixels, in [0, 1].
    pub measured_mean: Vec<f64>,
    /// Per-channel standard deviation of the training pixels, in [0, 1].
    pub measured_std: Vec<f64>,
    /// The constants batches are normalised with.
    pub normalize: Normalize,
    pub hflip: bool,
    pub train_histogram: Vec<usize>,
    pub test_histogram: Option<Vec<usize>>,
}

pub fn info(ds: &Dataset) -> DataInfo {
    let (weights, alpha) = search_split(ds.train.len());
    let (measured_mean, measured_std) = ds.train.channel_stats();
    let classes = ds.num_classes();
    DataInfo {
        name: ds.name.clone(),
        kind: ds.kind,
        format: ds.format,
        source: ds.source.clone(),
        classes: ds.classes.clone(),
        image_shape: ds.image_shape(),
        train: ds.train.len(),
        test: ds.test.as_ref().map(|t| t.len()),
        weight_half: weights.len(),
        alpha_half: alpha.len(),
        measured_mean,
        measured_std,
        normalize: ds.normalize.clone(),
        hflip: ds.hflip,
        train_histogram: ds.train.class_histogram(classes),
        test_histogram: ds.test.as_ref().map(|t| t.class_histogram(classes)),
    }
}

fn list<T: fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A few aligned lines plus a per-class table.
pub fn render_text(i: &DataInfo) -> String {
    let mut s = String::new();
    let [c, h, w] = i.image_shape;
    // Writing into a String cannot fail.
    let _ = writeln!(s, "{}", i.name);
    let _ = writeln!(s, "  source       {}", i.source);
    let _ = writeln!(s, "  kind         {}", i.kind);
    let _ = writeln!(s, "  format       {}", i.format);
    let _ = writeln!(s, "  images       {c}×{h}×{w} (C×H×W)");
    let _ = writeln!(
        s,
        "  train        {} (search: {} weights + {} alpha)",
        i.train, i.weight_half, i.alpha_half
    );
    let test = i.test.map_or("none".to_string(), |t| t.to_string());
    let _ = writeln!(s, "  test         {test}");
    let _ = writeln!(
        s,
        "  measured     mean {}   std {}   (training pixels, 0-1 scale)",
        list(&i.measured_mean),
        list(&i.measured_std)
    );
    let _ = writeln!(
        s,
        "  normalise    mean {}   std {}",
        list(&i.normalize.mean),
        list(&i.normalize.std)
    );
    let _ = writeln!(s, "  hflip        {}", if i.hflip { "yes" } else { "no" });
    let _ = writeln!(s, "  classes      {}", i.classes.len());
    let width = i
        .classes
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0);
    let digits = i.classes.len().saturating_sub(1).to_string().len();
    let _ = writeln!(
        s,
        "    {:>digits$}  {:<width$}  {:>7}  {:>7}",
        "#", "name", "train", "test"
    );
    for (k, name) in i.classes.iter().enumerate() {
        let train = i.train_histogram.get(k).copied().unwrap_or(0);
        let test = match &i.test_histogram {
            Some(h) => h.get(k).copied().unwrap_or(0).to_string(),
            None => "-".into(),
        };
        let _ = writeln!(s, "    {k:>digits$}  {name:<width$}  {train:>7}  {test:>7}");
    }
    s
}

impl fmt::Display for DataInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_text(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_info_is_measured_and_complete() {
        let ds = super::super::bundled_for_tests();
        let i = info(ds);
        assert_eq!(i.image_shape, [1, 28, 28]);
        assert_eq!((i.train, i.test), (10_000, Some(2_000)));
        assert_eq!((i.weight_half, i.alpha_half), (5_000, 5_000));
        assert_eq!(i.train_histogram, vec![1000; 10]);
        assert_eq!(i.test_histogram, Some(vec![200; 10]));
        // Measured statistics are close to, but computed independently of, the constants.
        assert!((i.measured_mean[0] - 0.286).abs() < 0.02);
        assert!((i.measured_std[0] - 0.353).abs() < 0.02);
        assert_ne!(i.measured_mean[0], i.normalize.mean[0] as f64);

        let json: serde_json::Value = serde_json::to_value(&i).unwrap();
        assert_eq!(json["format"], "bundled");
        assert_eq!(json["kind"], "fashion-mnist");
        assert_eq!(json["classes"][9], "Ankle boot");
        assert_eq!(json["image_shape"], serde_json::json!([1, 28, 28]));

        let text = i.to_string();
        assert_eq!(text, render_text(&i));
        assert!(
            text.contains("10000 (search: 5000 weights + 5000 alpha)"),
            "{text}"
        );
        assert!(text.contains("Ankle boot"));
        assert_eq!(
            text.lines().filter(|l| l.contains(" 1000 ")).count(),
            10,
            "{text}"
        );
    }
}
