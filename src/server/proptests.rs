//! Property tests: request heads and chunked bodies, of any bytes, parse to a value or an
//! error, never a panic.

use std::io::Read;

use proptest::prelude::*;

use super::body::{Body, Framing};
use super::head::read_head;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn request_heads_and_chunked_bodies_never_panic(raw in prop::collection::vec(
        prop_oneof![
            Just(b"GET / HTTP/1.1\r\n".to_vec()),
            Just(b"Content-Length: 5\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"5\r\nhello\r\n".to_vec()),
            Just(b"0\r\n\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 0..30),
        ], 0..12)
    ) {
        let raw = raw.concat();
        if let Ok(head) = read_head(&mut std::io::BufReader::new(&raw[..])) {
            let _ = head.framing();
            let _ = head.keep_alive();
            // Whatever was accepted holds no CR, LF or NUL in a header.
            for (k, v) in &head.headers {
                let clean = !k.contains(['\r', '\n', '\0']) && !v.contains(['\r', '\n', '\0']);
                prop_assert!(clean);
            }
        }
        let mut src = std::io::BufReader::new(&raw[..]);
        let mut body = Body::new(&mut src, Framing::Chunked, None);
        let _ = body.read_to_end(&mut Vec::new());
    }
}
