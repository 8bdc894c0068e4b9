//! Checkpoints: every tensor of a job (network, alpha, optimiser states) by name in one
//! safetensors file, with the job's loop state as JSON in its metadata.
//!
//! Files are written atomically ([`crate::storage::write_atomic`]), so a crash leaves either
//! the previous checkpoint or the new one, never a torn file. A CRC32 of
//! the tensor bytes is stored too, so a file damaged afterwards is refused rather than loaded.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Tensor, TensorData, Transaction};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// The tensors of a checkpoint on their way from the device, by name: one transaction, so a
/// whole checkpoint is one host round trip, and awaited, since a page's WebGPU can only read
/// asynchronously (a synchronous read there panics).
#[derive(Default)]
pub struct Readback {
    names: Vec<String>,
    tx: Option<Transaction>,
}

impl Readback {
    pub fn add<const D: usize>(&mut self, name: String, t: Tensor<D>) {
        // One transaction holds tensors of one backend: parameters are autodiff tensors,
        // optimiser buffers are not, so every tensor goes in without autodiff.
        self.tx = Some(self.tx.take().unwrap_or_default().register(t.inner()));
        self.names.push(name);
    }

    /// The values, by name.
    pub async fn read(self) -> BTreeMap<String, TensorData> {
        let Some(tx) = self.tx else {
            return BTreeMap::new();
        };
        crate::device_stats::count_host_read();
        #[cfg(target_family = "wasm")]
        let data = tx
            .execute_async()
            .await
            .expect("the device returns its values");
        #[cfg(not(target_family = "wasm"))]
        let data = tx.execute();
        self.names.into_iter().zip(data).collect()
    }
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    // The cause is in the message, so it is not also a `source` (a chained message would
    // say it twice).
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not a valid checkpoint ({reason}); it may be truncated or damaged")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: checkpoint holds no '{key}' entry")]
    MissingKey { path: PathBuf, key: String },
}

