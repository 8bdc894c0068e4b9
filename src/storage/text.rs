//! Text that comes from files, made safe to show: bytes that are not UTF-8 are refused with
//! where they are (a run's TOML and JSON are UTF-8 by definition), and paths, which may hold
//! any bytes, are shown with those bytes escaped instead of replaced by U+FFFD (a glyph the
//! studio's fonts do not have, and a change no one could see).

use std::path::Path;

/// `bytes` as UTF-8, or why not: the line and column (in bytes) of the first bad byte.
pub fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + good.iter().rev().take_while(|&&b| b != b'\n').count();
        format!(
            "not UTF-8 text (byte 0x{:02x} at line {line}, column {column})",
            bytes[e.valid_up_to()]
        )
    })
}

/// A path for people: as it is where it is UTF-8, bytes that are not as `\xNN`.
pub fn path(p: &Path) -> String {
    let mut out = String::new();
    for chunk in p.as_os_str().as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bytes_are_located_and_paths_escaped() {
        assert_eq!(utf8(b"a = 1\n"), Ok("a = 1\n"));
        assert_eq!(
            utf8(b"a = 1\nb = \"x\xff\"\n").unwrap_err(),
            "not UTF-8 text (byte 0xff at line 2, column 7)"
        );
        assert_eq!(path(Path::new("runs/é")), "runs/é");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(std::ffi::OsStr::from_bytes(b"runs/a\xffb"));
            assert_eq!(path(p), "runs/a\\xFFb");
        }
    }
}
