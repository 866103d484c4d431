//! The line framer fed arbitrary bytes in arbitrary chunks: it never panics,
//! never yields a line over its limit, and never holds more than the limit
//! of an unfinished line, whatever a peer sends.
#![no_main]

use bytes::BytesMut;
use common::codec::{LineCodec, LineError};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    // A small limit so long lines are reachable; chunk sizes from the input.
    let max = 1 + usize::from(head % 64);
    let mut codec = LineCodec::new(max);
    let mut buf = BytesMut::new();
    let mut chunks = rest.chunks(1 + usize::from(head / 64) * 7);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(line)) => assert!(line.len() <= max),
            Ok(None) => {
                assert!(buf.len() <= max + 1, "holds {} bytes", buf.len());
                match chunks.next() {
                    Some(chunk) => buf.extend_from_slice(chunk),
                    None => break,
                }
            }
            // The connection is closed after any error.
            Err(LineError::TooLong { .. } | LineError::NotText) => return,
            Err(LineError::Io(e)) => panic!("no I/O here: {e}"),
        }
    }
    while let Ok(Some(line)) = codec.decode_eof(&mut buf) {
        assert!(line.len() <= max);
    }
});
