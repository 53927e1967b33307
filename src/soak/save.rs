//! Atomic writes: a file is written beside its final name and renamed over it,
//! so a reader (or a crash) sees the previous whole file or the new whole file,
//! never half of one.

use std::io::Write;
use std::path::Path;

/// Write `contents` to `path` atomically (same folder, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("summary.json");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second, longer").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("e").file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("summary.json")]);
    }
}
