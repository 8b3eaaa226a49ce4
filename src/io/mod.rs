//! Image files (feature `image-io`): reading them within limits, refusing damaged ones, and
//! writing the quantized picture as a JPEG or an indexed PNG; palette files people bring.

mod error;
mod indexed_png;
mod jpeg;
pub(crate) mod jpeg_check;
mod jpeg_split;
mod load;
mod palette_file;
mod png_rows;
mod tiff_chunks;
mod unreadable;
mod zlib_parts;

pub use error::{
    DecodeError, EncodeError, ImageError, JpegDamage, PaletteFileError, PaletteProblem,
};
pub use indexed_png::encode as encode_indexed_png;
pub use jpeg::{encode_jpeg, encode_palette_jpeg, JPEG_QUALITY};
pub use load::{
    decode_picture, load_picture, load_picture_with, panic_is_handled, picture_from_dynamic,
    picture_size, read_picture, LoadLimits, DEFAULT_MAX_PIXELS,
};
#[cfg(feature = "cli")]
pub(crate) use load::{is_picture, HEAD_BYTES};
pub use palette_file::{fixed_of_k, palette_of_k, read_palette_file};
