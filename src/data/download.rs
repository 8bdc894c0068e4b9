//! Fetches the official CIFAR archives. Everything happens in a staging folder beside the
//! destination, which is renamed into place only after the checksum and extraction succeed, so
//! an interrupted or corrupt download never leaves a half-written dataset behind.

use super::error::DataError;
use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEFAULT_BASE: &str = "https://www.cs.toronto.edu/~kriz";

/// An official archive and the folder it unpacks to.
struct Archive {
    file: &'static str,
    md5: &'static str,
    folder: &'static str,
    /// Files the unpacked folder must hold; checked before the folder is moved into place.
    files: &'static [&'static str],
}

fn archive(name: &str) -> Option<Archive> {
    match name.to_ascii_lowercase().as_str() {
        "cifar10" => Some(Archive {
            file: "cifar-10-python.tar.gz",
            md5: "c58f30108f718f92721af3b95e74349a",
            folder: "cifar-10-batches-py",
            files: &[
                "data_batch_1",
                "data_batch_2",
                "data_batch_3",
                "data_batch_4",
                "data_batch_5",
                "test_batch",
                "batches.meta",
            ],
        }),
        "cifar100" => Some(Archive {
            file: "cifar-100-python.tar.gz",
            md5: "eb9058c3a382ffc7106e4002c42a8d85",
            folder: "cifar-100-python",
            files: &["train", "test", "meta"],
        }),
        _ => None,
    }
}

/// Downloads and unpacks `name` (`cifar10` or `cifar100`) into `to`, returning the dataset
/// folder (e.g. `to/cifar-10-batches-py`), which [`super::Dataset::open`] reads. An existing
/// folder is returned as is. `base_url` replaces the official host.
pub fn download(
    name: &str,
    to: &Path,
    base_url: Option<&str>,
    progress: bool,
) -> Result<PathBuf, DataError> {
    let archive = archive(name).ok_or_else(|| DataError::Download {
        url: name.to_string(),
        message: "unknown dataset; downloadable are cifar10 and cifar100".into(),
    })?;
    let md5 = archive.md5;
    fetch(
        &archive,
        to,
        base_url.unwrap_or(DEFAULT_BASE),
        progress,
        md5,
    )
}

