//! Run folders: their content-addressed names, and writing their files all-or-nothing.
//!
//! A run folder is named after the SHA-256 of a canonical text of everything that changes the result,
//! so the same command finds the same folder. Files are first written to a staging folder inside the
//! run folder and renamed into place only once every file is ready: an error, or a kill, never leaves a
//! half-written file under a real name, and a failed run removes every folder it created.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// `prefix` followed by the hex SHA-256 of `canonical`.
pub fn folder_name(prefix: &str, canonical: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The canonical text of a run: one `name: value` line per entry, in the order given.
pub fn canonical_text(entries: &[(&str, String)]) -> String {
    entries.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// Files being made for one run folder. Nothing appears under its real name before [`Self::commit`];
/// dropping an uncommitted `Staging` removes the staged files and every folder it created.
#[derive(Debug)]
pub struct Staging {
    run_dir: PathBuf,
    created: Vec<PathBuf>,
    stage: Option<tempfile::TempDir>,
    names: Vec<String>,
}

impl Staging {
    /// Prepares `out_dir/name`, creating the folders that are missing.
    ///
    /// # Errors
    /// [`Error::Write`] when a folder cannot be created or written to.
    pub fn begin(out_dir: &Path, name: &str) -> Result<Self> {
        let run_dir = out_dir.join(name);
        let mut staging = Self {
            run_dir: run_dir.clone(),
            created: Vec::new(),
            stage: None,
            names: Vec::new(),
        };
        let mut missing: Vec<&Path> = run_dir.ancestors().take_while(|p| !p.exists()).collect();
        missing.retain(|p| !p.as_os_str().is_empty());
        for dir in missing.into_iter().rev() {
            fs::create_dir(dir).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
            staging.created.push(dir.to_path_buf());
        }
        let stage = tempfile::Builder::new()
            .prefix(".kquant-staging-")
            .tempdir_in(&run_dir)
            .map_err(|source| Error::Write {
                path: run_dir.clone(),
                source,
            })?;
        staging.stage = Some(stage);
        Ok(staging)
    }

    /// The run folder the files will land in.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Where the file `name` will finally be.
    pub fn final_path(&self, name: &str) -> PathBuf {
        self.run_dir.join(name)
    }

    /// Stages the file `name` with `bytes`.
    ///
    /// # Errors
    /// [`Error::Write`] when the staged file cannot be written.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staged_path(name);
        fs::write(&path, bytes).map_err(|source| Error::Write {
            path: self.final_path(name),
            source,
        })?;
        self.names.push(name.to_string());
        Ok(())
    }

    fn staged_path(&self, name: &str) -> PathBuf {
        self.stage
            .as_ref()
            .expect("staging folder exists until commit")
            .path()
            .join(name)
    }

    /// Moves every staged file to its real name (replacing a file of the same name from an earlier
    /// run of the same command), in the order they were staged, and returns their final paths.
    ///
    /// # Errors
    /// [`Error::Write`] when a rename fails; the files not yet moved are removed.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let names = std::mem::take(&mut self.names);
        let mut done = Vec::with_capacity(names.len());
        for name in &names {
            let to = self.final_path(name);
            fs::rename(self.staged_path(name), &to).map_err(|source| Error::Write {
                path: to.clone(),
                source,
            })?;
            done.push(to);
        }
        // The run folder now holds real files: keep every folder.
        self.created.clear();
        if let Some(stage) = self.stage.take() {
            stage.close().map_err(|source| Error::Write {
                path: self.run_dir.clone(),
                source,
            })?;
        }
        Ok(done)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        drop(self.stage.take());
        // remove_dir only removes empty folders, so nothing that someone else put there is lost.
        for dir in self.created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_depend_on_every_byte_of_the_canonical_text() {
        let a = folder_name("output", &canonical_text(&[("k", "2".into())]));
        let b = folder_name("output", &canonical_text(&[("k", "3".into())]));
        assert_ne!(a, b);
        assert!(a.starts_with("output"));
        assert_eq!(a.len(), "output".len() + 64);
        assert_eq!(a, folder_name("output", "k: 2\n"));
    }

    #[test]
    fn nothing_appears_before_commit_and_all_after() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("a/b");
        let mut s = Staging::begin(&out, "run").unwrap();
        s.write("x.txt", b"1").unwrap();
        assert!(!out.join("run/x.txt").exists());
        let paths = s.commit().unwrap();
        assert_eq!(paths, vec![out.join("run/x.txt")]);
        assert_eq!(fs::read(out.join("run/x.txt")).unwrap(), b"1");
        assert_eq!(fs::read_dir(out.join("run")).unwrap().count(), 1);
    }

    #[test]
    fn an_abandoned_run_removes_only_the_folders_it_made() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("mine.txt"), b"keep").unwrap();
        let out = tmp.path().join("new/deeper");
        let mut s = Staging::begin(&out, "run").unwrap();
        s.write("x.txt", b"1").unwrap();
        drop(s);
        assert!(!tmp.path().join("new").exists());
        assert_eq!(fs::read(tmp.path().join("mine.txt")).unwrap(), b"keep");
    }

    #[test]
    fn an_abandoned_rerun_keeps_the_earlier_files() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("x.txt", b"old").unwrap();
        s.commit().unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("x.txt", b"new").unwrap();
        drop(s);
        assert_eq!(fs::read(tmp.path().join("run/x.txt")).unwrap(), b"old");
        assert_eq!(fs::read_dir(tmp.path().join("run")).unwrap().count(), 1);
    }
}
