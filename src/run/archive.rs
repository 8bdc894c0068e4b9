//! A run directory as one zip file: how a run made in the page leaves it (a download) and how
//! a run written by the desktop enters it (an upload, as a zip or as a folder's files). The
//! zip holds the run's folder, `NAME/config.toml`, ..., as `zip -r NAME.zip NAME` writes it;
//! an archive made inside the folder (no `NAME/`) is read too.

use std::io::{Cursor, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::dir::CONFIG_FILE;
use crate::storage;

/// The most an archive may unpack to: runs are megabytes; this stops a hostile zip from
/// filling the page's memory.
pub const MAX_UNPACKED: u64 = 2 << 30;

/// The files of the run at `dir`, under the folder's own name, as a zip.
pub fn pack(dir: &Path) -> Result<Vec<u8>> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    if !storage::is_file(&dir.join(CONFIG_FILE)) {
        bail!(
            "{}: not a darts-pt run directory (no {CONFIG_FILE})",
            dir.display()
        );
    }
    let mut files = Vec::new();
    collect(dir, Path::new(&name), &mut files)?;
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (rel, path) in files {
        // Checkpoints are float noise to deflate (a few percent for seconds of work in a
        // page); the text files shrink several times.
        let method = match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => CompressionMethod::Stored,
            _ => CompressionMethod::Deflated,
        };
        let bytes =
            storage::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        zip.start_file(rel, SimpleFileOptions::default().compression_method(method))?;
        zip.write_all(&bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Every file under `dir` (hidden ones left out: temporary files), as (name in the zip, path).
fn collect(dir: &Path, prefix: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let mut entries =
        storage::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries.into_iter().filter(|e| !e.name.starts_with('.')) {
        let (path, rel) = (dir.join(&e.name), prefix.join(&e.name));
        if e.is_dir {
            collect(&path, &rel, out)?;
        } else {
            // Zip names use '/' whatever the platform.
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>();
            out.push((name.join("/"), path));
        }
    }
    Ok(())
}

/// Unpacks a zip holding one run into a new directory under `parent`; returns that directory.
/// `fallback` names it when the zip has no top folder (the zip file's own name, say).
pub fn unpack(bytes: &[u8], parent: &Path, fallback: &str) -> Result<PathBuf> {
    let mut zip =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| anyhow!("not a zip archive ({e})"))?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
        let rel = f
            .enclosed_name()
            .ok_or_else(|| anyhow!("'{name}': a path that leaves the archive's folder"))?;
        let size = f.size();
        total += size;
        if total > MAX_UNPACKED {
            bail!(
                "the archive unpacks to more than {} MiB",
                MAX_UNPACKED >> 20
            );
        }
        let mut data = Vec::with_capacity(size as usize);
        // `take`: a size field that lies cannot make the read grow without bound.
        (&mut f)
            .take(size + 1)
            .read_to_end(&mut data)
            .with_context(|| format!("'{name}' cannot be read"))?;
        if data.len() as u64 != size {
            bail!(
                "'{name}': {} bytes where the archive says {size}",
                data.len()
            );
        }
        files.push((rel, data));
    }
    place(files, parent, fallback)
}

/// Writes one run, given as its files with paths relative to what was chosen (a folder's
/// files as the browser lists them, `NAME/config.toml`, ...), into a new directory under
/// `parent`.
pub fn unpack_files(
    files: Vec<(String, Vec<u8>)>,
    parent: &Path,
    fallback: &str,
) -> Result<PathBuf> {
    let mut out = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let rel = PathBuf::from(&name);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("'{name}': a path that leaves the chosen folder");
        }
        out.push((rel, bytes));
    }
    place(out, parent, fallback)
}

