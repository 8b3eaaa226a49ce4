//! The errors of reading and writing image files: each names the file and keeps its cause.

use std::path::PathBuf;

use crate::palette_text::PaletteTextError;

/// An image file that cannot be used. The message names the file as the user gave it; the cause
/// is its [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file could not be opened or read.
    #[error("cannot read image '{path}': {source}")]
    Read {
        /// The path as the user gave it.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was read but is not an image that can be decoded whole.
    #[error("cannot read image '{path}': {source}")]
    Decode {
        /// The path as the user gave it (`<memory>` for bytes).
        path: PathBuf,
        /// What is wrong with it.
        source: DecodeError,
    },
    /// The picture the file describes has more pixels than the limit allows; refused from its
    /// header, before any pixel was decoded.
    #[error("cannot read image '{path}': {}", too_many_pixels(.width, .height, .max_pixels))]
    TooLarge {
        /// The path as the user gave it.
        path: PathBuf,
        /// Width the file claims.
        width: u32,
        /// Height the file claims.
        height: u32,
        /// The limit in force.
        max_pixels: u64,
    },
    /// The file is larger than any picture within the pixel limit needs.
    #[error("cannot read image '{path}': {}", too_many_bytes(.max_bytes, .max_pixels))]
    FileTooLarge {
        /// The path as the user gave it.
        path: PathBuf,
        /// The largest file read.
        max_bytes: u64,
        /// The pixel limit it follows from.
        max_pixels: u64,
    },
}

impl ImageError {
    /// What is wrong, without the file's name (for a message that names the file already).
    pub fn reason(&self) -> String {
        match self {
            Self::Read { source, .. } => source.to_string(),
            Self::Decode { source, .. } => source.to_string(),
            Self::TooLarge {
                width,
                height,
                max_pixels,
                ..
            } => too_many_pixels(width, height, max_pixels),
            Self::FileTooLarge {
                max_bytes,
                max_pixels,
                ..
            } => too_many_bytes(max_bytes, max_pixels),
        }
    }
}

fn too_many_pixels(width: &u32, height: &u32, max_pixels: &u64) -> String {
    format!(
        "it is {width}x{height} pixels, more than the limit of {} (--max-pixels raises it)",
        pixels(*max_pixels)
    )
}

fn too_many_bytes(max_bytes: &u64, max_pixels: &u64) -> String {
    format!(
        "the file is larger than the limit of {max_bytes} bytes for pictures of up to {} (--max-pixels raises it)",
        pixels(*max_pixels)
    )
}

/// "1 pixel", "256000000 pixels".
fn pixels(n: u64) -> String {
    if n == 1 {
        "1 pixel".to_string()
    } else {
        format!("{n} pixels")
    }
}

/// Why bytes that were read are not a whole, decodable picture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file holds no byte.
    #[error("the file is empty")]
    Empty,
    /// The path is a folder.
    #[error("it is a folder, not an image file")]
    Folder,
    /// The first bytes are no image signature the decoders know.
    #[error("not a recognised image format")]
    UnknownFormat,
    /// The first bytes are those of a picture format the decoders do not read; it is named
    /// (`HEIF (HEIC)`, `AVIF`, `JPEG 2000`, `JPEG XL`, `Photoshop (PSD)`, `OpenEXR`, ...).
    #[error("it is in the {0} format, which kquant cannot read (convert it to PNG or JPEG first)")]
    Unsupported(&'static str),
    /// The header describes a picture of no pixels.
    #[error("the {format} has no pixels ({width}x{height})")]
    NoPixels {
        /// The format's usual name (`JPEG`, `PNG`, ...).
        format: &'static str,
        /// Width the header gives.
        width: u32,
        /// Height the header gives.
        height: u32,
    },
    /// A JPEG whose image data is cut short or damaged.
    #[error("{0}")]
    Jpeg(#[from] JpegDamage),
    /// A PNG or TIFF whose structure (chunk lengths and checksums, first directory) is damaged.
    #[error("{0}")]
    Structure(#[from] StructureDamage),
    /// The decoder refused the file. The message is one plain phrase made from the decoder's error
    /// (`the GIF is truncated`, `the BMP is corrupt: ...`).
    #[error("{}", super::load::describe(.format, .source))]
    Decoder {
        /// The format's usual name (`JPEG`, `PNG`, ...).
        format: &'static str,
        /// The decoder's own error.
        source: image::ImageError,
    },
    /// The decoder failed in an unexpected way (it panicked; the panic was caught).
    #[error(
        "the decoder failed on this file (it is damaged, or of a kind the decoder mishandles)"
    )]
    DecoderFailed,
}

pub use super::jpeg_check::JpegDamage;

/// Damage to a PNG's chunks or a TIFF's first directory, found before the decoder runs (the
/// decoder's own messages for these are debug dumps, and a TIFF's counts size its buffers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StructureDamage {
    /// The PNG ends before its IEND chunk.
    #[error("the PNG is truncated (it ends before its IEND chunk)")]
    PngNoEnd,
    /// The PNG ends inside a chunk header.
    #[error("the PNG is truncated (it ends inside a chunk header)")]
    PngCutHeader,
    /// A chunk length over 2^31 - 1.
    #[error("the PNG is corrupt: chunk {} has a bad length", chunk_name(.chunk))]
    PngBadLength {
        /// The chunk's type.
        chunk: [u8; 4],
    },
    /// The file ends inside a chunk.
    #[error("the PNG is truncated (chunk {} is cut short)", chunk_name(.chunk))]
    PngChunkCut {
        /// The chunk's type.
        chunk: [u8; 4],
    },
    /// A chunk whose CRC does not match.
    #[error("the PNG is corrupt: bad checksum in chunk {}", chunk_name(.chunk))]
    PngBadChecksum {
        /// The chunk's type.
        chunk: [u8; 4],
    },
    /// The TIFF ends before its first directory does, or a value it points to.
    #[error("the TIFF is truncated")]
    TiffTruncated,
    /// Neither `II` nor `MM`.
    #[error("the TIFF is corrupt: bad byte-order mark")]
    TiffByteOrder,
    /// Neither 42 nor 43 (BigTIFF).
    #[error("the TIFF is corrupt: bad version")]
    TiffVersion,
    /// A count whose size overflows.
    #[error("the TIFF is corrupt: tag {tag} has a bad count")]
    TiffBadCount {
        /// The tag.
        tag: u64,
    },
    /// A value that would lie beyond the end of the file.
    #[error("the TIFF is corrupt: tag {tag} claims more data than the file holds")]
    TiffBeyondFile {
        /// The tag.
        tag: u64,
    },
}

