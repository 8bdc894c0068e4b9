//! A folder of images, one subfolder per class (`root/<class>/*.png`), optionally split into
//! `root/train/<class>` and `root/test/<class>`. Classes are numbered by sorted folder name so
//! the numbering does not depend on the order the file system lists them in.

use super::Loaded;
use super::error::DataError;
use super::image_set::ImageSet;
use image::{DynamicImage, ImageReader, Limits};
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Entries of `dir` that pass `keep`, sorted by name; hidden entries are skipped.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `dir` looks like an image folder: some subfolder (of `dir` or `dir/train`) holds an
/// image.
pub(crate) fn looks_like(dir: &Path) -> bool {
    let root = split_root(dir);
    sorted_entries(&root, Path::is_dir)
        .unwrap_or_default()
        .iter()
        .any(|class| {
            sorted_entries(class, is_image)
                .map(|v| !v.is_empty())
                .unwrap_or(false)
        })
}

fn split_root(dir: &Path) -> PathBuf {
    let train = dir.join("train");
    if train.is_dir() {
        train
    } else {
        dir.to_path_buf()
    }
}

/// Reads the folder: classes from `train/` (or the root), test images from `test/` if present.
pub(crate) fn load(dir: &Path) -> Result<Loaded, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let train_root = split_root(dir);
    let class_dirs = sorted_entries(&train_root, Path::is_dir)?;
    if class_dirs.is_empty() {
        return Err(DataError::NotADataset {
            path: train_root,
            message: "no class folders found".into(),
        });
    }
    let classes: Vec<String> = class_dirs
        .iter()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut reader = Reader::default();
    let train = reader.read_classes(&class_dirs, |i| Ok(i as u16))?;
    let test_root = dir.join("test");
    let test = if train_root != dir && test_root.is_dir() {
        let test_dirs = sorted_entries(&test_root, Path::is_dir)?;
        let set = reader.read_classes(&test_dirs, |i| {
            let name = test_dirs[i]
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            classes
                .iter()
                .position(|c| *c == name)
                .map(|c| c as u16)
                .ok_or_else(|| DataError::NotADataset {
                    path: test_dirs[i].clone(),
                    message: format!("class '{name}' has no training folder"),
                })
        })?;
        Some(set)
    } else {
        None
    };
    Ok(Loaded {
        classes,
        train,
        test,
    })
}

/// Decodes images and checks they all share the first one's shape.
#[derive(Default)]
struct Reader {
    /// The first image read and its (C, H, W).
    first: Option<(PathBuf, [usize; 3])>,
}

impl Reader {
    fn read_classes(
        &mut self,
        class_dirs: &[PathBuf],
        label_of: impl Fn(usize) -> Result<u16, DataError>,
    ) -> Result<ImageSet, DataError> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for (i, class_dir) in class_dirs.iter().enumerate() {
            let label = label_of(i)?;
            let files = sorted_entries(class_dir, is_image)?;
            if files.is_empty() {
                return Err(DataError::EmptyClass {
                    path: class_dir.clone(),
                });
            }
            for file in files {
                self.read_into(&file, &mut images)?;
                labels.push(label);
            }
        }
        let [channels, height, width] = self.first.as_ref().map(|f| f.1).unwrap_or_default();
        Ok(ImageSet {
            images,
            labels,
            channels,
            height,
            width,
        })
    }

    /// Appends one image as C×H×W bytes: grayscale stays one channel, anything else becomes RGB
    /// (alpha is dropped, since the model never sees transparency).
    fn read_into(&mut self, path: &Path, out: &mut Vec<u8>) -> Result<(), DataError> {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        let image = decode(&bytes, path)?;
        let channels = if image.color().has_color() { 3 } else { 1 };
        let shape = [channels, image.height() as usize, image.width() as usize];
        match &self.first {
            None => self.first = Some((path.to_path_buf(), shape)),
            Some((first, want)) if *want != shape => {
                return Err(DataError::malformed(
                    path,
                    format!(
                        "image is {}×{}×{} (C×H×W) but {} is {}×{}×{}; all images must match",
                        shape[0],
                        shape[1],
                        shape[2],
                        first.display(),
                        want[0],
                        want[1],
                        want[2]
                    ),
                ));
            }
            Some(_) => {}
        }
        push_planar(&image, channels, out);
        Ok(())
    }
}

/// The largest side of an image in a folder dataset; the decoder refuses larger ones from the
/// header, before it allocates (NAS datasets hold images of tens of pixels).
const MAX_SIDE: u32 = 4096;

/// Decodes one image file's bytes, its format told by its content; `path` names it in errors.
pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<DynamicImage, DataError> {
    let decode_error = |e: &dyn std::fmt::Display| DataError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(4 * u64::from(MAX_SIDE) * u64::from(MAX_SIDE));
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(&e))?;
    reader.limits(limits);
    reader.decode().map_err(|e| decode_error(&e))
}

