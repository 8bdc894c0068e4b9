//! Per-step numbers (a loss, a count of correct answers) kept on the device through a window
//! of steps and read back in one transfer when the window ends: at a log line, an epoch's end,
//! the end of an evaluation pass. The same reading finds the first step whose numbers are not
//! finite, which is how a job notices that it diverged.

use burn::tensor::Tensor;

use super::read;

/// The rows of a window, still on the device.
#[derive(Default)]
pub struct Window {
    rows: Vec<Tensor<1>>,
    /// Per row: (step, images).
    steps: Vec<(usize, usize)>,
}

impl Window {
    /// Adds the numbers of one step over `n` images (every row of a window has the same
    /// length).
    pub fn push(&mut self, step: usize, n: usize, values: Tensor<1>) {
        self.rows.push(values);
        self.steps.push((step, n));
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Reads every row (one transfer) and empties the window.
    pub async fn read(&mut self) -> Rows {
        let steps = std::mem::take(&mut self.steps);
        if steps.is_empty() {
            return Rows::default();
        }
        let values = read::floats(Tensor::cat(std::mem::take(&mut self.rows), 0)).await;
        let width = values.len() / steps.len();
        Rows {
            width,
            values,
            steps,
        }
    }
}

/// The numbers of a window on the host, in step order.
#[derive(Debug, Default)]
pub struct Rows {
    width: usize,
    values: Vec<f32>,
    steps: Vec<(usize, usize)>,
}

impl Rows {
    /// The rows in step order.
    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks(self.width.max(1))
    }

    fn column(&self, c: usize) -> impl Iterator<Item = f32> + '_ {
        self.rows().map(move |r| r[c])
    }

    /// Images over the window.
    pub fn images(&self) -> usize {
        self.steps.iter().map(|(_, n)| n).sum()
    }

    /// The first step with a value that is NaN or infinite.
    pub fn first_non_finite(&self) -> Option<usize> {
        self.rows()
            .zip(&self.steps)
            .find(|(r, _)| r.iter().any(|v| !v.is_finite()))
            .map(|(_, (step, _))| *step)
    }

    /// Column `c` summed in f32 in step order, exactly as a running sum on the device adds it.
    pub fn sum_f32(&self, c: usize) -> f32 {
        self.column(c).reduce(|a, b| a + b).unwrap_or(0.0)
    }

    /// Column `c` summed on the host in f64, step by step, so the total does not depend on
    /// where windows begin and end.
    pub fn sum_f64(&self, c: usize) -> f64 {
        self.column(c).map(f64::from).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn row(v: &[f32], d: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), d)
    }

    #[test]
    fn a_window_reads_its_rows_in_order_and_names_the_first_bad_step() {
        let d = Device::flex();
        let mut w = Window::default();
        w.push(3, 64, row(&[1.5, 10.0], &d));
        w.push(4, 64, row(&[f32::NAN, 11.0], &d));
        w.push(5, 32, row(&[0.25, f32::INFINITY], &d));
        let rows = pollster::block_on(w.read());
        assert!(w.is_empty());
        assert_eq!(rows.images(), 160);
        assert_eq!(rows.first_non_finite(), Some(4));
        assert_eq!(rows.sum_f64(1), f64::INFINITY);
        let mut w = Window::default();
        w.push(0, 2, row(&[0.1, 1.0], &d));
        w.push(1, 2, row(&[0.2, 2.0], &d));
        let rows = pollster::block_on(w.read());
        assert_eq!(rows.first_non_finite(), None);
        assert_eq!(rows.sum_f32(0), 0.1f32 + 0.2f32);
        assert_eq!(rows.sum_f64(0), 0.1f32 as f64 + 0.2f32 as f64);
        assert_eq!(rows.sum_f32(1), 3.0);
    }
}
