//! `cargo bench -p wa-signal`: throughput of the pairwise and group ciphers on one core.
//! Plain `Instant` timing (no bench framework); prints operations per second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wa_signal::{
    CiphertextMessage, PreKeyBundle, PreKeyRecord, PreKeySignalMessage, SenderKeyRecord,
    SessionRecord, SignedPreKeyRecord, create_sender_key_distribution, decrypt_message,
    decrypt_prekey_message, encrypt, generate_identity_key_pair, group_decrypt, group_encrypt,
    process_prekey_bundle, process_sender_key_distribution,
};

const PAYLOAD: &[u8] = &[0x42; 200];

fn report(what: &str, n: u32, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what:<40} {n:>6} ops  {:>10.0} ops/s  {:>8.1} µs/op",
        f64::from(n) / secs,
        secs * 1e6 / f64::from(n)
    );
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let alice_id = generate_identity_key_pair(&mut rng);
    let bob_id = generate_identity_key_pair(&mut rng);
    let signed = SignedPreKeyRecord::generate(&bob_id, 1, &mut rng);
    let pre = PreKeyRecord::generate_batch(1, 1, &mut rng);
    let bundle = PreKeyBundle::from_own_keys(2, &bob_id, &signed, pre.first());

    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        let mut r = SessionRecord::new();
        process_prekey_bundle(&mut r, &alice_id, 1, &bundle, 0, &mut rng).unwrap();
    }
    report("X3DH initiator (process_prekey_bundle)", n, start);

    let mut alice = SessionRecord::new();
    process_prekey_bundle(&mut alice, &alice_id, 1, &bundle, 0, &mut rng).unwrap();
    let mut bob = SessionRecord::new();
    let CiphertextMessage::PreKey(first) = encrypt(&mut alice, PAYLOAD).unwrap() else {
        panic!("pkmsg expected")
    };
    let parsed = PreKeySignalMessage::parse(&first).unwrap();
    decrypt_prekey_message(
        &mut bob,
        &bob_id,
        2,
        &parsed,
        Some(&signed),
        pre.first(),
        0,
        &mut rng,
    )
    .unwrap();
    let reply = encrypt(&mut bob, PAYLOAD).unwrap();
    decrypt_message(&mut alice, reply.bytes(), &mut rng).unwrap();

    let n = 20_000;
    let start = Instant::now();
    let msgs: Vec<_> = (0..n)
        .map(|_| encrypt(&mut alice, PAYLOAD).unwrap())
        .collect();
    report("encrypt msg (200 B)", n, start);
    let start = Instant::now();
    for m in &msgs {
        decrypt_message(&mut bob, m.bytes(), &mut rng).unwrap();
    }
    report("decrypt msg in order (200 B)", n, start);

    let n = 2_000;
    let start = Instant::now();
    for _ in 0..n {
        let m = encrypt(&mut alice, PAYLOAD).unwrap();
        decrypt_message(&mut bob, m.bytes(), &mut rng).unwrap();
        let r = encrypt(&mut bob, PAYLOAD).unwrap();
        decrypt_message(&mut alice, r.bytes(), &mut rng).unwrap();
    }
    report("ping-pong round trip (2 ratchet steps)", n, start);

    let start = Instant::now();
    let bytes = bob.serialize();
    let n = 2_000;
    for _ in 0..n {
        SessionRecord::deserialize(&bytes).unwrap().serialize();
    }
    report(&format!("record load+store ({} B)", bytes.len()), n, start);

    let mut own = SenderKeyRecord::new();
    let skdm = create_sender_key_distribution(&mut own, &mut rng).unwrap();
    let mut member = SenderKeyRecord::new();
    process_sender_key_distribution(&mut member, &skdm).unwrap();
    let n = 5_000;
    let start = Instant::now();
    let msgs: Vec<_> = (0..n)
        .map(|_| group_encrypt(&mut own, PAYLOAD, &mut rng).unwrap())
        .collect();
    report("group encrypt skmsg (200 B, signs)", n, start);
    let start = Instant::now();
    for m in &msgs {
        group_decrypt(&mut member, m).unwrap();
    }
    report("group decrypt skmsg (200 B, verifies)", n, start);
}
