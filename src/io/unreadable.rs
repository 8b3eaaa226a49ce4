//! Pictures in formats the decoders do not read, named from their first bytes, so that refusing
//! one says what it is: a phone's HEIC photo is a picture, not "not a recognised image format".

use image::ImageFormat;

/// The name of the format of a picture whose first bytes are `head`, when it is a picture format
/// kquant does not decode (HEIF, AVIF, JPEG 2000, JPEG XL, Photoshop, OpenEXR, ...); `None` for
/// anything else, a format it reads included.
pub(crate) fn kind_of(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = iso_media_kind(head) {
        return Some(kind);
    }
    const JP2_BOX: &[u8] = b"\x00\x00\x00\x0cjP  \r\n\x87\n";
    const JXL_BOX: &[u8] = b"\x00\x00\x00\x0cJXL \r\n\x87\n";
    if head.starts_with(JP2_BOX) || head.starts_with(b"\xff\x4f\xff\x51") {
        return Some("JPEG 2000");
    }
    if head.starts_with(JXL_BOX) || head.starts_with(b"\xff\x0a") {
        return Some("JPEG XL");
    }
    if head.starts_with(b"8BPS") {
        return Some("Photoshop (PSD)");
    }
    // Formats `image` knows by their signature but kquant builds it without.
    match image::guess_format(head).ok()? {
        ImageFormat::Avif => Some("AVIF"),
        ImageFormat::OpenExr => Some("OpenEXR"),
        ImageFormat::Hdr => Some("Radiance HDR"),
        ImageFormat::Dds => Some("DDS"),
        ImageFormat::Farbfeld => Some("farbfeld"),
        _ => None,
    }
}

/// AVIF or HEIF (a phone's HEIC photo), from the brands of the ISO media file's first box
/// (`ftyp`): its size, `ftyp`, the major brand, a version, then compatible brands. A video (`isom`,
/// `mp42`, ...) is neither.
fn iso_media_kind(head: &[u8]) -> Option<&'static str> {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let end = size.clamp(12, head.len());
    let brands = std::iter::once(&head[8..12]).chain(head[16.min(end)..end].chunks_exact(4));
    let mut heif = false;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Some("AVIF"),
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs"
            | b"mif1" | b"mif2" | b"msf1" => heif = true,
            _ => {}
        }
    }
    heif.then_some("HEIF (HEIC)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(16 + 4 * compatible.len() as u32).to_be_bytes());
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0; 4]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        // The next box, whose bytes must not be read as brands.
        b.extend_from_slice(b"\x00\x00\x00\x10metaavif");
        b
    }

    #[test]
    fn phone_and_web_pictures_are_named() {
        assert_eq!(
            kind_of(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Some("HEIF (HEIC)")
        );
        assert_eq!(
            kind_of(&ftyp(b"mif1", &[b"mif1", b"miaf"])),
            Some("HEIF (HEIC)")
        );
        assert_eq!(kind_of(&ftyp(b"avif", &[b"mif1"])), Some("AVIF"));
        // An AVIF whose major brand is the generic one.
        assert_eq!(kind_of(&ftyp(b"mif1", &[b"avif", b"miaf"])), Some("AVIF"));
        assert_eq!(
            kind_of(b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 "),
            Some("JPEG 2000")
        );
        assert_eq!(kind_of(b"\xff\x4f\xff\x51\x00\x2f"), Some("JPEG 2000"));
        assert_eq!(kind_of(b"\xff\x0a\xfa\x1f"), Some("JPEG XL"));
        assert_eq!(kind_of(b"8BPS\x00\x01"), Some("Photoshop (PSD)"));
        assert_eq!(
            kind_of(b"\x76\x2f\x31\x01\x02\x00\x00\x00"),
            Some("OpenEXR")
        );
        assert_eq!(kind_of(b"#?RADIANCE\n"), Some("Radiance HDR"));
    }

    #[test]
    fn videos_readable_pictures_and_text_are_not() {
        assert_eq!(kind_of(&ftyp(b"isom", &[b"isom", b"mp41"])), None);
        assert_eq!(kind_of(&ftyp(b"qt  ", &[])), None);
        // A box claiming brands past the bytes given.
        let mut cut = ftyp(b"mp42", &[b"isom"]);
        cut[3] = 0xff;
        cut.truncate(20);
        assert_eq!(kind_of(&cut), None);
        assert_eq!(kind_of(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(kind_of(b"\xff\xd8\xff\xe0"), None);
        assert_eq!(kind_of(b"255,0,0\n"), None);
        assert_eq!(kind_of(b""), None);
    }
}
