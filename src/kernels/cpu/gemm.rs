//! Matrix products on strided f32 slices, through the gemm crate.

/// A matrix in a mutable slice, with row and column strides.
pub(super) struct Strided<'a> {
    pub(super) data: &'a mut [f32],
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix with `n` columns.
    #[inline]
    pub(super) fn rows(data: &'a mut [f32], n: usize) -> Self {
        Strided { data, rs: n, cs: 1 }
    }
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)` with explicit row/column strides; the
/// destination may have any strides (a transposed one, for instance).
// A GEMM's own interface: three sizes, whether to accumulate, and each operand with its
// strides, as the gemm crate takes them.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn matmul(
    dst: Strided,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The pointers below are only read within these extents.
    assert!(dst.data.len() > (m - 1) * dst.rs + (n - 1) * dst.cs);
    assert!(k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst.data[i * dst.rs + j * dst.cs] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: the assertions above keep every index gemm computes inside the three slices, and
    // `dst` does not alias `lhs` or `rhs` (they are distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