/// A folder removed on drop, unless kept.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fetch(
    archive: &Archive,
    to: &Path,
    base: &str,
    progress: bool,
    expected_md5: &str,
) -> Result<PathBuf, DataError> {
    let dest = to.join(archive.folder);
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(to).map_err(|e| DataError::io(to, e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = Staging(to.join(format!(
        ".{}.partial-{}-{nanos}",
        archive.folder,
        std::process::id()
    )));
    std::fs::create_dir(&staging.0).map_err(|e| DataError::io(&staging.0, e))?;

    let url = format!("{}/{}", base.trim_end_matches('/'), archive.file);
    let tarball = staging.0.join(archive.file);
    let digest = fetch_to_file(&url, &tarball, progress)?;
    if digest != expected_md5 {
        return Err(DataError::Checksum {
            path: url.into(),
            expected: expected_md5.to_string(),
            found: digest,
        });
    }

    let unpacked = staging.0.join("unpacked");
    let file = File::open(&tarball).map_err(|e| DataError::io(&tarball, e))?;
    tar::Archive::new(GzDecoder::new(BufReader::new(file)))
        .unpack(&unpacked)
        .map_err(|e| DataError::malformed(&tarball, format!("cannot unpack the archive: {e}")))?;
    let folder = unpacked.join(archive.folder);
    if let Some(missing) = archive.files.iter().find(|f| !folder.join(f).is_file()) {
        return Err(DataError::malformed(
            &tarball,
            format!("the archive lacks {}/{missing}", archive.folder),
        ));
    }
    std::fs::rename(&folder, &dest).map_err(|e| DataError::io(&dest, e))?;
    Ok(dest)
}

/// Streams `url` into `path`, returning the MD5 of what was received as lowercase hex.
fn fetch_to_file(url: &str, path: &Path, progress: bool) -> Result<String, DataError> {
    let failed = |message: String| DataError::Download {
        url: url.to_string(),
        message,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let length = response.body().content_length();
    let bar = match (progress, length) {
        (false, _) => ProgressBar::hidden(),
        (true, Some(n)) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        (true, None) => ProgressBar::new_spinner(),
    };
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());

    let mut reader = response.into_body().into_reader();
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut writer = BufWriter::new(file);
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|e| failed(format!("after {received} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        writer
            .write_all(&buffer[..n])
            .map_err(|e| DataError::io(path, e))?;
        received += n as u64;
        bar.set_position(received);
    }
    writer.flush().map_err(|e| DataError::io(path, e))?;
    bar.finish_and_clear();
    if let Some(n) = length.filter(|&n| n != received) {
        return Err(failed(format!("received {received} of {n} bytes")));
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::Dataset;
    use super::super::cifar::tests::write_layout;
    use super::super::kind::{DatasetKind, Format};
    use super::super::pickle::tests::Style;
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    /// How the test server answers.
    #[derive(Clone)]
    enum Reply {
        Body(Vec<u8>),
        /// Claims `claimed` bytes but sends only the body, then closes.
        Short(Vec<u8>, usize),
        Status(u16),
    }

    /// Serves every request with `reply` on an ephemeral local port; returns the base URL.
    fn serve(reply: Reply) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/files", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // Read the request line and headers up to the blank line.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let (status, body, claimed) = match &reply {
                    Reply::Body(b) => (200, b.clone(), b.len()),
                    Reply::Short(b, claimed) => (200, b.clone(), *claimed),
                    Reply::Status(s) => (*s, b"no".to_vec(), 2),
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        base
    }

    /// A gzipped tar of a small CIFAR-10 python layout, and the training set inside it.
    fn small_archive() -> (Vec<u8>, super::super::ImageSet) {
        let src = tempfile::tempdir().unwrap();
        let (train, _) = write_layout(
            src.path(),
            DatasetKind::Cifar10,
            Format::CifarPython,
            Style::Python2,
        );
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        builder
            .append_dir_all(
                "cifar-10-batches-py",
                src.path().join("cifar-10-batches-py"),
            )
            .unwrap();
        (builder.into_inner().unwrap().finish().unwrap(), train)
    }

    fn md5_hex(bytes: &[u8]) -> String {
        Md5::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn cifar10() -> Archive {
        archive("cifar10").unwrap()
    }

    /// The download folder holds nothing: no destination and no staging leftovers.
    fn assert_empty(to: &Path) {
        let left: Vec<_> = std::fs::read_dir(to)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn downloads_verifies_and_unpacks() {
        let (tarball, train) = small_archive();
        let base = serve(Reply::Body(tarball.clone()));
        let to = tempfile::tempdir().unwrap();
        let dest = fetch(&cifar10(), to.path(), &base, false, &md5_hex(&tarball)).unwrap();
        assert_eq!(dest, to.path().join("cifar-10-batches-py"));
        let ds = Dataset::open(Some(&dest), None).unwrap();
        assert_eq!(
            (ds.kind, ds.format),
            (DatasetKind::Cifar10, Format::CifarPython)
        );
        assert_eq!(ds.train, train);
        // Only the dataset remains; a second call finds it without downloading.
        assert_eq!(std::fs::read_dir(to.path()).unwrap().count(), 1);
        let again = fetch(&cifar10(), to.path(), "http://127.0.0.1:1", false, "x").unwrap();
        assert_eq!(again, dest);
    }

    #[test]
    fn a_wrong_checksum_leaves_nothing() {
        let (tarball, _) = small_archive();
        let base = serve(Reply::Body(tarball));
        let to = tempfile::tempdir().unwrap();
        let err = fetch(&cifar10(), to.path(), &base, false, &"0".repeat(32)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DataError::Checksum { .. }), "{text}");
        assert!(text.contains("cifar-10-python.tar.gz") && text.contains(&"0".repeat(32)));
        assert_empty(to.path());
    }

    #[test]
    fn a_truncated_archive_leaves_nothing() {
        let (tarball, _) = small_archive();
        let cut = tarball[..tarball.len() / 2].to_vec();
        let base = serve(Reply::Body(cut.clone()));
        let to = tempfile::tempdir().unwrap();
        // The checksum matches what was served, so the fault is found while unpacking.
        let err = fetch(&cifar10(), to.path(), &base, false, &md5_hex(&cut)).unwrap_err();
        assert!(matches!(err, DataError::Malformed { .. }), "{err}");
        assert_empty(to.path());
    }

    #[test]
    fn http_errors_and_short_bodies_leave_nothing() {
        let to = tempfile::tempdir().unwrap();
        let base = serve(Reply::Status(404));
        let err = fetch(&cifar10(), to.path(), &base, false, "x").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&format!("{base}/cifar-10-python.tar.gz: download failed")));
        assert!(text.contains("404"), "{text}");
        assert_empty(to.path());

        let (tarball, _) = small_archive();
        let base = serve(Reply::Short(tarball[..1000].to_vec(), tarball.len()));
        let err = fetch(&cifar10(), to.path(), &base, false, &md5_hex(&tarball)).unwrap_err();
        assert!(matches!(err, DataError::Download { .. }), "{err}");
        assert_empty(to.path());
    }

    #[test]
    fn unknown_names_are_refused() {
        let to = tempfile::tempdir().unwrap();
        let err = download("svhn", to.path(), None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("svhn") && err.contains("cifar100"), "{err}");
        assert_empty(to.path());
    }
}
