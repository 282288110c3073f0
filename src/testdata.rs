//! Deterministic test images (feature `sandbox`): valid PNG and JPEG files of chosen
//! dimensions and file sizes, written into a folder, for tests, examples and benchmarks.
//!
//! The same settings always give the same bytes. PNGs hold random RGB pixels (stored,
//! uncompressed deflate blocks); JPEGs are baseline YCbCr images made of flat 8x8 blocks.
//! A file size target is met exactly by a padding chunk (PNG) or comment segments (JPEG),
//! which decoders skip.
//!
//! ```
//! # use roboflow_batch::testdata::{ImageFormat, ImageSet};
//! # let dir = tempfile::tempdir()?;
//! let set = ImageSet::new(3).seed(7).dimensions(20..=40, 10..=30).file_size(900..=1000).prefix("cat-");
//! let images = set.formats(&[ImageFormat::Png, ImageFormat::Jpeg]).write_to(dir.path())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rand::FastRng;

/// An image file format (see the [module](self) example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG, 8-bit RGB.
    Png,
    /// Baseline JPEG, 8-bit YCbCr.
    Jpeg,
}

impl ImageFormat {
    /// The file extension.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::testdata::ImageFormat::Jpeg.extension(), "jpg");
    /// ```
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
        }
    }
}

/// One generated image (see the [module](self) example).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedImage {
    /// Where it was written.
    pub path: PathBuf,
    /// Its file name (what a flat folder ingest names it in the batch).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Its format.
    pub format: ImageFormat,
    /// Its size in bytes.
    pub size: u64,
}

/// A deterministic set of images (see the [module](self) example).
#[derive(Debug, Clone)]
#[must_use]
pub struct ImageSet {
    count: usize,
    seed: u64,
    width: RangeInclusive<u32>,
    height: RangeInclusive<u32>,
    file_size: Option<RangeInclusive<u64>>,
    formats: Vec<ImageFormat>,
    prefix: String,
}

impl ImageSet {
    /// `count` PNG images of 16 to 64 pixels a side, seed 1, named `img-00000.png`, … (see
    /// the [module](self) example).
    pub fn new(count: usize) -> ImageSet {
        ImageSet {
            count,
            seed: 1,
            width: 16..=64,
            height: 16..=64,
            file_size: None,
            formats: vec![ImageFormat::Png],
            prefix: "img-".into(),
        }
    }

    /// The seed: different seeds give different images (see the [module](self) example).
    pub fn seed(mut self, seed: u64) -> ImageSet {
        self.seed = seed;
        self
    }

    /// Width and height ranges, in pixels (each at least 1; see the [module](self) example).
    pub fn dimensions(
        mut self,
        width: RangeInclusive<u32>,
        height: RangeInclusive<u32>,
    ) -> ImageSet {
        self.width = (*width.start()).max(1)..=(*width.end()).max(1);
        self.height = (*height.start()).max(1)..=(*height.end()).max(1);
        self
    }

    /// File sizes in bytes: each file's size is drawn from the range and met exactly (by
    /// padding that decoders skip). PNG pixels fill most of it, so PNG heights may come
    /// out below the height range for small sizes. A file is never smaller than its
    /// image needs (see the [module](self) example).
    pub fn file_size(mut self, bytes: RangeInclusive<u64>) -> ImageSet {
        self.file_size = Some(bytes);
        self
    }

    /// Formats used in turn (image `i` gets `formats[i % len]`; default PNG only; see the
    /// [module](self) example).
    pub fn formats(mut self, formats: &[ImageFormat]) -> ImageSet {
        if !formats.is_empty() {
            self.formats = formats.to_vec();
        }
        self
    }

    /// The file name prefix (default `img-`; see the [module](self) example).
    pub fn prefix(mut self, prefix: impl Into<String>) -> ImageSet {
        self.prefix = prefix.into();
        self
    }

    /// The bytes of image `i`.
    ///
    /// ```
    /// assert_eq!(&roboflow_batch::testdata::ImageSet::new(1).image(0)[1..4], b"PNG");
    /// ```
    pub fn image(&self, i: usize) -> Vec<u8> {
        self.image_and_info(i).0
    }

