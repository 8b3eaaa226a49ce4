//! Run folders: their content-addressed names, and writing their files all-or-nothing, safely
//! beside other runs of the same command and against links planted where we write.
//!
//! A run folder is named after the SHA-256 of a canonical text of everything that changes the result,
//! so the same command finds the same folder. That name is predictable, and the folder may be in a
//! place others can write (`/tmp`), so:
//! - the run folder and every file in it are opened relative to the out-dir's and the run folder's
//!   descriptors, never following a symbolic link (one planted there is refused);
//! - files are written into a private staging folder inside the run folder, then moved into place by
//!   a commit that holds an exclusive lock on the run folder, moves any earlier set aside first, and
//!   puts the earlier set back if any step fails: the folder always holds one run's complete set;
//! - a run killed before its commit finished leaves a staging or set-aside folder whose lock died
//!   with it; the next run of the same folder recognises it (its lock can be taken) and removes it,
//!   putting an earlier set back where a commit was cut short;
//! - an uncommitted staging (an error, or SIGINT/SIGTERM/SIGHUP through [`crate::app::cleanup`])
//!   removes its files and every folder it created, and only those.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{
    flock, fstat, mkdirat, openat, renameat, statat, unlinkat, AtFlags, Dir, FileType,
    FlockOperation, Mode, OFlags, Stat, CWD,
};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use crate::app::cleanup;
use crate::app::error::{AppError as Error, Result};

/// The prefix of a run's private staging folder inside the run folder.
const STAGING_PREFIX: &str = ".kquant-staging-";
/// The prefix of the folder that holds an earlier set of files while a commit replaces it.
const SET_ASIDE_PREFIX: &str = ".kquant-old-";
/// In a set-aside folder: the names the commit replaces, one per line.
const MANIFEST: &str = ".commit";
/// In a set-aside folder: present once every earlier file was set aside and new ones go in.
const PLACING: &str = ".placing";
/// How often `begin` starts over when a racing run removes the folders it is about to use.
const ATTEMPTS: usize = 20;

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

/// The canonical entry for an image path. A path of UTF-8 without a line break is written as it
/// is (so folder names of ordinary paths never change); any other is written as the hex of its raw
/// bytes under another name, so two different paths never give the same text.
pub fn path_entry(path: &Path) -> (&'static str, String) {
    match path.to_str() {
        Some(text) if !text.contains('\n') && !text.contains('\r') => ("image", text.to_string()),
        _ => (
            "image bytes",
            hex::encode(path.as_os_str().as_encoded_bytes()),
        ),
    }
}

fn io_err(errno: Errno) -> std::io::Error {
    std::io::Error::from(errno)
}

/// Opens the directory `name` in `dir` without following a link.
fn open_dir_at(dir: impl AsFd, name: &str) -> std::result::Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// What stands at a name, for error messages.
fn kind_of(stat: &Stat) -> &'static str {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => "a folder",
        FileType::Symlink => "a symbolic link",
        FileType::RegularFile => "a file",
        _ => "a special file",
    }
}

/// Files being made for one run folder. Nothing appears under its real name before [`Self::commit`];
/// dropping an uncommitted `Staging` removes the staged files and every folder it created.
#[derive(Debug)]
pub struct Staging {
    run_dir: PathBuf,
    run_fd: OwnedFd,
    stage_name: String,
    /// The staging folder, locked for as long as this run lives (so others see it is alive).
    stage_fd: Option<OwnedFd>,
    names: Vec<String>,
    /// Folders this run created (out-dir ancestors, the run folder), outermost first.
    created: Vec<PathBuf>,
    cleanup_id: u64,
}

