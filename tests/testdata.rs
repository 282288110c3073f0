//! The test images of `roboflow_batch::testdata`, read back from their bytes.
#![cfg(feature = "sandbox")]

use roboflow_batch::testdata::{ImageFormat, ImageSet};

/// Width and height read back from the header bytes.
fn header_dims(b: &[u8]) -> (u32, u32) {
    if b.starts_with(b"\x89PNG") {
        let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        return (w, h);
    }
    let mut i = 2;
    loop {
        let marker = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if marker == 0xC0 {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]);
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]);
            return (w.into(), h.into());
        }
        i += 2 + len;
    }
}

#[test]
fn sizes_are_exact_across_the_range_and_headers_say_the_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    for fmt in [ImageFormat::Png, ImageFormat::Jpeg] {
        let images = ImageSet::new(40)
            .formats(&[fmt])
            .prefix(fmt.extension())
            .dimensions(8..=300, 8..=300)
            .file_size(2_000..=250_000)
            .write_to(dir.path())
            .unwrap();
        for img in images {
            let bytes = std::fs::read(&img.path).unwrap();
            assert_eq!(bytes.len() as u64, img.size, "{}", img.name);
            assert!(
                (2_000..=250_000).contains(&img.size),
                "{}: {}",
                img.name,
                img.size
            );
            assert_eq!(header_dims(&bytes), (img.width, img.height), "{}", img.name);
            if fmt == ImageFormat::Png {
                // An empty IEND chunk's CRC is fixed by the PNG spec: the CRC-32 is right.
                assert!(bytes.ends_with(b"IEND\xAE\x42\x60\x82"), "{}", img.name);
            } else {
                assert!(bytes.starts_with(b"\xFF\xD8") && bytes.ends_with(b"\xFF\xD9"));
            }
        }
    }
}
