//! Whether a JPEG's image data is complete: every block of every scan is present in the file.
//!
//! The decoder fills whatever a damaged file lacks with grey and reports success, so a download cut
//! short would be quantized as if it were the photo. Looking for an end-of-image marker is not
//! enough: the EXIF thumbnail of a camera photo carries its own, and a file cut short can have one
//! appended. So this walks the entropy-coded data of each scan the way a decoder does (Huffman
//! symbols, run lengths, end-of-band runs, restart markers, progressive refinement), without the
//! inverse DCT, and checks that the last block of each scan is reached before the data ends.
//! Segments (EXIF, ICC, thumbnails) are skipped by their lengths, so nothing inside them is read.
//!
//! Only Huffman-coded frames (baseline, extended and progressive) are checked; other kinds
//! (arithmetic-coded, lossless, hierarchical) are left to the decoder, which refuses them.

/// What is wrong with a JPEG's image data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JpegDamage {
    /// The data of a scan ends before its last block.
    Truncated {
        /// Rows of pixels whose data is present in the scan that ends early.
        rows: u32,
        /// The picture's height.
        height: u32,
    },
    /// Every scan present is whole, but the scans that would complete the picture are missing
    /// (a progressive file cut between two scans).
    MissingScans,
    /// The file ends before the frame header, so not even the size is known.
    TruncatedHeader,
    /// The markers or the entropy-coded data are malformed.
    Corrupt(&'static str),
}

impl std::fmt::Display for JpegDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { rows, height } => write!(
                f,
                "the JPEG is truncated (its image data stops after row {rows} of {height})"
            ),
            Self::MissingScans => write!(
                f,
                "the JPEG is truncated (the scans that complete its picture are missing)"
            ),
            Self::TruncatedHeader => {
                write!(f, "the JPEG is truncated (it ends before its image data)")
            }
            Self::Corrupt(why) => write!(f, "the JPEG is corrupt ({why})"),
        }
    }
}

impl std::error::Error for JpegDamage {}

/// A Huffman table as the JPEG standard builds it (Annex C), with a 9-bit lookup for short codes.
#[derive(Clone)]
struct Huffman {
    /// For each 9-bit prefix: (code length, symbol), length 0 when the code is longer.
    fast: Vec<(u8, u8)>,
    /// Largest code of each length 1..=16 (index = length), -1 when none.
    maxcode: [i32; 18],
    /// `symbols` index minus the first code, for each length.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const FAST_BITS: u32 = 9;

/// The most scans a file may have, as the decoder (zune-jpeg) allows.
const MAX_SCANS: usize = 100;

impl Huffman {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Self> {
        let mut maxcode = [-1i32; 18];
        let mut offset = [0i32; 17];
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let mut code: i32 = 0;
        let mut k: i32 = 0;
        for len in 1..=16usize {
            let n = i32::from(counts[len - 1]);
            offset[len] = k - code;
            for _ in 0..n {
                // Codes are assigned in order: one past the last code of this length means the
                // counts describe more codes than fit, a bad table.
                if code >= 1 << len {
                    return None;
                }
                if len as u32 <= FAST_BITS {
                    let shift = FAST_BITS - len as u32;
                    let first = (code as usize) << shift;
                    for e in &mut fast[first..first + (1 << shift)] {
                        *e = (len as u8, symbols[k as usize]);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX;
        Some(Self {
            fast,
            maxcode,
            offset,
            symbols: symbols.to_vec(),
        })
    }
}

/// The image data of one scan, read bit by bit as a decoder reads it.
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Bits not yet used, left-aligned.
    buf: u64,
    /// How many bits of `buf` are valid (some of them may be padding).
    len: u32,
    /// How many of the last bits of `buf` are zero padding after the data ended.
    pad: u32,
    /// The data ended at a marker (or at the end of the file): padding follows.
    ended: bool,
    /// For the tests: load a byte at a time, as the reference.
    #[cfg(test)]
    bytewise: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buf: 0,
            len: 0,
            pad: 0,
            ended: false,
            #[cfg(test)]
            bytewise: false,
        }
    }

