//! IDX files (the MNIST family): a big-endian header of magic, type and dimensions, then raw
//! bytes. Gzipped files are recognised by content, not name, so a renamed file still reads.

use super::error::{DataError, read_file};
use super::image_set::ImageSet;
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of a u8 array with 3 dimensions (N×H×W images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a u8 array with 1 dimension (N labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Deflate cannot expand data more than about 1032 to 1, so a gzip stream of n bytes holds at
/// most this many times n.
const GZIP_MAX_RATIO: usize = 1032;

/// Decompresses `bytes` when they start with the gzip signature, no further than the IDX
/// header inside says the file holds (and one byte more, so a longer stream is still caught as
/// the wrong size). A header that claims more than the stream could hold is refused before any
/// memory is reserved for it; a stream that expands past its header's claim (a gzip bomb) is
/// not decompressed to its end.
pub(crate) fn maybe_gunzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let bad =
        |e: std::io::Error| DataError::malformed(path, format!("cannot decompress gzip data: {e}"));
    let mut stream = MultiGzDecoder::new(bytes.as_slice());
    let mut out = Vec::new();
    (&mut stream).take(4).read_to_end(&mut out).map_err(bad)?;
    let Some(&ndim) = out.get(3) else {
        return Ok(out);
    };
    (&mut stream)
        .take(4 * u64::from(ndim))
        .read_to_end(&mut out)
        .map_err(bad)?;
    let header = 4 + 4 * ndim as usize;
    let claimed = out[4..]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .try_fold(1usize, |acc, d| acc.checked_mul(d));
    let limit = bytes.len().saturating_mul(GZIP_MAX_RATIO);
    match claimed {
        Some(n) if out.len() == header && n > limit => Err(DataError::malformed(
            path,
            format!(
                "the IDX header claims {n} data bytes, more than {} bytes of gzip data can hold",
                bytes.len()
            ),
        )),
        // Short headers and overflowing dimensions are `parse`'s to report.
        Some(n) if out.len() == header => {
            (&mut stream)
                .take(n as u64 + 1)
                .read_to_end(&mut out)
                .map_err(bad)?;
            Ok(out)
        }
        _ => Ok(out),
    }
}

/// Parses an IDX u8 array with the expected magic; returns its dimensions and payload.
pub(crate) fn parse(
    bytes: &[u8],
    expected: u32,
    what: &'static str,
    path: &Path,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let header = bytes
        .get(..4)
        .ok_or_else(|| DataError::malformed(path, "too short for an IDX header"))?;
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if magic != expected {
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            found: magic,
            expected,
            what,
        });
    }
    let ndim = (expected & 0xff) as usize;
    let dims_end = 4 + 4 * ndim;
    let dims: Vec<usize> = bytes
        .get(4..dims_end)
        .ok_or_else(|| DataError::malformed(path, "truncated IDX header"))?
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let expected_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::malformed(path, format!("IDX dimensions {dims:?} overflow")))?;
    let payload = &bytes[dims_end..];
    if payload.len() != expected_len {
        return Err(DataError::malformed(
            path,
            format!(
                "IDX header {dims:?} needs {expected_len} data bytes but the file has {}",
                payload.len()
            ),
        ));
    }
    Ok((dims, payload.to_vec()))
}

/// Builds an image set from the bytes of an images file and a labels file (either gzipped).
pub(crate) fn image_set_from_bytes(
    images: Vec<u8>,
    images_path: &Path,
    labels: Vec<u8>,
    labels_path: &Path,
    classes: usize,
) -> Result<ImageSet, DataError> {
    let images = maybe_gunzip(images, images_path)?;
    let (dims, pixels) = parse(&images, IMAGES_MAGIC, "images", images_path)?;
    let labels = maybe_gunzip(labels, labels_path)?;
    let (_, labels) = parse(&labels, LABELS_MAGIC, "labels", labels_path)?;
    if labels.len() != dims[0] {
        return Err(DataError::CountMismatch {
            path: labels_path.to_path_buf(),
            images: dims[0],
            labels: labels.len(),
        });
    }
    if let Some(index) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: labels_path.to_path_buf(),
            label: labels[index] as i64,
            index,
            classes,
        });
    }
    Ok(ImageSet {
        images: pixels,
        labels: labels.into_iter().map(u16::from).collect(),
        channels: 1,
        height: dims[1],
        width: dims[2],
    })
}

/// Reads an images/labels pair from disk.
pub fn read_pair(images: &Path, labels: &Path, classes: usize) -> Result<ImageSet, DataError> {
    image_set_from_bytes(
        read_file(images)?,
        images,
        read_file(labels)?,
        labels,
        classes,
    )
}

