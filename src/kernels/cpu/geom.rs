//! The geometry of a 2-D convolution: shapes, output size and the derived group sizes.

/// The geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub dil: usize,
    pub groups: usize,
}

impl ConvGeom {
    #[inline]
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.dil * (self.kh - 1) - 1) / self.stride + 1
    }
    #[inline]
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.dil * (self.kw - 1) - 1) / self.stride + 1
    }
    #[inline]
    pub(super) fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }
    #[inline]
    pub(super) fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of the im2col matrix of one group: `c_in/groups * kh * kw`.
    #[inline]
    pub(super) fn k(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }
    #[inline]
    pub(super) fn is_depthwise(&self) -> bool {
        self.cin_g() == 1 && self.cout_g() == 1
    }
    #[inline]
    pub(super) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        self.n * self.c_out * self.out_h() * self.out_w()
    }
    pub fn w_len(&self) -> usize {
        self.c_out * self.k()
    }
}