    /// Image `i`'s bytes, width and height (as drawn, then fitted to the file size).
    fn image_and_info(&self, i: usize) -> (Vec<u8>, u32, u32) {
        let mut rng = FastRng::seeded(self.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let format = self.formats[i % self.formats.len()];
        let mut width = draw(&mut rng, &self.width);
        let mut height = draw(&mut rng, &self.height);
        let target = self.file_size.as_ref().map(|r| {
            let lo = *r.start();
            let hi = (*r.end()).max(lo);
            lo + rng.next_u64() % (hi - lo + 1)
        });
        let bytes = match format {
            ImageFormat::Png => {
                if let Some(t) = target {
                    // Pixels fill the file, leaving room for a padding chunk.
                    let budget = t.saturating_sub(PNG_OVERHEAD + 12 + 5 * (t / 65_535 + 1));
                    let row = 3 * u64::from(width) + 1;
                    if u64::from(height) * row > budget {
                        height = ((budget / row) as u32).max(1);
                        if u64::from(height) * row > budget {
                            width = ((budget.saturating_sub(1) / 3) as u32).max(1);
                        }
                    }
                }
                png(width, height, &mut rng, target)
            }
            ImageFormat::Jpeg => {
                // A JPEG header holds 16-bit dimensions.
                (width, height) = (width.min(65_535), height.min(65_535));
                jpeg(width, height, &mut rng, target)
            }
        };
        (bytes, width, height)
    }

    /// Writes the images into `dir` (created if needed) and describes them, in order (see the
    /// [module](self) example).
    pub fn write_to(&self, dir: &Path) -> Result<Vec<GeneratedImage>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut out = Vec::with_capacity(self.count);
        for i in 0..self.count {
            let (bytes, width, height) = self.image_and_info(i);
            let format = self.formats[i % self.formats.len()];
            let name = format!("{}{i:05}.{}", self.prefix, format.extension());
            let path = dir.join(&name);
            std::fs::write(&path, &bytes)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            out.push(GeneratedImage {
                path,
                name,
                width,
                height,
                format,
                size: bytes.len() as u64,
            });
        }
        Ok(out)
    }
}

fn draw(rng: &mut FastRng, r: &RangeInclusive<u32>) -> u32 {
    let (lo, hi) = (*r.start(), (*r.end()).max(*r.start()));
    lo + (rng.next_u64() % (u64::from(hi - lo) + 1)) as u32
}

// ---------------------------------------------------------------- PNG