    /// Loads bytes until at least 57 bits are buffered; past the end of the data, zeros (counted
    /// as padding, as a decoder would feed them).
    fn fill(&mut self) {
        // Most of the data has no 0xFF byte: then the bytes wanted are loaded at once.
        #[cfg(test)]
        let fast = !self.bytewise;
        #[cfg(not(test))]
        let fast = true;
        if self.len > 56 {
            return;
        }
        if fast && !self.ended {
            if let Some(next) = self.data.get(self.pos..self.pos + 8) {
                let word = u64::from_be_bytes(next.try_into().expect("8 bytes"));
                // A zero byte of !word is a byte 0xFF of word.
                let ff = (!word).wrapping_sub(0x0101_0101_0101_0101) & word & 0x8080_8080_8080_8080;
                if ff == 0 {
                    let n = (64 - self.len) / 8;
                    self.buf |= (word >> (64 - 8 * n)) << (64 - self.len - 8 * n);
                    self.len += 8 * n;
                    self.pos += n as usize;
                    return;
                }
            }
        }
        self.fill_bytewise();
    }

    /// [`Self::fill`] a byte at a time, minding 0xFF bytes: stuffed zeros and markers.
    fn fill_bytewise(&mut self) {
        while self.len <= 56 {
            let mut byte = 0u8;
            if self.ended {
                self.pad += 8;
            } else if self.pos >= self.data.len() {
                self.ended = true;
                self.pad += 8;
            } else if self.data[self.pos] == 0xFF {
                // 0xFF 0x00 is a data byte 0xFF; 0xFF followed by anything else starts a marker
                // (after any number of fill bytes 0xFF).
                let mut next = self.pos + 1;
                while next < self.data.len() && self.data[next] == 0xFF {
                    next += 1;
                }
                if next < self.data.len() && self.data[next] == 0x00 {
                    byte = 0xFF;
                    self.pos = next + 1;
                } else {
                    self.ended = true;
                    self.pad += 8;
                }
            } else {
                byte = self.data[self.pos];
                self.pos += 1;
            }
            self.buf |= u64::from(byte) << (56 - self.len);
            self.len += 8;
        }
    }

    /// Uses `n` (at most 16) bits; false when they were not all in the data.
    #[inline]
    fn take(&mut self, n: u32) -> Result<u32, ()> {
        if n == 0 {
            return Ok(0);
        }
        if self.len < 32 {
            self.fill();
        }
        let v = (self.buf >> (64 - n)) as u32;
        self.buf <<= n;
        self.len -= n;
        if self.len < self.pad {
            return Err(());
        }
        Ok(v)
    }

    /// Decodes one Huffman symbol; `None` at a code no table entry has.
    #[inline]
    fn symbol(&mut self, table: &Huffman) -> Result<Option<u8>, ()> {
        if self.len < 32 {
            self.fill();
        }
        let (len, sym) = table.fast[(self.buf >> (64 - FAST_BITS)) as usize];
        if len > 0 {
            self.take(u32::from(len))?;
            return Ok(Some(sym));
        }
        let peek = (self.buf >> 48) as i32;
        for len in FAST_BITS as usize + 1..=16 {
            let code = peek >> (16 - len);
            if code <= table.maxcode[len] {
                self.take(len as u32)?;
                let i = (table.offset[len] + code) as usize;
                return Ok(table.symbols.get(i).copied());
            }
        }
        Ok(None)
    }

    /// At a restart boundary: drops the rest of the current byte and steps over the restart
    /// marker; false when the data ended at another marker instead.
    fn restart(&mut self) -> bool {
        if !self.ended {
            // Skip whatever stands before the next marker.
            while self.pos < self.data.len() {
                if self.data[self.pos] == 0xFF
                    && self
                        .data
                        .get(self.pos + 1)
                        .is_some_and(|&b| b != 0x00 && b != 0xFF)
                {
                    break;
                }
                self.pos += 1;
            }
        } else {
            // `fill` stopped at the marker's 0xFF (possibly after fill bytes).
            while self.data.get(self.pos + 1) == Some(&0xFF) {
                self.pos += 1;
            }
        }
        let is_rst = self
            .data
            .get(self.pos + 1)
            .is_some_and(|&b| (0xD0..=0xD7).contains(&b));
        if !is_rst {
            return false;
        }
        self.pos += 2;
        self.buf = 0;
        self.len = 0;
        self.pad = 0;
        self.ended = false;
        true
    }