/// A PNG chunk type as letters (`?` for any byte that is not one).
fn chunk_name(chunk: &[u8; 4]) -> String {
    chunk
        .iter()
        .map(|&b| {
            if b.is_ascii_alphabetic() {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// A palette file (`--palette`, `--fixed`) that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot read palette '{path}': {source}")]
pub struct PaletteFileError {
    /// The path as the user gave it.
    pub path: PathBuf,
    /// What is wrong with it.
    pub source: PaletteProblem,
}

/// What is wrong with a palette file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PaletteProblem {
    /// The file could not be opened or read.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// The file is an image that cannot be decoded.
    #[error("{0}")]
    Decode(#[source] DecodeError),
    /// The file is an image over the limits.
    #[error("{}", .0.reason())]
    Image(#[source] Box<ImageError>),
    /// An image with more distinct colours than a palette holds.
    #[error("the image has {colors} distinct colours; a palette image has at most {max}")]
    ImageTooColourful {
        /// Its distinct colours.
        colors: usize,
        /// The most a palette holds (256).
        max: usize,
    },
    /// A text file too large to be a palette.
    #[error("the file is too large for a palette")]
    TooLarge,
    /// Neither an image nor UTF-8 text.
    #[error("not an image, and not a text palette (not UTF-8)")]
    NotText,
    /// A text palette with a line that is not a colour.
    #[error("{0}")]
    Text(#[source] PaletteTextError),
    /// An Adobe Swatch Exchange file that is cut short or holds a swatch that is not RGB.
    #[error("{0}")]
    Ase(#[source] crate::AseError),
    /// A Photoshop swatch file or colour table that is cut short, of the wrong size, or holds a
    /// swatch that is not RGB.
    #[error("{0}")]
    Photoshop(#[source] crate::PhotoshopPaletteError),
    /// No colour at all.
    #[error("it holds no colour")]
    NoColour,
    /// More colours than a palette holds.
    #[error("it holds {colors} colours; a palette has at most {max}")]
    TooManyColours {
        /// Its colours.
        colors: usize,
        /// The most a palette holds (256).
        max: usize,
    },
    /// Fewer colours than the K asked for (`--palette`).
    #[error("it holds {colors} colours, fewer than k = {k}")]
    FewerThanK {
        /// Its colours.
        colors: usize,
        /// The K asked for.
        k: usize,
    },
    /// More colours than the K asked for (`--fixed`).
    #[error("it holds {colors} colours, more than k = {k}")]
    MoreThanK {
        /// Its colours.
        colors: usize,
        /// The K asked for.
        k: usize,
    },
}

/// An image that cannot be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A JPEG side is limited to 65535 pixels.
    #[error("a JPEG holds at most 65535x65535 pixels, not {width}x{height}")]
    JpegTooLarge {
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
    },
    /// The JPEG encoder failed.
    #[error("{0}")]
    Jpeg(#[from] jpeg_encoder::EncodingError),
    /// The PNG encoder failed.
    #[error("{0}")]
    Png(#[from] png::EncodingError),
    /// The pixels given do not match the size given.
    #[error(transparent)]
    Picture(#[from] crate::Error),
    /// Palette indices that are not one per pixel of the picture.
    #[error("{got} palette indices for a picture of {expected} pixels")]
    IndexCount {
        /// The picture's pixels.
        expected: usize,
        /// The indices given.
        got: usize,
    },
    /// A palette index the palette does not have.
    #[error("palette index {index} for a palette of {len} colours")]
    IndexOutOfPalette {
        /// The index.
        index: u8,
        /// The palette's number of colours.
        len: usize,
    },
}

/// Checks that `indices` give each pixel of `picture` a colour of `palette` (or none).
pub(crate) fn check_indices(
    picture: &crate::Picture,
    palette: &crate::Palette,
    indices: &[Option<u8>],
) -> Result<(), EncodeError> {
    if indices.len() != picture.rgb.len() {
        return Err(EncodeError::IndexCount {
            expected: picture.rgb.len(),
            got: indices.len(),
        });
    }
    if let Some(index) = indices
        .iter()
        .flatten()
        .copied()
        .find(|&i| usize::from(i) >= palette.len())
    {
        return Err(EncodeError::IndexOutOfPalette {
            index,
            len: palette.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_of_one_pixel_are_singular() {
        assert_eq!(
            too_many_pixels(&2, &1, &1),
            "it is 2x1 pixels, more than the limit of 1 pixel (--max-pixels raises it)"
        );
        assert!(too_many_bytes(&8, &1).ends_with("of up to 1 pixel (--max-pixels raises it)"));
        assert!(too_many_pixels(&9, &9, &80).contains("limit of 80 pixels"));
    }
}
