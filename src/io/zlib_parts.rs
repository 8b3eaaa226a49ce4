//! A zlib stream compressed in parts on all cores, as `pigz` does: the bytes are cut into parts of
//! a fixed size, each part is deflated on its own, primed with the 32 KiB before it (deflate's
//! window, so it finds the same matches across the cut) and ended on a byte boundary (a sync
//! flush, as zlib's `Z_SYNC_FLUSH`), and the parts are joined under one zlib header and checksum.
//! Any inflater reads the result as one stream. The cuts depend only on the bytes' length, so the
//! output is the same on any number of cores; bytes of a single part come out exactly as one
//! zlib stream of them.

use flate2::{Compress, Compression, FlushCompress, Status};
use rayon::prelude::*;

/// Bytes deflated in one part. Each part costs a sync flush (5 bytes) and the first matches of a
/// fresh block; a 1 MiB part is a few hundred rows of a photo, so an 8 MP picture gets eight.
const PART: usize = 1 << 20;

/// Deflate's window: what a part is primed with.
const WINDOW: usize = 32 * 1024;

/// The zlib stream (RFC 1950) of `raw` at compression `level` (0-9), in pieces to be written one
/// after another (the first holds the header, the last the checksum): a PNG can hold each in an
/// IDAT chunk of its own, so the stream is never copied into one buffer.
pub(super) fn compress(raw: &[u8], level: u32) -> std::io::Result<Vec<Vec<u8>>> {
    let mut pieces: Vec<Vec<u8>> = if raw.is_empty() {
        vec![deflate_part(raw, &[], true, level)?]
    } else {
        raw.par_chunks(PART)
            .enumerate()
            .map(|(i, part)| {
                let start = i * PART;
                let primer = &raw[start.saturating_sub(WINDOW)..start];
                deflate_part(part, primer, start + part.len() == raw.len(), level)
            })
            .collect::<std::io::Result<_>>()?
    };
    pieces[0].splice(0..0, header(level));
    let mut adler = simd_adler32::Adler32::new();
    adler.write(raw);
    let last = pieces.len() - 1;
    pieces[last].extend_from_slice(&adler.finish().to_be_bytes());
    Ok(pieces)
}

/// zlib's header for a 32 KiB window and `level`, as zlib writes it (its level field: 0 for the
/// fastest, 1 for fast, 2 for the default, 3 for the smallest), with its check bits.
fn header(level: u32) -> [u8; 2] {
    let cmf = 0x78u8;
    let flevel = match level {
        0 | 1 => 0u8,
        2..=5 => 1,
        6 => 2,
        _ => 3,
    };
    let mut flg = flevel << 6;
    flg += (31 - ((u16::from(cmf) << 8 | u16::from(flg)) % 31) as u8) % 31;
    [cmf, flg]
}

/// Raw deflate data of `part`, primed with `primer` (the bytes just before it), ended with the
/// final block if `last` and on a byte boundary otherwise.
fn deflate_part(part: &[u8], primer: &[u8], last: bool, level: u32) -> std::io::Result<Vec<u8>> {
    let mut deflate = Compress::new(Compression::new(level), false);
    if !primer.is_empty() {
        deflate
            .set_dictionary(primer)
            .map_err(std::io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Output comes through a buffer of 32 KiB, the bytes first and then the flush, as flate2's
    // writers call zlib: deflate's output depends on the room it is given, and so one part comes
    // out exactly as their stream (the PNG encoder's) does.
    let mut out = Vec::with_capacity(part.len() / 2 + 64);
    let mut buf = Vec::with_capacity(OUT_BUF);
    while (deflate.total_in() as usize) < part.len() {
        let read = deflate.total_in() as usize;
        deflate
            .compress_vec(&part[read..], &mut buf, FlushCompress::None)
            .map_err(std::io::Error::other)?;
        out.extend_from_slice(&buf);
        buf.clear();
    }
    loop {
        let status = deflate
            .compress_vec(&[], &mut buf, flush)
            .map_err(std::io::Error::other)?;
        // A flush is complete once it leaves room unused in the output (zlib's rule).
        let done = status == Status::StreamEnd || (!last && buf.len() < buf.capacity());
        out.extend_from_slice(&buf);
        buf.clear();
        if done {
            return Ok(out);
        }
    }
}

/// The room deflate is given for its output at each call.
const OUT_BUF: usize = 32 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn joined(raw: &[u8], level: u32) -> Vec<u8> {
        compress(raw, level).unwrap().concat()
    }

    fn inflate(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z)
            .read_to_end(&mut out)
            .expect("a valid zlib stream");
        out
    }

    /// Bytes like a quantized picture's rows: runs and repeats, with some noise.
    fn rows(n: usize) -> Vec<u8> {
        let mut x = 0x1234_5678u32;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if x.is_multiple_of(7) {
                    (x >> 24) as u8
                } else {
                    (i / 37 % 16) as u8
                }
            })
            .collect()
    }

    #[test]
    fn parts_join_into_one_stream_of_the_same_bytes() {
        for n in [0, 1, 100, PART - 1, PART, PART + 1, 3 * PART + 12_345] {
            let raw = rows(n);
            for level in [1, 6, 9] {
                let z = joined(&raw, level);
                assert_eq!(inflate(&z), raw, "{n} bytes at level {level}");
                assert_eq!(u16::from_be_bytes([z[0], z[1]]) % 31, 0);
            }
        }
    }

    #[test]
    fn one_part_is_exactly_zlibs_stream_and_more_cost_little() {
        let raw = rows(PART);
        let mut plain = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(6));
        std::io::Write::write_all(&mut plain, &raw).unwrap();
        assert!(compress(&raw, 6).unwrap() == [plain.finish().unwrap()]);
        // Four parts: primed, they lose next to nothing against one stream.
        let raw = rows(4 * PART);
        let mut plain = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(6));
        std::io::Write::write_all(&mut plain, &raw).unwrap();
        let (parts, whole) = (joined(&raw, 6).len(), plain.finish().unwrap().len());
        assert!(parts <= whole + whole / 200, "{parts} against {whole}");
    }
}