/// Finds the run among `files` (the shallowest folder holding a `config.toml`) and writes its
/// files under `parent`, in a directory of the run's name not taken yet. All or nothing: a
/// failed write removes what was written.
fn place(files: Vec<(PathBuf, Vec<u8>)>, parent: &Path, fallback: &str) -> Result<PathBuf> {
    let root = files
        .iter()
        .filter(|(p, _)| p.file_name().is_some_and(|n| n == CONFIG_FILE))
        .filter_map(|(p, _)| p.parent())
        .min_by_key(|p| p.components().count())
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("no darts-pt run in it (no {CONFIG_FILE})"))?;
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_string());
    let dir = free_name(parent, &name);
    storage::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (rel, bytes) in files {
        let Ok(inside) = rel.strip_prefix(&root) else {
            continue;
        };
        let path = dir.join(inside);
        if let Err(e) = storage::write(&path, &bytes) {
            let _ = storage::remove_dir_all(&dir);
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
    }
    Ok(dir)
}

/// `parent/name`, or `parent/name-2`, `-3`, ... when it is taken.
fn free_name(parent: &Path, name: &str) -> PathBuf {
    let name: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let name = match name.trim_matches('.') {
        "" => "run".to_string(),
        _ => name,
    };
    (1..)
        .map(|i| match i {
            1 => parent.join(&name),
            _ => parent.join(format!("{name}-{i}")),
        })
        .find(|p| !storage::exists(p))
        .expect("some name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        storage::write(&dir.join(rel), text.as_bytes()).unwrap();
    }

    #[test]
    fn a_run_round_trips_through_a_zip_and_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("my-run");
        write(&run, "config.toml", "space = \"nb201\"\n");
        write(&run, "metrics.jsonl", "{\"epoch\":1}\n");
        write(&run, "sub/x.safetensors", "0123");
        write(&run, ".checkpoint.safetensors.tmp-1", "half");
        let zip = pack(&run).unwrap();

        let into = tmp.path().join("page");
        let a = unpack(&zip, &into, "upload").unwrap();
        assert_eq!(a, into.join("my-run"));
        for rel in ["config.toml", "metrics.jsonl", "sub/x.safetensors"] {
            assert_eq!(
                storage::read(&a.join(rel)).unwrap(),
                storage::read(&run.join(rel)).unwrap()
            );
        }
        assert!(!storage::exists(&a.join(".checkpoint.safetensors.tmp-1")));
        let b = unpack(&zip, &into, "upload").unwrap();
        assert_eq!(b, into.join("my-run-2"));
    }

    #[test]
    fn a_zip_made_inside_the_folder_and_a_folder_upload_are_runs_too() {
        let tmp = tempfile::tempdir().unwrap();
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("config.toml", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"x").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let a = unpack(&bytes, tmp.path(), "from-zip").unwrap();
        assert_eq!(a, tmp.path().join("from-zip"));
        assert!(storage::is_file(&a.join("config.toml")));

        let files = vec![
            ("r/config.toml".to_string(), b"x".to_vec()),
            ("r/run.json".to_string(), b"{}".to_vec()),
        ];
        let b = unpack_files(files, tmp.path(), "unused").unwrap();
        assert_eq!(b, tmp.path().join("r"));
        assert!(storage::is_file(&b.join("run.json")));
    }

    #[test]
    fn foreign_and_hostile_archives_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = unpack(b"not a zip", tmp.path(), "x").unwrap_err();
        assert!(err.to_string().contains("not a zip"), "{err}");

        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("notes.txt", SimpleFileOptions::default())
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let err = unpack(&bytes, tmp.path(), "x").unwrap_err();
        assert!(err.to_string().contains("no darts-pt run"), "{err}");

        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("../evil/config.toml", SimpleFileOptions::default())
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let err = unpack(&bytes, &tmp.path().join("in"), "x").unwrap_err();
        assert!(err.to_string().contains("leaves"), "{err}");
        assert!(!tmp.path().join("evil").exists());

        let files = vec![("../config.toml".to_string(), b"x".to_vec())];
        assert!(unpack_files(files, tmp.path(), "x").is_err());
        assert!(
            pack(tmp.path()).is_err(),
            "a folder without a run is not packed"
        );
    }
}
