//! The binaries' allocator: the system's, with one `error:` line and exit status 1 when memory runs
//! out, where Rust would abort ("memory allocation of N bytes failed", SIGABRT, a core file, and a
//! backtrace when `RUST_BACKTRACE` is set).
//!
//! Memory runs out when the machine (or `ulimit -v`) allows less than a picture within
//! `--max-pixels` needs. Before exiting, what the run registered for removal is removed, as on a
//! signal ([`super::cleanup`]), when that can be done without waiting on the thread that ran out.
//! A failed allocation of code that would have handled the failure itself (a `try_reserve`) ends the
//! run too: kquant has nothing smaller to fall back on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// The system allocator, ending the process with an `error:` line when an allocation fails.
///
/// ```no_run
/// #[global_allocator]
/// static ALLOCATOR: kquant::app::ExitOnOutOfMemory = kquant::app::ExitOnOutOfMemory;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ExitOnOutOfMemory;

// SAFETY: every call is passed on to the system allocator unchanged; a null result (a failure)
// ends the process instead of being returned.
unsafe impl GlobalAlloc for ExitOnOutOfMemory {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is System's.
        checked(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        checked(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        checked(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[inline]
fn checked(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        out_of_memory(size);
    }
    p
}

/// Set by the first failure: the cleanup after it may itself run out, and then ends at once.
static FAILED: AtomicBool = AtomicBool::new(false);

#[cold]
fn out_of_memory(size: usize) -> ! {
    if FAILED.swap(true, Ordering::SeqCst) {
        std::process::exit(1);
    }
    // Written from a buffer on the stack: nothing may be allocated here.
    let mut line = Line::default();
    let _ = writeln!(
        line,
        "error: out of memory: {} more were needed (a lower --max-pixels refuses such pictures \
         before reading them)",
        Megabytes(size)
    );
    // Straight to the descriptor: std's stderr handle may be in use by this very thread.
    let _ = rustix::io::write(rustix::stdio::stderr(), line.text());
    super::cleanup::remove_registered_unless_held();
    std::process::exit(1);
}

/// A size in the units people read: "1.2 GB", "340 MB", "56 KB".
struct Megabytes(usize);

impl std::fmt::Display for Megabytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.0 as f64;
        if bytes >= 1e9 {
            write!(f, "{:.1} GB", bytes / 1e9)
        } else if bytes >= 1e6 {
            write!(f, "{:.0} MB", bytes / 1e6)
        } else {
            write!(f, "{:.0} KB", (bytes / 1e3).ceil())
        }
    }
}

/// A line of text in a fixed buffer; what does not fit is cut.
struct Line {
    bytes: [u8; 256],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self {
            bytes: [0; 256],
            len: 0,
        }
    }
}

impl Line {
    fn text(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        let shown = |n| Megabytes(n).to_string();
        assert_eq!(shown(1_200_000_000), "1.2 GB");
        assert_eq!(shown(340_400_000), "340 MB");
        assert_eq!(shown(56_100), "57 KB");
        assert_eq!(shown(10), "1 KB");
    }

    #[test]
    fn a_line_longer_than_its_buffer_is_cut() {
        let mut line = Line::default();
        write!(line, "{}", "x".repeat(300)).unwrap();
        assert_eq!(line.text().len(), 256);
    }
}