    /// Where the next marker search starts once the scan is over.
    fn resume_at(&self) -> usize {
        self.pos
    }
}

#[derive(Clone, Copy)]
struct Component {
    id: u8,
    h: u32,
    v: u32,
    /// Blocks across and down in the component's own grid.
    blocks_w: u32,
    blocks_h: u32,
}

struct Frame {
    progressive: bool,
    width: u32,
    height: u32,
    hmax: u32,
    vmax: u32,
    components: Vec<Component>,
    /// For progressive frames: which AC coefficients of each block are non-zero so far (bit k).
    nonzero: Vec<Vec<u64>>,
    /// For each component and coefficient, the lowest bit position sent so far (0 once the
    /// coefficient is complete; [`NOT_SENT`] before any scan carried it).
    precision: Vec<[u8; 64]>,
}

const NOT_SENT: u8 = u8::MAX;

/// Checks that every scan of a Huffman-coded JPEG has all its blocks. `Ok` also when the file is a
/// kind this check does not cover (the decoder decides on those).
pub(crate) fn check(data: &[u8]) -> Result<(), JpegDamage> {
    check_scans(data, |_| true)
}

/// [`check`] of some components: only the scans whose first component's id `mine` accepts are
/// walked, and only those components must carry every coefficient. Checks that between them accept
/// every component walk every scan once and give [`check`]'s verdict (its wording: the first damage
/// in the file): a scan's walk depends only on the tables before it and on the earlier scans of its
/// component, whose bookkeeping every check keeps from the scan headers. So the check of a large
/// file can share out over several cores ([`super::jpeg_split`]).
pub(crate) fn check_scans(data: &[u8], mine: impl Fn(u8) -> bool) -> Result<(), JpegDamage> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(JpegDamage::Corrupt("it does not start with a JPEG marker"));
    }
    let mut pos = 2;
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut restart_interval = 0u32;
    let mut frame: Option<Frame> = None;
    let mut scans = 0;
    loop {
        // Find the next marker, allowing stray bytes and fill bytes before it as decoders do.
        while pos + 1 < data.len() && !(data[pos] == 0xFF && data[pos + 1] != 0xFF) {
            pos += 1;
        }
        if pos + 1 >= data.len() {
            break;
        }
        let marker = data[pos + 1];
        pos += 2;
        match marker {
            0xD9 => break,
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = data
            .get(pos..pos + 2)
            .map(|b| usize::from(b[0]) << 8 | usize::from(b[1]))
        else {
            break;
        };
        if len < 2 || pos + len > data.len() {
            return Err(truncated_or(frame.as_ref()));
        }
        let seg = &data[pos + 2..pos + len];
        pos += len;
        match marker {
            0xC0..=0xC2 => {
                if frame.is_some() {
                    continue;
                }
                frame = Some(parse_frame(seg, marker == 0xC2)?);
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(()),
            0xC4 => parse_huffman(seg, &mut dc, &mut ac)?,
            0xDD => {
                if seg.len() < 2 {
                    return Err(JpegDamage::Corrupt(
                        "a restart interval segment is too short",
                    ));
                }
                restart_interval = u32::from(seg[0]) << 8 | u32::from(seg[1]);
            }
            0xDA => {
                let Some(f) = frame.as_mut() else {
                    return Err(JpegDamage::Corrupt(
                        "image data comes before the frame header",
                    ));
                };
                if f.height == 0 {
                    // The height comes later, in a DNL segment: leave it to the decoder.
                    return Ok(());
                }
                scans += 1;
                // Each scan walks every block again: a few bytes of scan header could otherwise
                // buy seconds of work. The decoder stops at the same count.
                if scans > MAX_SCANS {
                    return Err(JpegDamage::Corrupt("too many scans"));
                }
                let walk = seg.get(1).is_some_and(|&id| mine(id));
                let coding = Coding {
                    dc: &dc,
                    ac: &ac,
                    restart_interval,
                };
                pos = scan(data, pos, seg, f, &coding, walk)?;
            }
            _ => {}
        }
    }
    match frame {
        Some(f) if scans == 0 => Err(JpegDamage::Truncated {
            rows: 0,
            height: f.height,
        }),
        // Every encoder sends every coefficient of every component down to its last bit; a file
        // that stops short of that lost its last scans.
        Some(f)
            if f.components
                .iter()
                .zip(&f.precision)
                .any(|(c, precision)| mine(c.id) && precision.iter().any(|&p| p != 0)) =>
        {
            Err(JpegDamage::MissingScans)
        }
        Some(_) => Ok(()),
        None => Err(JpegDamage::TruncatedHeader),
    }
}

fn truncated_or(frame: Option<&Frame>) -> JpegDamage {
    match frame {
        Some(f) => JpegDamage::Truncated {
            rows: 0,
            height: f.height,
        },
        None => JpegDamage::TruncatedHeader,
    }
}

fn parse_frame(seg: &[u8], progressive: bool) -> Result<Frame, JpegDamage> {
    let bad = JpegDamage::Corrupt("a bad frame header");
    if seg.len() < 6 {
        return Err(bad);
    }
    let height = u32::from(seg[1]) << 8 | u32::from(seg[2]);
    let width = u32::from(seg[3]) << 8 | u32::from(seg[4]);
    let n = usize::from(seg[5]);
    if n == 0 || n > 4 || seg.len() < 6 + 3 * n || width == 0 {
        return Err(bad);
    }
    let mut components = Vec::with_capacity(n);
    for c in seg[6..6 + 3 * n].chunks_exact(3) {
        let (h, v) = (u32::from(c[1] >> 4), u32::from(c[1] & 15));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(bad);
        }
        components.push(Component {
            id: c[0],
            h,
            v,
            blocks_w: 0,
            blocks_h: 0,
        });
    }
    let hmax = components.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = components.iter().map(|c| c.v).max().unwrap_or(1);
    for c in &mut components {
        c.blocks_w = (width * c.h).div_ceil(hmax).div_ceil(8);
        c.blocks_h = (height * c.v).div_ceil(vmax).div_ceil(8);
    }
    let nonzero = if progressive {
        // One word per block of each component; the frame's size is already within the pixel
        // limit the loader checked, so this is at most a few megabytes.
        components
            .iter()
            .map(|c| {
                // Interleaved DC scans cover whole MCUs, which can be a block larger.
                vec![0u64; ((c.blocks_w + 4) * (c.blocks_h + 4)) as usize]
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Frame {
        precision: vec![[NOT_SENT; 64]; components.len()],
        progressive,
        width,
        height,
        hmax,
        vmax,
        components,
        nonzero,
    })
}

fn parse_huffman(
    mut seg: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), JpegDamage> {
    let bad = JpegDamage::Corrupt("a bad Huffman table");
    while !seg.is_empty() {
        if seg.len() < 17 {
            return Err(bad);
        }
        let (class, id) = (seg[0] >> 4, usize::from(seg[0] & 15));
        let counts: [u8; 16] = seg[1..17].try_into().map_err(|_| bad.clone())?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if id > 3 || class > 1 || seg.len() < 17 + total {
            return Err(bad);
        }
        let table = Huffman::new(&counts, &seg[17..17 + total]).ok_or(bad.clone())?;
        if class == 0 {
            dc[id] = Some(table);
        } else {
            ac[id] = Some(table);
        }
        seg = &seg[17 + total..];
    }
    Ok(())
}

/// One component of a scan: which frame component, and its tables.
struct ScanComponent<'t> {
    index: usize,
    dc: Option<&'t Huffman>,
    ac: Option<&'t Huffman>,
}

/// How the scans' data is coded at some point of the file: the Huffman tables and the restart
/// interval defined so far.
struct Coding<'t> {
    dc: &'t [Option<Huffman>; 4],
    ac: &'t [Option<Huffman>; 4],
    restart_interval: u32,
}

/// Walks one scan's data, starting at `pos` (or only notes what the scan carries, when not `walk`);
/// returns where the search for the next marker goes on.
fn scan(
    data: &[u8],
    pos: usize,
    header: &[u8],
    frame: &mut Frame,
    coding: &Coding,
    walk: bool,
) -> Result<usize, JpegDamage> {
    let Coding {
        dc,
        ac,
        restart_interval,
    } = *coding;
    let bad = JpegDamage::Corrupt("a bad scan header");
    let n = usize::from(*header.first().ok_or(bad.clone())?);
    if n == 0 || n > 4 || header.len() < 1 + 2 * n + 3 {
        return Err(bad);
    }
    let mut comps = Vec::with_capacity(n);
    for c in header[1..1 + 2 * n].chunks_exact(2) {
        let index = frame
            .components
            .iter()
            .position(|fc| fc.id == c[0])
            .ok_or(bad.clone())?;
        comps.push(ScanComponent {
            index,
            dc: dc[usize::from(c[1] >> 4) & 3].as_ref(),
            ac: ac[usize::from(c[1] & 15) & 3].as_ref(),
        });
    }
    let tail = &header[1 + 2 * n..];
    let (ss, se, ah, al) = (
        u32::from(tail[0]),
        u32::from(tail[1]),
        tail[2] >> 4,
        tail[2] & 15,
    );
    if frame.progressive && (se > 63 || ss > se || (ss == 0 && se != 0) || (ss > 0 && n != 1)) {
        return Err(bad);
    }
    if !walk {
        // Another check walks it.
        record_scan(frame, &comps, ss, se, al);
        return Ok(entropy_end(data, pos));
    }
    let no_table = JpegDamage::Corrupt("a scan uses a Huffman table that is not defined");
    let bad_code = JpegDamage::Corrupt("a bad Huffman code in its image data");

    // Blocks of each MCU, as (scan component, column offset, row offset) in blocks.
    let interleaved = n > 1;
    let (mcus_w, mcus_h) = if interleaved {
        (
            frame.width.div_ceil(8 * frame.hmax),
            frame.height.div_ceil(8 * frame.vmax),
        )
    } else {
        let c = &frame.components[comps[0].index];
        (c.blocks_w, c.blocks_h)
    };
    // Rows of pixels an MCU row covers, to say where a truncated scan stops.
    let mcu_rows = if interleaved {
        8 * frame.vmax
    } else {
        let c = &frame.components[comps[0].index];
        8 * frame.vmax / c.v
    };
    let mut bits = Bits::new(data, pos);
    let mut eobrun = 0u32;
    let total = mcus_w as u64 * mcus_h as u64;
    let truncated_at = |mcu: u64| JpegDamage::Truncated {
        rows: ((mcu / u64::from(mcus_w)) as u32 * mcu_rows).min(frame.height),
        height: frame.height,
    };
    for mcu in 0..total {
        if restart_interval > 0 && mcu > 0 && mcu % u64::from(restart_interval) == 0 {
            if !bits.restart() {
                return Err(truncated_at(mcu));
            }
            eobrun = 0;
        }
        let (mx, my) = (
            (mcu % u64::from(mcus_w)) as u32,
            (mcu / u64::from(mcus_w)) as u32,
        );
        for sc in &comps {
            let c = frame.components[sc.index];
            let (bw, bh) = if interleaved { (c.h, c.v) } else { (1, 1) };
            for by in 0..bh {
                for bx in 0..bw {
                    let (x, y) = (mx * bw + bx, my * bh + by);
                    let result = if !frame.progressive {
                        baseline_block(
                            &mut bits,
                            sc.dc.ok_or(no_table.clone())?,
                            sc.ac.ok_or(no_table.clone())?,
                        )
                    } else if ss == 0 {
                        if ah == 0 {
                            dc_first(&mut bits, sc.dc.ok_or(no_table.clone())?)
                        } else {
                            bits.take(1).map(|_| true)
                        }
                    } else {
                        let stride = c.blocks_w + 4;
                        let word = &mut frame.nonzero[sc.index][(y * stride + x) as usize];
                        let table = sc.ac.ok_or(no_table.clone())?;
                        if ah == 0 {
                            ac_first(&mut bits, table, ss, se, &mut eobrun, word)
                        } else {
                            ac_refine(&mut bits, table, ss, se, &mut eobrun, word)
                        }
                    };
                    match result {
                        Ok(true) => {}
                        Ok(false) => return Err(bad_code),
                        Err(()) => return Err(truncated_at(mcu)),
                    }
                }
            }
        }
    }
    record_scan(frame, &comps, ss, se, al);
    Ok(bits.resume_at())
}

/// Notes which coefficients of its components a scan carried, down to which bit.
fn record_scan(frame: &mut Frame, comps: &[ScanComponent], ss: u32, se: u32, al: u8) {
    let band = if frame.progressive {
        ss as usize..=se as usize
    } else {
        0..=63
    };
    for sc in comps {
        for p in &mut frame.precision[sc.index][band.clone()] {
            *p = if frame.progressive { al } else { 0 };
        }
    }
}

/// Where the entropy-coded data starting at `from` ends: at the first marker that is neither a
/// stuffed zero byte nor a restart marker (after any fill bytes 0xFF), or at the end of the data.
pub(crate) fn entropy_end(data: &[u8], mut from: usize) -> usize {
    while let Some(at) = data.get(from..).and_then(|rest| memchr::memchr(0xFF, rest)) {
        let at = from + at;
        match data.get(at + 1) {
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => from = at + 1,
            _ => return at,
        }
    }
    data.len()
}

/// A block of a sequential scan: a DC difference and up to 63 AC coefficients.
fn baseline_block(bits: &mut Bits, dc: &Huffman, ac: &Huffman) -> Result<bool, ()> {
    if !dc_first(bits, dc)? {
        return Ok(false);
    }
    let mut k = 1;
    while k < 64 {
        let Some(sym) = bits.symbol(ac)? else {
            return Ok(false);
        };
        let (r, s) = (u32::from(sym >> 4), u32::from(sym & 15));
        if s == 0 {
            if r != 15 {
                break;
            }
            k += 16;
        } else {
            k += r;
            bits.take(s)?;
            k += 1;
        }
    }
    Ok(true)
}

fn dc_first(bits: &mut Bits, dc: &Huffman) -> Result<bool, ()> {
    let Some(s) = bits.symbol(dc)? else {
        return Ok(false);
    };
    if s > 16 {
        return Ok(false);
    }
    bits.take(u32::from(s))?;
    Ok(true)
}

/// A block of a progressive AC first scan (spectral band `ss..=se`).
fn ac_first(
    bits: &mut Bits,
    ac: &Huffman,
    ss: u32,
    se: u32,
    eobrun: &mut u32,
    nonzero: &mut u64,
) -> Result<bool, ()> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Ok(true);
    }
    let mut k = ss;
    while k <= se {
        let Some(sym) = bits.symbol(ac)? else {
            return Ok(false);
        };
        let (r, s) = (u32::from(sym >> 4), u32::from(sym & 15));
        if s != 0 {
            k += r;
            bits.take(s)?;
            if k < 64 {
                *nonzero |= 1 << k;
            }
            k += 1;
        } else if r < 15 {
            *eobrun = (1 << r) - 1 + bits.take(r)?;
            break;
        } else {
            k += 16;
        }
    }
    Ok(true)
}