/// Signature, IHDR, the zlib header and checksum inside IDAT, IDAT's and IEND's framing.
const PNG_OVERHEAD: u64 = 8 + 25 + 12 + 2 + 4 + 12;

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    // PNG's CRC is gzip's CRC-32, over the chunk's type and data.
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A PNG of random RGB pixels, padded to `target` bytes when given (and large enough).
fn png(width: u32, height: u32, rng: &mut FastRng, target: Option<u64>) -> Vec<u8> {
    let row = 3 * width as usize + 1;
    let mut raw = Vec::with_capacity(row * height as usize);
    for _ in 0..height {
        // Filter byte 0 (none), then random pixels.
        let start = raw.len();
        raw.resize(start + row, 0);
        for px in raw[start + 1..].chunks_mut(8) {
            let word = rng.next_u64().to_le_bytes();
            px.copy_from_slice(&word[..px.len()]);
        }
    }
    // zlib: header, stored deflate blocks of at most 65535 bytes, Adler-32.
    let mut z = Vec::with_capacity(raw.len() + raw.len() / 65_535 * 5 + 16);
    z.extend_from_slice(&[0x78, 0x01]);
    let blocks: Vec<&[u8]> = if raw.is_empty() {
        vec![&[][..]]
    } else {
        raw.chunks(65_535).collect()
    };
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = Vec::new();
    out.extend_from_slice(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    if let Some(t) = target {
        let now = out.len() as u64 + 12; // IEND
        if t >= now + 12 {
            // A private ancillary chunk that decoders skip.
            chunk(&mut out, b"rbPd", &vec![0u8; (t - now - 12) as usize]);
        }
    }
    chunk(&mut out, b"IEND", &[]);
    out
}

// ---------------------------------------------------------------- JPEG

/// The standard luminance DC table (ITU T.81, K.3): code lengths, then the symbols.
const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// An AC table with one symbol, end-of-block: every block is flat.
const AC_BITS: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_VALUES: [u8; 1] = [0x00];
/// Every coefficient quantized by 8, so a flat block's DC value is its level minus 128.
const QUANT: u8 = 8;

/// Canonical Huffman codes (code, length) for the symbols of a table.
fn huffman_codes(bits: &[u8; 16], values: &[u8]) -> [(u16, u8); 256] {
    let mut table = [(0u16, 0u8); 256];
    let mut code = 0u16;
    let mut k = 0;
    for (len, &count) in bits.iter().enumerate() {
        for _ in 0..count {
            if let Some(&sym) = values.get(k) {
                table[sym as usize] = (code, len as u8 + 1);
            }
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    table
}

struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((code >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let byte = self.acc as u8;
                self.out.push(byte);
                if byte == 0xFF {
                    self.out.push(0x00); // byte stuffing
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// A baseline JPEG of flat 8x8 blocks in smooth colours, padded with comment segments to
/// `target` bytes when given (and large enough).
fn jpeg(width: u32, height: u32, rng: &mut FastRng, target: Option<u64>) -> Vec<u8> {
    let (bw, bh) = (width.div_ceil(8), height.div_ceil(8));
    let base = [
        rng.next_u64() as u8,
        rng.next_u64() as u8,
        rng.next_u64() as u8,
    ];
    let dc = huffman_codes(&DC_BITS, &DC_VALUES);
    let ac = huffman_codes(&AC_BITS, &AC_VALUES);
    let mut bits = BitWriter {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    let mut prev = [0i32; 3];
    for by in 0..bh {
        for bx in 0..bw {
            for (c, p) in prev.iter_mut().enumerate() {
                // A gradient per component, plus a little noise.
                let level = u32::from(base[c])
                    + bx * (3 + c as u32)
                    + by * (5 - c as u32)
                    + (rng.next_u64() % 8) as u32;
                let value = (level % 256) as i32 - 128;
                let diff = value - *p;
                *p = value;
                let size = 32 - diff.unsigned_abs().leading_zeros();
                let (code, len) = dc[size as usize];
                bits.put(u32::from(code), u32::from(len));
                if size > 0 {
                    let v = if diff < 0 { diff - 1 } else { diff };
                    bits.put((v as u32) & ((1 << size) - 1), size);
                }
                let (code, len) = ac[0];
                bits.put(u32::from(code), u32::from(len));
            }
        }
    }
    let scan = bits.finish();

    let mut head = Vec::new();
    head.extend_from_slice(&[0xFF, 0xD8]);
    segment(
        &mut head,
        0xE0,
        b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    );
    let mut tail = Vec::new();
    let mut dqt = vec![0u8];
    dqt.extend_from_slice(&[QUANT; 64]);
    segment(&mut tail, 0xDB, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&(height as u16).to_be_bytes());
    sof.extend_from_slice(&(width as u16).to_be_bytes());
    sof.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    segment(&mut tail, 0xC0, &sof);
    for (class, bits_, values) in [
        (0x00u8, &DC_BITS, &DC_VALUES[..]),
        (0x10, &AC_BITS, &AC_VALUES[..]),
    ] {
        let mut dht = vec![class];
        dht.extend_from_slice(bits_);
        dht.extend_from_slice(values);
        segment(&mut tail, 0xC4, &dht);
    }
    segment(&mut tail, 0xDA, &[3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
    tail.extend_from_slice(&scan);
    tail.extend_from_slice(&[0xFF, 0xD9]);

    let mut out = head;
    if let Some(t) = target {
        let mut pad = t.saturating_sub((out.len() + tail.len()) as u64);
        while pad >= 4 {
            // One comment segment carries at most 65533 bytes; never leave 1 to 3 over.
            let mut body = (pad - 4).min(65_533);
            let rest = pad - 4 - body;
            if (1..4).contains(&rest) {
                body -= 4 - rest;
            }
            segment(&mut out, 0xFE, &vec![b' '; body as usize]);
            pad -= body + 4;
        }
    }
    out.extend_from_slice(&tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_huffman_codes_are_canonical() {
        let dc = huffman_codes(&DC_BITS, &DC_VALUES);
        assert_eq!(dc[0], (0b00, 2));
        assert_eq!(dc[1], (0b010, 3));
        assert_eq!(dc[11], (0b1_1111_1110, 9));
        assert_eq!(huffman_codes(&AC_BITS, &AC_VALUES)[0], (0, 1));
    }
}
