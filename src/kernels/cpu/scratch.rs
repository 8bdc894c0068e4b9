//! Per-thread scratch buffers of the wide stride-1 path, kept across calls.

use super::geom::ConvGeom;
use super::wide::Wide;

/// Per-thread scratch of the wide stride-1 path: padded input planes, columns and one wide
/// output (or output-gradient) block. The padded planes' borders are written only once, as
/// zeros, and stay zero: every use writes just the interior.
pub(super) struct WideScratch {
    pub(super) padded: Vec<f32>,
    pub(super) cols: Vec<f32>,
    pub(super) out: Vec<f32>,
}

/// What a [`WideScratch`]'s sizes and zero borders depend on: the padded plane and its
/// padding, the wide length, input channels, rows of columns and output channels per group.
type ScratchKey = (usize, usize, usize, usize, usize, usize, usize);

thread_local! {
    /// Each thread's scratch per layout. Zeroing fresh scratch for every parallel job cost a
    /// few percent of a supernet step; a network has only a handful of layouts.
    static WIDE_SCRATCH: std::cell::RefCell<std::collections::HashMap<ScratchKey, WideScratch>> =
        Default::default();
}

impl WideScratch {
    fn new(wd: &Wide, g: &ConvGeom) -> Self {
        WideScratch {
            padded: vec![0.0; g.cin_g() * wd.plane()],
            cols: vec![0.0; g.k() * wd.len],
            out: vec![0.0; g.cout_g() * wd.len],
        }
    }

    /// Runs `f` on this thread's scratch for the layout of `wd` and `g`. `f` must not start
    /// parallel work (a job stolen meanwhile could ask for the same scratch).
    pub(super) fn with<R>(wd: &Wide, g: &ConvGeom, f: impl FnOnce(&mut WideScratch) -> R) -> R {
        let key = (wd.hp, wd.wp, wd.pad, wd.len, g.cin_g(), g.k(), g.cout_g());
        WIDE_SCRATCH
            .with_borrow_mut(|cache| f(cache.entry(key).or_insert_with(|| WideScratch::new(wd, g))))
    }
}
