//! Deterministic test images (feature `sandbox`): valid PNG and JPEG files of chosen
//! dimensions and file sizes, written into a folder, for tests, examples and benchmarks.
//!
//! The same settings always give the same bytes: random RGB pixels in uncompressed PNGs,
//! smooth gradients in baseline JPEGs (encoded by the `png` and `jpeg-encoder` crates). A
//! file size target is met exactly by a padding chunk (PNG) or comment segments (JPEG).
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
///
/// ```
/// let f = roboflow_batch::testdata::ImageFormat::Jpeg;
/// ```
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
    ///
    /// ```
    /// let set = roboflow_batch::testdata::ImageSet::new(3);
    /// ```
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

    crate::model::setters! {
        setup: "let set = roboflow_batch::testdata::ImageSet::new(3);", on: "set";
        /// The seed: different seeds give different images.
        seed(s, seed: u64) = "7" { s.seed = seed; }
        /// Width and height ranges, in pixels (each at least 1).
        dimensions(s, width: RangeInclusive<u32>, height: RangeInclusive<u32>) = "20..=40, 10..=30" {
            s.width = (*width.start()).max(1)..=(*width.end()).max(1);
            s.height = (*height.start()).max(1)..=(*height.end()).max(1);
        }
        /// File sizes in bytes: each file's size is drawn from the range and met exactly (by
        /// padding that decoders skip). PNG pixels fill most of it, so PNG heights may come
        /// out below the height range for small sizes. A file is never smaller than its
        /// image needs.
        file_size(s, bytes: RangeInclusive<u64>) = "900..=1000" { s.file_size = Some(bytes); }
        /// Formats used in turn (image `i` gets `formats[i % len]`; default PNG only).
        formats(s, formats: &[ImageFormat]) = "&[roboflow_batch::testdata::ImageFormat::Jpeg]" {
            if !formats.is_empty() {
                s.formats = formats.to_vec();
            }
        }
        /// The file name prefix (default `img-`).
        prefix(s, prefix: impl Into<String>) = "\"cat-\"" { s.prefix = prefix.into(); }
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
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let images = roboflow_batch::testdata::ImageSet::new(2).write_to(dir.path())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

/// Signature, IHDR, the zlib header and checksum inside IDAT, IDAT's and IEND's framing.
const PNG_OVERHEAD: u64 = 8 + 25 + 12 + 2 + 4 + 12;

/// A PNG of random RGB pixels in stored deflate blocks (so its size is known beforehand),
/// padded by a private ancillary chunk to `target` bytes when given (and large enough).
fn png(width: u32, height: u32, rng: &mut FastRng, target: Option<u64>) -> Vec<u8> {
    let mut pixels = vec![0u8; 3 * width as usize * height as usize];
    for px in pixels.chunks_mut(8) {
        px.copy_from_slice(&rng.next_u64().to_le_bytes()[..px.len()]);
    }
    // Each row gains a filter byte; each stored block of at most 65535 bytes, a 5-byte header.
    let raw = u64::from(height) * (3 * u64::from(width) + 1);
    let size = PNG_OVERHEAD + raw + 5 * raw.div_ceil(65_535).max(1);
    let mut out = Vec::with_capacity(target.unwrap_or(size) as usize);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_compression(png::Compression::NoCompression);
    let written = enc.write_header().and_then(|mut w| {
        w.write_image_data(&pixels)?;
        if let Some(t) = target.filter(|t| *t >= size + 12) {
            let pad = vec![0u8; (t - size - 12) as usize];
            w.write_chunk(png::chunk::ChunkType(*b"rbPd"), &pad)?;
        }
        w.finish()
    });
    written.expect("a PNG of at least one pixel encodes into memory");
    out
}

/// A baseline JPEG of flat 8x8 blocks in smooth colours, padded by comment segments (after
/// the JFIF header) to `target` bytes when given (and large enough).
fn jpeg(width: u32, height: u32, rng: &mut FastRng, target: Option<u64>) -> Vec<u8> {
    let base: [u8; 3] = std::array::from_fn(|_| rng.next_u64() as u8);
    let mut pixels = Vec::with_capacity(3 * width as usize * height as usize);
    for (by, bx) in (0..height).flat_map(|y| (0..width).map(move |x| (y / 8, x / 8))) {
        // A gradient per component over the blocks.
        let level = |c: u32| base[c as usize].wrapping_add((bx * (3 + c) + by * (5 - c)) as u8);
        pixels.extend((0..3).map(level));
    }
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 50);
    enc.set_optimized_huffman_tables(true);
    let (w, h, rgb) = (width as u16, height as u16, jpeg_encoder::ColorType::Rgb);
    let encoded = enc.encode(&pixels, w, h, rgb);
    encoded.expect("a JPEG of 1 to 65535 pixels a side encodes into memory");
    let mut pad = target.map_or(0, |t| t.saturating_sub(out.len() as u64));
    let mut segments = Vec::new();
    while pad >= 4 {
        // One comment segment carries at most 65533 bytes; never leave 1 to 3 over.
        let mut body = (pad - 4).min(65_533);
        let rest = pad - 4 - body;
        if (1..4).contains(&rest) {
            body -= 4 - rest;
        }
        segments.extend_from_slice(&[0xFF, 0xFE]);
        segments.extend_from_slice(&((body + 2) as u16).to_be_bytes());
        segments.resize(segments.len() + body as usize, b' ');
        pad -= body + 4;
    }
    // SOI, then the JFIF segment, whose length follows its marker.
    let at = 4 + usize::from(u16::from_be_bytes([out[4], out[5]]));
    out.splice(at..at, segments);
    out
}
