//! Finding a source's input files: one file, or the matching files of a directory, in order.
//!
//! A directory source lists its directory on every poll, so files that appear later are picked
//! up, and re-reads the size of every known file, so files that grow are followed (like
//! `tail -F`). Files are identified by path; a path whose inode changes was replaced and is
//! read again from the start. Hidden files (`.name`) are ignored, which lets writers create a
//! file under a hidden name and rename it into place when complete.
//!
//! Order: by name (the default — export tools number their files) or by modification time
//! (then by name). The order decides which file's records come first in the topic.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// Which file comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileOrder {
    /// By file name.
    #[default]
    Name,
    /// By modification time, then name.
    ModifiedTime,
}

/// A file found by [`list_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Full path.
    pub path: PathBuf,
    /// Inode number.
    pub inode: u64,
    /// Size in bytes when listed.
    pub size: u64,
    /// Modification time when listed.
    pub modified: SystemTime,
}

/// A shell-style file-name pattern: `*` matches any run of characters, `?` one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// A pattern (`*` for every file).
    pub fn new(p: &str) -> Self {
        Pattern(p.to_string())
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let (p, n): (Vec<char>, Vec<char>) = (self.0.chars().collect(), name.chars().collect());
        // Iterative wildcard matching with backtracking to the last `*`.
        let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
        while ni < n.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some(pi);
                mark = ni;
                pi += 1;
            } else if let Some(s) = star {
                pi = s + 1;
                mark += 1;
                ni = mark;
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

/// The input files at `path` (a file, or a directory's matching files), in `order`.
/// A path that does not exist yet yields no files.
pub fn list_files(path: &Path, pattern: &Pattern, order: FileOrder) -> Result<Vec<FileEntry>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("reading the source path", path)(e)),
    };
    if meta.is_file() {
        return Ok(vec![entry(path.to_path_buf(), &meta)]);
    }
    let mut files = Vec::new();
    for item in std::fs::read_dir(path).map_err(Error::io("listing the source directory", path))? {
        let item = item.map_err(Error::io("listing the source directory", path))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !pattern.matches(name) {
            continue;
        }
        let file_path = item.path();
        // A file removed between listing and stat is simply not there this time.
        let Ok(meta) = std::fs::metadata(&file_path) else { continue };
        if meta.is_file() {
            files.push(entry(file_path, &meta));
        }
    }
    match order {
        FileOrder::Name => files.sort_by(|a, b| a.path.cmp(&b.path)),
        FileOrder::ModifiedTime => files.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path))),
    }
    Ok(files)
}

fn entry(path: PathBuf, meta: &std::fs::Metadata) -> FileEntry {
    FileEntry {
        path,
        inode: meta.ino(),
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Pattern::new("*.json");
        assert!(p.matches("a.json") && p.matches(".json") && !p.matches("a.json.tmp"));
        assert!(Pattern::new("*").matches("anything"));
        assert!(Pattern::new("events-??.csv").matches("events-01.csv"));
        assert!(!Pattern::new("events-??.csv").matches("events-1.csv"));
        assert!(Pattern::new("a*b*c").matches("aXbYbZc"));
    }

    #[test]
    fn listing_orders_and_skips_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [("b.json", "1"), ("a.json", "22"), (".c.json", "3"), ("d.txt", "4")] {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let files = list_files(dir.path(), &Pattern::new("*.json"), FileOrder::Name).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, vec!["a.json", "b.json"]);
        assert_eq!(files[0].size, 2);
        assert!(
            list_files(&dir.path().join("missing"), &Pattern::new("*"), FileOrder::Name).unwrap().is_empty()
        );
        let single = list_files(&dir.path().join("d.txt"), &Pattern::new("*.json"), FileOrder::Name).unwrap();
        assert_eq!(single.len(), 1, "a file path is read whatever the pattern");
    }
}
