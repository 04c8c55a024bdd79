//! Fuzzes what a peer controls before any key is agreed: the frame layer on both sides, the
//! server's handshake responder (XX, IK and XXfallback hellos, then a ClientFinish) and the
//! client's certificate-chain check. Every input must end in `Ok` or `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use wa_crypto::KeyPair;
use wa_noise::{CertPolicy, FrameDecoder, Responder, ServerHandshake, verify_cert_chain};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    match selector % 3 {
        0 => {
            // A server reading a client's bytes: intro, frames, hello, finish.
            let server_static = KeyPair::from_private([7; 32]);
            let mut frames = FrameDecoder::server();
            let Ok(frames) = frames.push(data) else {
                return;
            };
            let mut frames = frames.into_iter();
            let Some(hello) = frames.next() else {
                return;
            };
            match ServerHandshake::respond(&hello, &server_static, &[1, 2, 3], &mut rng) {
                Ok(Responder::Xx { handshake, .. }) => {
                    if let Some(finish) = frames.next() {
                        let _ = handshake.read_client_finish(&finish);
                    }
                }
                Ok(_) | Err(_) => {}
            }
        }
        1 => {
            // A client reading a server's frames.
            let mut frames = FrameDecoder::client();
            let _ = frames.push(data);
        }
        _ => {
            // A decrypted certificate chain.
            let _ = verify_cert_chain(data, &[9; 32], 1_800_000_000, &CertPolicy::whatsapp());
        }
    }
});