impl Staging {
    /// Prepares `out_dir/name`, creating the folders that are missing, and a private staging
    /// folder inside it.
    ///
    /// # Errors
    /// [`Error::Write`] when a folder cannot be created or written to, or when the run folder's
    /// name is taken by a symbolic link or anything else that is not a folder.
    pub fn begin(out_dir: &Path, name: &str) -> Result<Self> {
        let run_dir = out_dir.join(name);
        let write_err = |path: &Path, source: std::io::Error| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut created: Vec<PathBuf> = Vec::new();
        // A signal waits until the folders made below are registered (and then removes them).
        let _busy = cleanup::busy();
        let cleanup_id = cleanup::register();
        let fail = |created: &[PathBuf], e: Error| {
            remove_created(created);
            cleanup::unregister(cleanup_id);
            e
        };
        for _ in 0..ATTEMPTS {
            if let Err(e) = create_ancestors(out_dir, &mut created, cleanup_id) {
                return Err(fail(&created, e));
            }
            let out_fd = match openat(
                CWD,
                if out_dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    out_dir
                },
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                // A racing run that created the out-dir removed it again: start over.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(fail(&created, write_err(out_dir, io_err(e)))),
            };
            let made_run_dir = match mkdirat(&out_fd, name, Mode::from_raw_mode(0o777)) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                // A racing run removed the out-dir after we opened it (a removed folder has no
                // links left): start over. A folder still in place that will not take a new one
                // (`/proc/self`) says why.
                Err(Errno::NOENT) if fstat(&out_fd).is_ok_and(|s| s.st_nlink == 0) => continue,
                Err(e) => return Err(fail(&created, write_err(&run_dir, io_err(e)))),
            };
            if made_run_dir {
                created.push(run_dir.clone());
                cleanup::set_created(cleanup_id, &created);
            }
            let run_fd = match open_dir_at(&out_fd, name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    created.retain(|p| p != &run_dir);
                    continue;
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let what = statat(&out_fd, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_or("not a folder", |s| kind_of(&s));
                    return Err(fail(
                        &created,
                        Error::NotAFolder {
                            path: run_dir,
                            what,
                        },
                    ));
                }
                Err(e) => return Err(fail(&created, write_err(&run_dir, io_err(e)))),
            };
            let lock = flock(&run_fd, FlockOperation::LockExclusive);
            if let Err(e) = lock {
                return Err(fail(&created, write_err(&run_dir, io_err(e))));
            }
            // A racing run may have removed the folder (empty, after its failure) between our
            // open and our lock: only the folder still at that name will do.
            let still_there = match (
                fstat(&run_fd),
                statat(&out_fd, name, AtFlags::SYMLINK_NOFOLLOW),
            ) {
                (Ok(a), Ok(b)) => same_file(&a, &b),
                _ => false,
            };
            if !still_there {
                created.retain(|p| p != &run_dir);
                cleanup::set_created(cleanup_id, &created);
                continue;
            }
            recover_leftovers(&run_fd);
            let staged = make_stage(&run_fd);
            let _ = flock(&run_fd, FlockOperation::Unlock);
            let (stage_name, stage_fd) = match staged {
                Ok(s) => s,
                Err(e) => return Err(fail(&created, write_err(&run_dir, io_err(e)))),
            };
            cleanup::set_stage(cleanup_id, run_dir.join(&stage_name));
            return Ok(Self {
                run_dir,
                run_fd,
                stage_name,
                stage_fd: Some(stage_fd),
                names: Vec::new(),
                created,
                cleanup_id,
            });
        }
        Err(fail(
            &created,
            write_err(
                &run_dir,
                std::io::Error::other("other runs kept removing the folder; try again"),
            ),
        ))
    }

    /// The run folder the files will land in.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Where the file `name` will finally be.
    pub fn final_path(&self, name: &str) -> PathBuf {
        self.run_dir.join(name)
    }

    /// Stages the file `name` (a plain file name) with `bytes`.
    ///
    /// # Errors
    /// [`Error::Write`] when the staged file cannot be written.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        assert!(
            !name.contains('/') && !name.starts_with('.'),
            "a plain file name"
        );
        let _busy = cleanup::busy();
        let stage = self
            .stage_fd
            .as_ref()
            .expect("staging folder exists until commit");
        let result = openat(
            stage,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(io_err)
        .and_then(|fd| {
            let mut file = File::from(fd);
            file.write_all(bytes)?;
            file.sync_all()
        });
        result.map_err(|source| Error::Write {
            path: self.final_path(name),
            source,
        })?;
        self.names.push(name.to_string());
        Ok(())
    }

    /// Moves every staged file to its real name, replacing the files of an earlier run of the same
    /// command as one set, and returns their final paths (in the order they were staged).
    ///
    /// # Errors
    /// [`Error::Write`] or [`Error::NotOurFile`] when a name is taken by something that is not a file,
    /// or a move fails; the run folder then holds exactly what it held before.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let _busy = cleanup::busy();
        let write_err = |path: PathBuf, e: Errno| Error::Write {
            path,
            source: io_err(e),
        };
        flock(&self.run_fd, FlockOperation::LockExclusive)
            .map_err(|e| write_err(self.run_dir.clone(), e))?;
        let result = self.commit_locked();
        let _ = flock(&self.run_fd, FlockOperation::Unlock);
        result?;
        // The run folder now holds real files: keep every folder.
        self.created.clear();
        cleanup::unregister(self.cleanup_id);
        self.stage_fd = None;
        let _ = unlinkat(&self.run_fd, self.stage_name.as_str(), AtFlags::REMOVEDIR);
        Ok(self.names.iter().map(|n| self.final_path(n)).collect())
    }

    fn commit_locked(&self) -> Result<()> {
        let run = &self.run_fd;
        let stage = self
            .stage_fd
            .as_ref()
            .expect("staging folder exists until commit");
        let write_err = |path: PathBuf, e: Errno| Error::Write {
            path,
            source: io_err(e),
        };
        // Refuse before changing anything if a name is taken by something other than a file.
        let mut earlier = Vec::new();
        for name in &self.names {
            match statat(run, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(s) if FileType::from_raw_mode(s.st_mode) == FileType::RegularFile => {
                    earlier.push(name.as_str());
                }
                Ok(s) => {
                    return Err(Error::NotOurFile {
                        path: self.final_path(name),
                        what: kind_of(&s),
                    })
                }
                Err(Errno::NOENT) => {}
                Err(e) => return Err(write_err(self.final_path(name), e)),
            }
        }
        // Set the earlier files aside, recording what is being replaced so that a run killed in
        // the middle can be undone by the next one.
        let aside_name = format!(
            "{SET_ASIDE_PREFIX}{}",
            &self.stage_name[STAGING_PREFIX.len()..]
        );
        mkdirat(run, aside_name.as_str(), Mode::from_raw_mode(0o700))
            .map_err(|e| write_err(self.run_dir.clone(), e))?;
        let aside = match open_dir_at(run, &aside_name) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = unlinkat(run, aside_name.as_str(), AtFlags::REMOVEDIR);
                return Err(write_err(self.run_dir.clone(), e));
            }
        };
        let _ = flock(&aside, FlockOperation::LockExclusive);
        let manifest: String = self.names.iter().map(|n| format!("{n}\n")).collect();
        let undo_aside = |moved: &[&str]| {
            for name in moved {
                let _ = renameat(&aside, *name, run, *name);
            }
            remove_dir_contents(&aside);
            let _ = unlinkat(run, aside_name.as_str(), AtFlags::REMOVEDIR);
        };
        if let Err(e) = write_file_at(&aside, MANIFEST, manifest.as_bytes()) {
            undo_aside(&[]);
            return Err(write_err(self.run_dir.clone(), e));
        }
        let mut moved = Vec::new();
        for name in &earlier {
            if let Err(e) = renameat(run, *name, &aside, *name) {
                undo_aside(&moved);
                return Err(write_err(self.final_path(name), e));
            }
            moved.push(*name);
        }
        if let Err(e) = write_file_at(&aside, PLACING, b"") {
            undo_aside(&moved);
            return Err(write_err(self.run_dir.clone(), e));
        }
        let mut placed = Vec::new();
        for name in &self.names {
            if let Err(e) = renameat(stage, name.as_str(), run, name.as_str()) {
                for p in &placed {
                    let _ = renameat(run, *p, stage, *p);
                }
                undo_aside(&moved);
                return Err(write_err(self.final_path(name), e));
            }
            placed.push(name.as_str());
        }
        let _ = rustix::fs::fsync(run);
        remove_dir_contents(&aside);
        let _ = unlinkat(run, aside_name.as_str(), AtFlags::REMOVEDIR);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _busy = cleanup::busy();
        if let Some(stage) = self.stage_fd.take() {
            remove_dir_contents(&stage);
            drop(stage);
            let _ = unlinkat(&self.run_fd, self.stage_name.as_str(), AtFlags::REMOVEDIR);
        }
        remove_created(&self.created);
        cleanup::unregister(self.cleanup_id);
    }
}