/// The images and labels files of split `prefix` (`train` or `t10k`) in `dir`, under any of the
/// names the datasets are distributed with.
pub(crate) fn find_split(dir: &Path, prefix: &str) -> Option<(PathBuf, PathBuf)> {
    let find = |kind: &str, rank: &str| {
        [
            format!("{prefix}-{kind}-{rank}-ubyte.gz"),
            format!("{prefix}-{kind}-{rank}-ubyte"),
            format!("{prefix}-{kind}.{rank}-ubyte"),
            format!("{prefix}-{kind}.{rank}-ubyte.gz"),
        ]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
    };
    Some((find("images", "idx3")?, find("labels", "idx1")?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// The bytes of an IDX file with the given magic, dimensions and payload.
    pub(crate) fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Writes a train split of `n` 3×2 images whose pixels are `7*i + j`, labels `i % 10`.
    pub(crate) fn write_split(dir: &Path, prefix: &str, n: usize, gz: bool) -> ImageSet {
        let pixels: Vec<u8> = (0..n * 6).map(|k| (7 * (k / 6) + k % 6) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = idx_bytes(IMAGES_MAGIC, &[n as u32, 3, 2], &pixels);
        let label_file = idx_bytes(LABELS_MAGIC, &[n as u32], &labels);
        let (ext, images, label_file) = if gz {
            (".gz", gzip(&images), gzip(&label_file))
        } else {
            ("", images, label_file)
        };
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), images).unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
            label_file,
        )
        .unwrap();
        ImageSet {
            images: pixels,
            labels: labels.into_iter().map(u16::from).collect(),
            channels: 1,
            height: 3,
            width: 2,
        }
    }

    #[test]
    fn plain_and_gzipped_files_round_trip() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let want = write_split(dir.path(), "train", 13, gz);
            let (images, labels) = find_split(dir.path(), "train").unwrap();
            assert_eq!(images.extension().is_some_and(|e| e == "gz"), gz);
            let got = read_pair(&images, &labels, 10).unwrap();
            assert_eq!(got, want, "gz={gz}");
        }
    }

    #[test]
    fn wrong_magic_is_reported_with_both_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("train-images-idx3-ubyte");
        let labels = dir.path().join("train-labels-idx1-ubyte");
        // A labels file where the images file should be.
        std::fs::write(&images, idx_bytes(0x0000_0802, &[1, 1], &[0])).unwrap();
        std::fs::write(&labels, idx_bytes(LABELS_MAGIC, &[1], &[0])).unwrap();
        let err = read_pair(&images, &labels, 10).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: wrong IDX magic number 0x00000802, expected 0x00000803 (images)",
                images.display()
            )
        );
    }

    #[test]
    fn count_mismatch_and_bad_labels_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("i");
        let labels = dir.path().join("l");
        std::fs::write(&images, idx_bytes(IMAGES_MAGIC, &[3, 1, 1], &[1, 2, 3])).unwrap();
        std::fs::write(&labels, idx_bytes(LABELS_MAGIC, &[2], &[0, 1])).unwrap();
        let err = read_pair(&images, &labels, 10).unwrap_err().to_string();
        assert_eq!(err, format!("{}: 3 images but 2 labels", labels.display()));

        std::fs::write(&labels, idx_bytes(LABELS_MAGIC, &[3], &[0, 9, 12])).unwrap();
        let err = read_pair(&images, &labels, 10).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: label 12 at record 2 is out of range for 10 classes",
                labels.display()
            )
        );
    }

    /// A header that claims more than its file could hold is refused before memory is reserved
    /// for it (plain: more than the file's bytes; gzipped: more than deflate's maximum ratio),
    /// and a gzip stream is never decompressed past its header's claim.
    #[test]
    fn headers_that_claim_more_than_the_file_holds_are_refused_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = (dir.path().join("i"), dir.path().join("l"));
        std::fs::write(&labels, idx_bytes(LABELS_MAGIC, &[2], &[0, 1])).unwrap();
        let huge = idx_bytes(IMAGES_MAGIC, &[1 << 31, 28, 28], &[0; 64]);
        for file in [huge.clone(), gzip(&huge)] {
            std::fs::write(&images, &file).unwrap();
            let err = read_pair(&images, &labels, 10).unwrap_err().to_string();
            assert!(err.starts_with(&images.display().to_string()), "{err}");
            assert!(err.contains(&((1u64 << 31) * 784).to_string()), "{err}");
        }
        // 64 MB of zeros behind a header that claims 4 bytes: decompressed no further than 5.
        let mut bomb = idx_bytes(IMAGES_MAGIC, &[1, 2, 2], &[0; 4]);
        bomb.resize(64 << 20, 0);
        let bomb = gzip(&bomb);
        assert!(bomb.len() < 1 << 20);
        let out = maybe_gunzip(bomb, &images).unwrap();
        assert_eq!(out.len(), 16 + 4 + 1);
        assert!(parse(&out, IMAGES_MAGIC, "images", &images).is_err());
    }

    #[test]
    fn truncated_and_corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("i");
        let labels = dir.path().join("l");
        std::fs::write(&labels, idx_bytes(LABELS_MAGIC, &[2], &[0, 1])).unwrap();
        for bad in [
            vec![0u8, 0],                                      // no header
            idx_bytes(IMAGES_MAGIC, &[2, 2], &[]),             // header cut short
            idx_bytes(IMAGES_MAGIC, &[2, 2, 2], &[0; 7]),      // payload cut short
            idx_bytes(IMAGES_MAGIC, &[u32::MAX; 3], &[]),      // absurd dimensions
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3], // broken gzip
        ] {
            std::fs::write(&images, &bad).unwrap();
            let err = read_pair(&images, &labels, 10).unwrap_err();
            assert!(
                matches!(err, DataError::Malformed { ref path, .. } if path == &images),
                "{err}"
            );
        }
        let missing = dir.path().join("absent");
        let err = read_pair(&missing, &labels, 10).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: no such file or directory", missing.display())
        );
    }
}