/// A block of a progressive AC refinement scan: correction bits for coefficients already non-zero,
/// and new coefficients of magnitude one (as libjpeg's `decode_mcu_AC_refine`).
///
/// libjpeg walks the band coefficient by coefficient; here the coefficients already non-zero are a
/// bit mask, so a run of zeros to skip is found, and the correction bits it passes are counted,
/// with a few bit operations (the walk was most of the time of checking a progressive photo).
fn ac_refine(
    bits: &mut Bits,
    ac: &Huffman,
    ss: u32,
    se: u32,
    eobrun: &mut u32,
    nonzero: &mut u64,
) -> Result<bool, ()> {
    // Coefficients k..=se, as a mask.
    let from = |k: u32| (u64::MAX << k) & (u64::MAX >> (63 - se));
    let mut k = ss;
    if *eobrun == 0 {
        while k <= se {
            let Some(sym) = bits.symbol(ac)? else {
                return Ok(false);
            };
            let (r, s) = (sym >> 4, sym & 15);
            if s != 0 {
                if s != 1 {
                    return Ok(false);
                }
                bits.take(1)?;
            } else if r != 15 {
                *eobrun = (1 << r) + bits.take(u32::from(r))?;
                break;
            }
            // Skip r coefficients still zero, taking a correction bit for each non-zero one
            // passed, and stop on the next zero one (past the band when there are too few).
            let mut zeros = !*nonzero & from(k);
            for _ in 0..r {
                zeros &= zeros.wrapping_sub(1);
            }
            let stop = if zeros == 0 {
                se + 1
            } else {
                zeros.trailing_zeros()
            };
            let below_stop = u64::MAX.checked_shr(64 - stop).unwrap_or(0);
            take_bits(bits, (*nonzero & from(k) & below_stop).count_ones())?;
            k = stop;
            if s != 0 && k <= se {
                *nonzero |= 1 << k;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        if k <= se {
            take_bits(bits, (*nonzero & from(k)).count_ones())?;
        }
        *eobrun -= 1;
    }
    Ok(true)
}

/// Uses `n` bits, 16 at a time.
fn take_bits(bits: &mut Bits, mut n: u32) -> Result<(), ()> {
    while n > 16 {
        bits.take(16)?;
        n -= 16;
    }
    bits.take(n).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo_like(width: u32, height: u32) -> image::RgbImage {
        image::ImageBuffer::from_fn(width, height, |x, y| {
            let h = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 13;
            image::Rgb([
                (x * 255 / width) as u8 ^ (h as u8 & 15),
                (y * 255 / height) as u8,
                ((x + y) % 256) as u8 ^ ((h >> 8) as u8 & 31),
            ])
        })
    }

    fn encode(img: &image::RgbImage, progressive: bool, restart: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
        enc.set_progressive(progressive);
        if restart > 0 {
            enc.set_restart_interval(restart);
        }
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        enc.encode(
            img.as_raw(),
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        out
    }

    fn is_truncation(r: Result<(), JpegDamage>) -> bool {
        matches!(
            r,
            Err(JpegDamage::Truncated { .. } | JpegDamage::MissingScans)
        )
    }

    #[test]
    fn complete_files_pass_and_cut_files_fail_however_they_end() {
        let img = photo_like(97, 61);
        for progressive in [false, true] {
            for restart in [0, 3] {
                let jpeg = encode(&img, progressive, restart);
                assert_eq!(
                    check(&jpeg),
                    Ok(()),
                    "progressive {progressive} restart {restart}"
                );
                // Without the end marker the data is still whole.
                assert_eq!(check(&jpeg[..jpeg.len() - 2]), Ok(()));
                for cut in [jpeg.len() / 2, jpeg.len() * 9 / 10, jpeg.len() - 40] {
                    let mut cut_file = jpeg[..cut].to_vec();
                    assert!(
                        is_truncation(check(&cut_file)),
                        "cut at {cut} of {} (progressive {progressive})",
                        jpeg.len()
                    );
                    cut_file.extend([0xFF, 0xD9]);
                    assert!(
                        is_truncation(check(&cut_file)),
                        "cut at {cut} with an end marker appended (progressive {progressive})"
                    );
                }
            }
        }
    }

    #[test]
    fn checks_by_component_give_the_whole_checks_verdict() {
        // Components 0, 1, 2 (jpeg-encoder's ids), checked apart: together they pass exactly when
        // the whole check passes, wherever the file is cut.
        let by_parts = |data: &[u8]| [0u8, 1, 2].map(|id| check_scans(data, |c| c == id));
        for restart in [0, 3] {
            let jpeg = encode(&photo_like(97, 61), true, restart);
            assert_eq!(by_parts(&jpeg), [Ok(()), Ok(()), Ok(())]);
            for cut in (100..jpeg.len()).step_by(37) {
                for end in [&[][..], &[0xFF, 0xD9]] {
                    let mut damaged = jpeg[..cut].to_vec();
                    damaged.extend_from_slice(end);
                    assert_eq!(
                        check(&damaged).is_ok(),
                        by_parts(&damaged).iter().all(Result::is_ok),
                        "cut at {cut} of {}, restart {restart}",
                        jpeg.len()
                    );
                }
            }
            // The last scan is the last chroma component's: cut there, only its check fails,
            // with the whole check's words.
            let mut damaged = jpeg[..jpeg.len() - 6].to_vec();
            damaged.extend_from_slice(&[0xFF, 0xD9]);
            let parts = by_parts(&damaged);
            assert!(parts[0].is_ok() && parts[1].is_ok(), "{parts:?}");
            assert_eq!(parts[2], check(&damaged));
            assert!(is_truncation(check(&damaged)));
        }
    }

    #[test]
    fn a_cut_scan_says_how_far_its_data_goes() {
        let jpeg = encode(&photo_like(64, 160), false, 0);
        match check(&jpeg[..jpeg.len() / 2]) {
            Err(JpegDamage::Truncated { rows, height }) => {
                assert_eq!(height, 160);
                assert!(rows > 16 && rows < 144, "rows {rows}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// The refinement walk as libjpeg writes it, coefficient by coefficient: what [`ac_refine`]
    /// computes with masks must match it bit for bit.
    fn ac_refine_walk(
        bits: &mut Bits,
        ac: &Huffman,
        ss: u32,
        se: u32,
        eobrun: &mut u32,
        nonzero: &mut u64,
    ) -> Result<bool, ()> {
        let mut k = ss;
        if *eobrun == 0 {
            while k <= se {
                let Some(sym) = bits.symbol(ac)? else {
                    return Ok(false);
                };
                let (mut r, s) = (i32::from(sym >> 4), sym & 15);
                if s != 0 {
                    if s != 1 {
                        return Ok(false);
                    }
                    bits.take(1)?;
                } else if r != 15 {
                    *eobrun = (1 << r) + bits.take(r as u32)?;
                    break;
                }
                while k <= se {
                    if *nonzero & (1 << k) != 0 {
                        bits.take(1)?;
                    } else {
                        r -= 1;
                        if r < 0 {
                            break;
                        }
                    }
                    k += 1;
                }
                if s != 0 && k <= se {
                    *nonzero |= 1 << k;
                }
                k += 1;
            }
        }
        if *eobrun > 0 {
            while k <= se {
                if *nonzero & (1 << k) != 0 {
                    bits.take(1)?;
                }
                k += 1;
            }
            *eobrun -= 1;
        }
        Ok(true)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, failure_persistence: None, ..Default::default() })]
        #[test]
        fn loading_words_reads_the_bits_bytes_give(
            data in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::prelude::any::<u8>(),
                    1 => proptest::prelude::Just(0xFFu8),
                    1 => proptest::prelude::Just(0x00u8),
                ],
                0..64,
            ),
            takes in proptest::collection::vec(0u32..=16, 1..80),
        ) {
            let mut fast = Bits::new(&data, 0);
            let mut bytewise = Bits::new(&data, 0);
            bytewise.bytewise = true;
            for n in takes {
                proptest::prop_assert_eq!(fast.take(n), bytewise.take(n));
            }
            proptest::prop_assert_eq!(fast.resume_at(), bytewise.resume_at());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 20000, failure_persistence: None, ..Default::default() })]
        #[test]
        fn refinement_by_masks_matches_the_walk(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            band in (1u32..64, 0u32..64),
            eobrun in 0u32..3,
            nonzero in proptest::prelude::any::<u64>(),
            blocks in 1usize..6,
        ) {
            // Every refinement symbol (runs 0-15 of new ones, end-of-band runs, ZRL) and two
            // bad ones, each coded in 6 bits.
            let mut symbols: Vec<u8> = (0..16).flat_map(|r| [r << 4 | 1, r << 4]).collect();
            symbols.extend_from_slice(&[0x02, 0x13]);
            let mut counts = [0u8; 16];
            counts[5] = symbols.len() as u8;
            let table = Huffman::new(&counts, &symbols).unwrap();
            let (ss, se) = (band.0, band.0.max(band.1));
            let (mut a, mut b) = (Bits::new(&data, 0), Bits::new(&data, 0));
            let (mut run_a, mut run_b) = (eobrun, eobrun);
            let (mut nz_a, mut nz_b) = (nonzero, nonzero);
            for _ in 0..blocks {
                let ra = ac_refine(&mut a, &table, ss, se, &mut run_a, &mut nz_a);
                let rb = ac_refine_walk(&mut b, &table, ss, se, &mut run_b, &mut nz_b);
                proptest::prop_assert_eq!(ra, rb);
                // After a failure the scan is refused, whatever was read.
                if ra != Ok(true) {
                    break;
                }
                proptest::prop_assert_eq!((run_a, nz_a), (run_b, nz_b));
                // The bits still to come (buffered alike or not).
                for _ in 0..80 {
                    proptest::prop_assert_eq!(a.take(1), b.take(1));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, failure_persistence: None, ..Default::default() })]

        /// Damage anywhere (tables, headers, data) gives an answer, never a panic.
        #[test]
        fn damaged_files_never_panic(
            progressive in proptest::prelude::any::<bool>(),
            edits in proptest::collection::vec((0usize..1000, proptest::prelude::any::<u8>()), 1..12),
            cut in 0usize..1100,
        ) {
            thread_local! {
                static FILES: [Vec<u8>; 2] = [
                    encode(&photo_like(40, 24), false, 2),
                    encode(&photo_like(40, 24), true, 0),
                ];
            }
            let mut bytes = FILES.with(|f| f[usize::from(progressive)].clone());
            let len = bytes.len();
            // Edits land mostly in the headers (the first few hundred bytes hold every table).
            for (at, v) in edits {
                let i = (at * at / 1000 * len / 1000).min(len - 1);
                bytes[i] = v;
            }
            bytes.truncate(cut * len / 1000 + 2);
            let _ = check(&bytes);
        }
    }

    #[test]
    fn tables_with_more_codes_than_fit_are_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes
        assert!(Huffman::new(&counts, &[1, 2, 3]).is_none());
        counts[0] = 2;
        assert!(Huffman::new(&counts, &[1, 2]).is_some());
        let mut counts = [0u8; 16];
        counts[15] = 255;
        counts[14] = 255; // more 15- and 16-bit codes than there are
        counts[8] = 255;
        counts[7] = 255;
        assert!(Huffman::new(&counts, &[0; 1020]).is_none());
    }

    #[test]
    fn not_a_jpeg_is_corrupt() {
        assert!(matches!(check(b"GIF89a"), Err(JpegDamage::Corrupt(_))));
        assert_eq!(
            check(&[0xFF, 0xD8, 0xFF, 0xD9]),
            Err(JpegDamage::TruncatedHeader)
        );
    }
}