const STATE_KEY: &str = "darts_pt_state";
const CRC_KEY: &str = "darts_pt_crc32";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |error| CheckpointError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Writes `bytes` to `path` atomically (see [`crate::storage::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    crate::storage::write_atomic(path, bytes).map_err(io(path))
}

/// A checkpoint in memory: named tensors plus a JSON loop state.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    pub tensors: BTreeMap<String, TensorData>,
    pub state: serde_json::Value,
}

fn to_dtype(d: DType) -> Option<Dtype> {
    match d {
        DType::F32 => Some(Dtype::F32),
        DType::F64 => Some(Dtype::F64),
        DType::I64 => Some(Dtype::I64),
        DType::I32 => Some(Dtype::I32),
        DType::U8 => Some(Dtype::U8),
        _ => None,
    }
}

fn from_dtype(d: Dtype) -> Option<DType> {
    match d {
        Dtype::F32 => Some(DType::F32),
        Dtype::F64 => Some(DType::F64),
        Dtype::I64 => Some(DType::I64),
        Dtype::I32 => Some(DType::I32),
        Dtype::U8 => Some(DType::U8),
        _ => None,
    }
}

impl Checkpoint {
    /// Serialises and writes atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let mut crc = crc32fast::Hasher::new();
        let mut views = Vec::with_capacity(self.tensors.len());
        for (name, data) in &self.tensors {
            let dtype = to_dtype(data.dtype()).ok_or_else(|| CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("tensor '{name}' has unsupported dtype {:?}", data.dtype()),
            })?;
            crc.update(name.as_bytes());
            crc.update(data.as_bytes());
            let view =
                TensorView::new(dtype, data.shape().to_vec(), data.as_bytes()).map_err(|e| {
                    CheckpointError::Corrupt {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    }
                })?;
            views.push((name.clone(), view));
        }
        let mut meta = HashMap::new();
        meta.insert(STATE_KEY.to_string(), self.state.to_string());
        meta.insert(CRC_KEY.to_string(), format!("{:08x}", crc.finalize()));
        let bytes =
            safetensors::serialize(views, Some(meta)).map_err(|e| CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        write_atomic(path, &bytes)
    }

    /// Reads and verifies a checkpoint.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        Self::from_bytes(&crate::storage::read(path).map_err(io(path))?, path)
    }

    /// [`Self::load`] on the file's bytes; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let (_, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
        let meta = metadata.metadata().clone().unwrap_or_default();
        let state_text = meta
            .get(STATE_KEY)
            .ok_or_else(|| CheckpointError::MissingKey {
                path: path.to_path_buf(),
                key: STATE_KEY.into(),
            })?;
        let state = serde_json::from_str(state_text).map_err(|e| corrupt(e.to_string()))?;
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        let mut crc = crc32fast::Hasher::new();
        let mut tensors = BTreeMap::new();
        for name in names {
            let view = st.tensor(&name).map_err(|e| corrupt(e.to_string()))?;
            let dtype = from_dtype(view.dtype())
                .ok_or_else(|| corrupt(format!("tensor '{name}' has an unsupported dtype")))?;
            crc.update(name.as_bytes());
            crc.update(view.data());
            let data =
                TensorData::try_from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype)
                    .map_err(|e| corrupt(format!("tensor '{name}': {e}")))?;
            tensors.insert(name, data);
        }
        let expected = meta
            .get(CRC_KEY)
            .ok_or_else(|| CheckpointError::MissingKey {
                path: path.to_path_buf(),
                key: CRC_KEY.into(),
            })?;
        let found = format!("{:08x}", crc.finalize());
        if *expected != found {
            return Err(corrupt(format!(
                "checksum mismatch (stored {expected}, computed {found})"
            )));
        }
        Ok(Checkpoint { tensors, state })
    }

    /// The tensors whose names start with `prefix.`, with the prefix removed.
    pub fn section(&self, prefix: &str) -> BTreeMap<String, TensorData> {
        let dotted = format!("{prefix}.");
        self.tensors
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&dotted).map(|r| (r.to_string(), v.clone())))
            .collect()
    }

    /// Adds `tensors` under `prefix.`.
    pub fn insert_section(&mut self, prefix: &str, tensors: BTreeMap<String, TensorData>) {
        for (k, v) in tensors {
            self.tensors.insert(format!("{prefix}.{k}"), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sample() -> Checkpoint {
        let mut c = Checkpoint::default();
        c.tensors.insert(
            "net.w".into(),
            TensorData::new(vec![1.0f32, -2.5, 3.25, 0.0], [2, 2]),
        );
        c.tensors
            .insert("opt.m".into(), TensorData::new(vec![0.5f32; 3], [3]));
        c.state = serde_json::json!({"epoch": 3, "step": 17});
        c
    }

    #[test]
    fn round_trips_tensors_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let c = sample();
        c.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.state, c.state);
        assert_eq!(back.tensors.len(), 2);
        assert_eq!(
            back.tensors["net.w"].try_to_vec::<f32>().unwrap(),
            vec![1.0, -2.5, 3.25, 0.0]
        );
        assert_eq!(back.section("opt")["m"].shape().to_vec(), vec![3]);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A save that fails (here its rename, onto a directory holding a file; a full disk fails
    /// the same way earlier) keeps the previous state of the directory and says the cause once.
    #[test]
    fn a_failed_save_leaves_no_temporary_file_and_says_the_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), b"x").unwrap();
        let err = anyhow::Error::from(sample().save(&path).unwrap_err());
        let text = format!("{err:#}");
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        let parts: Vec<&str> = text.split(": ").collect();
        let distinct: std::collections::HashSet<&&str> = parts.iter().collect();
        assert_eq!(distinct.len(), parts.len(), "{text}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn truncated_or_damaged_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        sample().save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();

        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let err = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(err.contains("not a valid checkpoint"), "{err}");

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        fs::write(&path, &flipped).unwrap();
        let err = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");

        fs::write(&path, b"").unwrap();
        assert!(Checkpoint::load(&path).is_err());
    }
}
