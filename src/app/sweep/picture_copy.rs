//! The picture every child of a sweep reads: the user's image decoded once, by the sweep, and its
//! colours written as a small PNG in the sweep's private folder.
//!
//! `k_means -l` clusters the picture's histogram (each distinct colour weighted by its pixels), so
//! what a child computes depends only on which colours the pixels have and how many: not on where
//! they are, nor on an alpha value other than 0 (such a pixel carries no colour). The copy has the
//! same width and height, its pixels being the picture's colours in increasing `0xRRGGBB` order,
//! each repeated as often as the picture has it, then the fully transparent pixels. Its histogram,
//! and so every child's result, is the picture's. Sorted colours compress to almost nothing (8.3
//! MP of a photo in about 1 MB) and decode several times faster than a photo's JPEG, which each of
//! the 19 children used to decode for itself; every child also reads the same pixels even if the
//! file changes during the sweep, and a pipe can be swept, since it is read once.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use crate::app::error::{AppError as Error, Result};
use crate::io::LoadLimits;
use crate::pixels::ColorHistogram;

/// The copy's name in the private folder.
const NAME: &str = "picture.png";

/// Bytes handed to the PNG encoder at once.
const CHUNK: usize = 1 << 16;

/// What [`write_copy`] made.
#[derive(Debug)]
pub(super) struct PictureCopy {
    /// The copy, for the children to read.
    pub path: PathBuf,
    /// Its pixels (the picture's): `width * height`.
    pub pixels: u64,
}

/// A picture's size and the histogram of its colours.
struct Counted {
    width: u32,
    height: u32,
    hist: ColorHistogram,
}

/// How often a sweep waiting for its picture looks at `cancel`.
const POLL: Duration = Duration::from_millis(10);

/// Reads `image` (standard input for `-`) within `limits` and writes its copy into `dir`. The
/// picture is read and counted on a thread of its own while this one watches `cancel`: opening a
/// FIFO waits for a writer, and standard input for its data, maybe for ever, and a signal must
/// still stop the sweep (that thread, which writes nothing, is left to end with the process).
///
/// # Errors
/// The image's own error (it cannot be read, is over a limit, or has no pixel with colour), the
/// copy cannot be written, or [`Error::Interrupted`] once `cancel` holds a signal number.
pub(super) fn write_copy(
    image: &Path,
    limits: &LoadLimits,
    dir: &Path,
    cancel: &AtomicI32,
) -> Result<PictureCopy> {
    let (owned, limits_copy) = (image.to_path_buf(), *limits);
    let (done, outcome) = mpsc::channel();
    let work = move || {
        // (The receiver is gone only when the sweep was stopped.)
        let _ = done.send(read_colours(&owned, &limits_copy));
    };
    let counted = match std::thread::Builder::new()
        .name("find_k picture".into())
        .spawn(work)
    {
        Ok(reader) => loop {
            if let signal @ 1.. = cancel.load(Ordering::SeqCst) {
                return Err(Error::Interrupted { signal });
            }
            match outcome.recv_timeout(POLL) {
                Ok(result) => break result?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => match reader.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => unreachable!("the thread sends before it ends"),
                },
            }
        },
        // No thread to be had: the picture is read here, as k_means reads it.
        Err(_) => read_colours(image, limits)?,
    };
    let Counted {
        width,
        height,
        hist,
    } = counted;
    let pixels = u64::from(width) * u64::from(height);
    let path = dir.join(NAME);
    encode(&hist, width, height, pixels, &path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(PictureCopy { path, pixels })
}

/// The size and colours of the picture of `image`.
fn read_colours(image: &Path, limits: &LoadLimits) -> Result<Counted> {
    let picture = crate::app::job::read_image(image, limits)?;
    let hist = crate::app::job::visible_colours(image, &picture)?;
    Ok(Counted {
        width: picture.width,
        height: picture.height,
        hist,
    })
}

/// Writes the sorted colours of `hist`, then transparent pixels up to `pixels`, as a `width` x
/// `height` PNG at `path` (a new file).
fn encode(
    hist: &ColorHistogram,
    width: u32,
    height: u32,
    pixels: u64,
    path: &Path,
) -> std::io::Result<()> {
    let transparent = pixels - hist.total();
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    // An alpha channel only when some pixel is fully transparent: a pixel with any other alpha
    // is clustered as an opaque one.
    let (color, channels) = if transparent > 0 {
        (png::ColorType::Rgba, 4)
    } else {
        (png::ColorType::Rgb, 3)
    };
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    // Runs of one colour become runs of zeros under the Sub filter, which fdeflate's fast mode
    // packs tightly: the copy is written and read in a fraction of the picture's own decode.
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Sub);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    let mut stream = writer.stream_writer().map_err(std::io::Error::other)?;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4);
    let mut put = |px: &[u8], stream: &mut png::StreamWriter<'_, _>| -> std::io::Result<()> {
        buf.extend_from_slice(&px[..channels]);
        if buf.len() >= CHUNK {
            stream.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    };
    for (c, &n) in hist.colors().iter().zip(hist.counts()) {
        let px = [c[0], c[1], c[2], 255];
        for _ in 0..n {
            put(&px, &mut stream)?;
        }
    }
    for _ in 0..transparent {
        put(&[0; 4], &mut stream)?;
    }
    stream.write_all(&buf)?;
    stream.finish().map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)?;
    Ok(())
}
