//! Fuzzes the frame decoder: any input must give `Ok` or `Err`, never a panic, an abort or an
//! unbounded allocation. Whatever decodes must re-encode and decode to the same node.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = wa_binary::decode_frame_payload(data) {
        let again = wa_binary::decode_frame_payload(&wa_binary::encode_frame_payload(&node));
        assert!(again.is_ok(), "re-encoded node failed to decode: {again:?}");
    }
});
