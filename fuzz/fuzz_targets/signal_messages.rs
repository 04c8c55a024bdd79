//! Fuzzes what a peer (or a damaged store) controls in the Signal layer: `pkmsg`, `msg` and
//! `skmsg` ciphertexts, WhatsApp's padding, and stored records. Every input must end in `Ok`
//! or `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use wa_signal::{
    PreKeySignalMessage, SenderKeyRecord, SessionRecord, decrypt_message, group_decrypt,
    unpad_message,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    match selector % 5 {
        0 => {
            let _ = PreKeySignalMessage::parse(data);
        }
        1 => {
            let _ = decrypt_message(&mut SessionRecord::new(), data, &mut rng);
        }
        2 => {
            let _ = group_decrypt(&mut SenderKeyRecord::new(), data);
        }
        3 => {
            let _ = unpad_message(data);
        }
        _ => {
            let _ = SessionRecord::deserialize(data);
            let _ = SenderKeyRecord::deserialize(data);
        }
    }
});