fn push_planar(image: &DynamicImage, channels: usize, out: &mut Vec<u8>) {
    if channels == 1 {
        out.extend_from_slice(image.to_luma8().as_raw());
        return;
    }
    let rgb = image.to_rgb8();
    let raw = rgb.as_raw();
    for c in 0..3 {
        out.extend(raw.iter().skip(c).step_by(3));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{GrayImage, RgbImage};

    /// A 5×4 RGB image whose pixels encode (seed, channel, y, x).
    pub(crate) fn rgb(seed: u8) -> RgbImage {
        RgbImage::from_fn(5, 4, |x, y| {
            image::Rgb([
                seed.wrapping_mul(31) ^ (x as u8 + 10 * y as u8),
                100 + x as u8,
                200 + y as u8,
            ])
        })
    }

    fn planar(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        for c in 0..3 {
            out.extend(img.pixels().map(|p| p.0[c]));
        }
        out
    }

    #[test]
    fn rgb_folder_round_trips_with_sorted_classes() {
        let root = tempfile::tempdir().unwrap();
        let mut want = Vec::new();
        // Created out of order: labels must follow the sorted names.
        for (class, seeds) in [("zebra", [3u8, 4]), ("ant", [1, 2])] {
            let dir = root.path().join(class);
            std::fs::create_dir(&dir).unwrap();
            for s in seeds {
                rgb(s).save(dir.join(format!("img{s}.png"))).unwrap();
            }
        }
        for s in 1..=4 {
            want.extend(planar(&rgb(s)));
        }
        std::fs::write(root.path().join("notes.txt"), "ignored").unwrap();
        assert!(looks_like(root.path()));
        let loaded = load(root.path()).unwrap();
        assert_eq!(loaded.classes, vec!["ant", "zebra"]);
        assert_eq!(loaded.train.labels, vec![0, 0, 1, 1]);
        assert_eq!(
            (
                loaded.train.channels,
                loaded.train.height,
                loaded.train.width
            ),
            (3, 4, 5)
        );
        assert_eq!(loaded.train.images, want);
        assert!(loaded.test.is_none());
    }

    #[test]
    fn grayscale_split_folder_keeps_one_channel_and_maps_test_labels() {
        let root = tempfile::tempdir().unwrap();
        for (split, class, value) in [("train", "a", 10u8), ("train", "b", 20), ("test", "b", 30)] {
            let dir = root.path().join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            GrayImage::from_pixel(3, 2, image::Luma([value]))
                .save(dir.join("x.png"))
                .unwrap();
        }
        let loaded = load(root.path()).unwrap();
        assert_eq!(loaded.classes, vec!["a", "b"]);
        assert_eq!(loaded.train.channels, 1);
        assert_eq!(loaded.train.images, [[10u8; 6], [20; 6]].concat());
        let test = loaded.test.unwrap();
        assert_eq!(test.labels, vec![1], "test class b keeps training label 1");
        assert_eq!(test.images, vec![30; 6]);
    }

    #[test]
    fn jpeg_images_decode() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("c");
        std::fs::create_dir(&dir).unwrap();
        let flat = RgbImage::from_pixel(8, 8, image::Rgb([200, 100, 50]));
        flat.save(dir.join("a.JPEG")).unwrap();
        let loaded = load(root.path()).unwrap();
        assert_eq!(loaded.train.len(), 1);
        // Lossy, but a flat colour survives within a few levels.
        for (c, want) in [200i32, 100, 50].into_iter().enumerate() {
            let plane = &loaded.train.images[c * 64..(c + 1) * 64];
            assert!(plane.iter().all(|&p| (p as i32 - want).abs() <= 3), "{c}");
        }
    }

    #[test]
    fn faults_name_the_offending_file() {
        let root = tempfile::tempdir().unwrap();
        let cat = root.path().join("train").join("cat");
        let dog = root.path().join("train").join("dog");
        std::fs::create_dir_all(&cat).unwrap();
        std::fs::create_dir_all(&dog).unwrap();
        rgb(1).save(cat.join("a.png")).unwrap();

        let err = load(root.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: class folder has no images", dog.display())
        );

        let odd = dog.join("odd.png");
        GrayImage::new(5, 4).save(&odd).unwrap();
        let err = load(root.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: image is 1×4×5 (C×H×W) but ", odd.display())),
            "{err}"
        );

        let broken = cat.join("x.png");
        std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").unwrap();
        let err = load(root.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: cannot decode image: ", broken.display())),
            "{err}"
        );

        let missing = root.path().join("nowhere");
        let err = load(&missing).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: no such file or directory", missing.display())
        );
    }
}