/// Creates the missing folders of `dir`, recording the ones this run made. A folder that a racing
/// run creates first is fine: it is used, and not recorded.
fn create_ancestors(dir: &Path, created: &mut Vec<PathBuf>, cleanup_id: u64) -> Result<()> {
    let mut missing: Vec<&Path> = dir.ancestors().take_while(|p| !p.is_dir()).collect();
    missing.retain(|p| !p.as_os_str().is_empty());
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {
                created.push(d.to_path_buf());
                cleanup::set_created(cleanup_id, created);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::OutDirNotAFolder {
                    path: d.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(Error::Write {
                    path: d.to_path_buf(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Removes the folders a run created, innermost first, each only if it is empty (so nothing that
/// someone else put there is lost).
pub(crate) fn remove_created(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// Makes this run's staging folder in the run folder and locks it.
fn make_stage(run: &OwnedFd) -> std::result::Result<(String, OwnedFd), Errno> {
    for _ in 0..ATTEMPTS {
        let name = format!("{STAGING_PREFIX}{:016x}", crate::app::job::random_seed());
        match mkdirat(run, name.as_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e),
        }
        let fd = open_dir_at(run, &name)?;
        flock(&fd, FlockOperation::NonBlockingLockExclusive)?;
        return Ok((name, fd));
    }
    Err(Errno::EXIST)
}

/// Writes a small file in `dir`. Not synced: the recovery never loses an earlier file when one of
/// these is missing after a power cut (see [`undo_cut_commit`]).
fn write_file_at(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::result::Result<(), Errno> {
    let fd = openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut file = File::from(fd);
    file.write_all(bytes)
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
}

/// The names in a folder, without `.` and `..`.
fn entries(dir: &OwnedFd) -> Vec<String> {
    let Ok(list) = Dir::read_from(dir) else {
        return Vec::new();
    };
    list.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n: &std::ffi::CString| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .filter_map(|n| n.into_string().ok())
        .collect()
}

/// Removes the files of a folder kquant made (staging and set-aside folders hold only files).
fn remove_dir_contents(dir: &OwnedFd) {
    for name in entries(dir) {
        let _ = unlinkat(dir, name.as_str(), AtFlags::empty());
    }
}

/// Under the run folder's lock: removes what runs that died left behind, and puts back the
/// earlier files of a commit that was cut short. A leftover is recognised by its name and by its
/// lock, which can be taken only once the run that held it is gone.
fn recover_leftovers(run: &OwnedFd) {
    for name in entries(run) {
        let is_stage = name.starts_with(STAGING_PREFIX);
        let is_aside = name.starts_with(SET_ASIDE_PREFIX);
        if !is_stage && !is_aside {
            continue;
        }
        let Ok(fd) = open_dir_at(run, &name) else {
            continue;
        };
        if flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // its run is alive
        }
        if is_aside {
            undo_cut_commit(run, &fd);
        }
        remove_dir_contents(&fd);
        drop(fd);
        let _ = unlinkat(run, name.as_str(), AtFlags::REMOVEDIR);
    }
}

/// Puts the run folder back as it was before a commit that died: every earlier file set aside
/// returns (whatever the manifest says, so none is ever lost), and the new files that the dead
/// commit had already placed without an earlier one are removed, when the manifest and the
/// placing mark say which those are.
fn undo_cut_commit(run: &OwnedFd, aside: &OwnedFd) {
    let placing = statat(aside, PLACING, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    let manifest = read_small(aside, MANIFEST).unwrap_or_default();
    let earlier: Vec<String> = entries(aside)
        .into_iter()
        .filter(|n| n != MANIFEST && n != PLACING)
        .collect();
    for name in &earlier {
        let _ = renameat(aside, name.as_str(), run, name.as_str());
    }
    if placing {
        for name in manifest
            .lines()
            .filter(|n| !n.is_empty() && !n.contains('/'))
        {
            if !earlier.iter().any(|e| e == name) {
                let _ = unlinkat(run, name, AtFlags::empty());
            }
        }
    }
}

fn read_small(dir: &OwnedFd, name: &str) -> std::result::Result<String, Errno> {
    use std::io::Read;
    let fd = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut text = String::new();
    File::from(fd)
        .take(1 << 16)
        .read_to_string(&mut text)
        .map_err(|_| Errno::IO)?;
    Ok(text)
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
    fn paths_that_differ_in_any_byte_have_different_entries() {
        use std::os::unix::ffi::OsStrExt;
        let a = Path::new(std::ffi::OsStr::from_bytes(b"photo\xff.png"));
        let b = Path::new(std::ffi::OsStr::from_bytes(b"photo\xfe.png"));
        assert_ne!(path_entry(a), path_entry(b));
        assert_eq!(
            path_entry(Path::new("dog.jpeg")),
            ("image", "dog.jpeg".into())
        );
        // A line break cannot smuggle a second entry into the text.
        assert_eq!(path_entry(Path::new("a\nk: 3")).0, "image bytes");
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
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
        assert_eq!(names_in(&out.join("run")), ["x.txt"]);
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
    fn a_rerun_replaces_only_the_files_of_its_own_names() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("x.txt", b"old").unwrap();
        s.write("y.txt", b"old").unwrap();
        s.commit().unwrap();
        // The user's own file beside them, and a rerun that writes fewer files.
        fs::write(tmp.path().join("run/notes.txt"), b"mine").unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("x.txt", b"new").unwrap();
        s.commit().unwrap();
        let run = tmp.path().join("run");
        assert_eq!(fs::read(run.join("x.txt")).unwrap(), b"new");
        assert_eq!(fs::read(run.join("y.txt")).unwrap(), b"old");
        assert_eq!(fs::read(run.join("notes.txt")).unwrap(), b"mine");
        assert_eq!(names_in(&run), ["notes.txt", "x.txt", "y.txt"]);
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
        assert_eq!(names_in(&tmp.path().join("run")), ["x.txt"]);
    }

    #[test]
    fn a_symlinked_run_folder_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("precious");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x.txt"), b"mine").unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&target, out.join("run")).unwrap();
        let err = Staging::begin(&out, "run").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(names_in(&target), ["x.txt"]);
        assert_eq!(fs::read(target.join("x.txt")).unwrap(), b"mine");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_folder_that_takes_no_new_folder_says_why() {
        // /proc/self is a folder that stays in place but refuses mkdir ("no such file" for root,
        // "permission denied" for others): that is the error, not a race with a run that removed
        // the out-dir.
        let err = Staging::begin(Path::new("/proc/self"), "run").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("(os error"), "{text}");
        assert!(!text.contains("other runs"), "{text}");
    }

    #[test]
    fn a_commit_that_cannot_place_a_file_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("a.txt", b"old a").unwrap();
        s.write("details.txt", b"old details").unwrap();
        s.commit().unwrap();
        // A folder now holds one of the names the next commit writes.
        fs::create_dir(tmp.path().join("run/b.txt")).unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("a.txt", b"new a").unwrap();
        s.write("b.txt", b"new b").unwrap();
        s.write("details.txt", b"new details").unwrap();
        let err = s.commit().unwrap_err();
        assert!(err.to_string().contains("a folder"), "{err}");
        let run = tmp.path().join("run");
        assert_eq!(fs::read(run.join("a.txt")).unwrap(), b"old a");
        assert_eq!(fs::read(run.join("details.txt")).unwrap(), b"old details");
        assert_eq!(names_in(&run), ["a.txt", "b.txt", "details.txt"]);
    }

    #[test]
    fn leftovers_of_a_killed_commit_are_undone_by_the_next_run() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Staging::begin(tmp.path(), "run").unwrap();
        s.write("a.txt", b"old a").unwrap();
        s.write("b.txt", b"old b").unwrap();
        s.commit().unwrap();
        let run = tmp.path().join("run");
        // What a commit killed halfway through placing leaves: a.txt set aside and replaced,
        // b.txt set aside and not yet replaced, c.txt new and placed; and a dead staging folder.
        let aside = run.join(".kquant-old-0000000000000001");
        fs::create_dir(&aside).unwrap();
        fs::write(aside.join(MANIFEST), "a.txt\nb.txt\nc.txt\n").unwrap();
        fs::rename(run.join("a.txt"), aside.join("a.txt")).unwrap();
        fs::rename(run.join("b.txt"), aside.join("b.txt")).unwrap();
        fs::write(aside.join(PLACING), "").unwrap();
        fs::write(run.join("a.txt"), b"new a").unwrap();
        fs::write(run.join("c.txt"), b"new c").unwrap();
        let stage = run.join(".kquant-staging-0000000000000001");
        fs::create_dir(&stage).unwrap();
        fs::write(stage.join("b.txt"), b"new b").unwrap();

        let s = Staging::begin(tmp.path(), "run").unwrap();
        drop(s);
        assert_eq!(names_in(&run), ["a.txt", "b.txt"]);
        assert_eq!(fs::read(run.join("a.txt")).unwrap(), b"old a");
        assert_eq!(fs::read(run.join("b.txt")).unwrap(), b"old b");
    }

    #[test]
    fn an_earlier_file_set_aside_comes_back_even_without_a_manifest() {
        // A power cut can lose the unsynced manifest while the moves survive.
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let aside = run.join(".kquant-old-0000000000000002");
        fs::create_dir_all(&aside).unwrap();
        fs::write(aside.join("a.txt"), b"old a").unwrap();
        drop(Staging::begin(tmp.path(), "run").unwrap());
        assert_eq!(names_in(&run), ["a.txt"]);
        assert_eq!(fs::read(run.join("a.txt")).unwrap(), b"old a");
    }

    #[test]
    fn a_live_runs_staging_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let mut first = Staging::begin(tmp.path(), "run").unwrap();
        first.write("x.txt", b"first").unwrap();
        let second = Staging::begin(tmp.path(), "run").unwrap();
        drop(second);
        first.commit().unwrap();
        assert_eq!(fs::read(tmp.path().join("run/x.txt")).unwrap(), b"first");
    }

    #[test]
    fn racing_runs_each_leave_a_complete_set() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("fresh/out");
        std::thread::scope(|scope| {
            for i in 0..8 {
                let out = &out;
                scope.spawn(move || {
                    let mut s = Staging::begin(out, "run").unwrap();
                    for name in ["a.txt", "b.txt", "c.txt"] {
                        s.write(name, format!("{i}").as_bytes()).unwrap();
                    }
                    s.commit().unwrap();
                });
            }
        });
        let run = out.join("run");
        let a = fs::read(run.join("a.txt")).unwrap();
        assert_eq!(fs::read(run.join("b.txt")).unwrap(), a);
        assert_eq!(fs::read(run.join("c.txt")).unwrap(), a);
        assert_eq!(names_in(&run), ["a.txt", "b.txt", "c.txt"]);
    }
}
