//! Expanding the paths given on the command line into SQL files.

use std::path::{Path, PathBuf};

use crate::error::LintError;

/// Files are taken as given (whatever their extension: the user named
/// them); directories contribute every `*.sql` file below them, sorted by
/// path so the report is deterministic. Symlinked directories are not
/// followed, which rules out cycles.
pub(crate) fn sql_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LintError> {
    if paths.is_empty() {
        return Err(LintError::NoPaths);
    }
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
        if metadata.is_dir() {
            let mut found = Vec::new();
            collect_dir(path, &mut found)?;
            if found.is_empty() {
                return Err(LintError::NoSqlFiles { path: path.clone() });
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LintError> {
    let entries = std::fs::read_dir(dir).map_err(|source| read_error(dir, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| read_error(dir, source))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|source| read_error(&path, source))?;
        if file_type.is_dir() {
            collect_dir(&path, out)?;
        } else if (file_type.is_file() || (file_type.is_symlink() && path.is_file()))
            && is_sql(&path)
        {
            out.push(path);
        }
    }
    Ok(())
}

fn is_sql(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("sql"))
}

fn read_error(path: &Path, source: std::io::Error) -> LintError {
    LintError::Read {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_directories_recursively_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "b/002.sql",
            "a/010.SQL",
            "a/002.sql",
            "001.sql",
            "notes.txt",
            "b/c/001.sql",
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "select 1;").unwrap();
        }
        let files = sql_files(&[root.to_path_buf()]).unwrap();
        let relative: Vec<_> = files
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            relative,
            [
                "001.sql",
                "a/002.sql",
                "a/010.SQL",
                "b/002.sql",
                "b/c/001.sql"
            ]
        );
    }

    #[test]
    fn explicit_files_keep_argument_order() {
        let dir = tempfile::tempdir().unwrap();
        let (z, a) = (dir.path().join("z.sql"), dir.path().join("a.txt"));
        std::fs::write(&z, "").unwrap();
        std::fs::write(&a, "").unwrap();
        assert_eq!(sql_files(&[z.clone(), a.clone()]).unwrap(), [z, a]);
    }

    #[test]
    fn missing_path_and_empty_dir_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = sql_files(std::slice::from_ref(&missing)).unwrap_err();
        assert!(matches!(&err, LintError::Read { path, .. } if *path == missing));
        assert!(err.to_string().contains("missing"));

        std::fs::write(dir.path().join("readme.md"), "").unwrap();
        let err = sql_files(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(matches!(&err, LintError::NoSqlFiles { path } if path == dir.path()));

        assert!(matches!(sql_files(&[]), Err(LintError::NoPaths)));
    }
}
