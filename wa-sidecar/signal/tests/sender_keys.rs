//! Group flow with sender keys: distribution, `skmsg` encrypt/decrypt, limits, persistence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wa_signal::{
    MAX_FORWARD_JUMPS, SenderKeyRecord, SignalError, create_sender_key_distribution, group_decrypt,
    group_encrypt, process_sender_key_distribution,
};

/// Alice's own record plus Bob's and Carol's copies of Alice's sender key.
fn group() -> (SenderKeyRecord, SenderKeyRecord, SenderKeyRecord) {
    let mut rng = common::rng(21);
    let mut alice = SenderKeyRecord::new();
    let skdm = create_sender_key_distribution(&mut alice, &mut rng).unwrap();
    assert_eq!(skdm[0], 0x33);
    let (mut bob, mut carol) = (SenderKeyRecord::new(), SenderKeyRecord::new());
    process_sender_key_distribution(&mut bob, &skdm).unwrap();
    process_sender_key_distribution(&mut carol, &skdm).unwrap();
    (alice, bob, carol)
}

#[test]
fn members_decrypt_the_senders_messages_in_and_out_of_order() {
    let mut rng = common::rng(22);
    let (mut alice, mut bob, mut carol) = group();
    let msgs: Vec<_> = (0..5)
        .map(|i| group_encrypt(&mut alice, format!("g{i}").as_bytes(), &mut rng).unwrap())
        .collect();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            group_decrypt(&mut bob, m).unwrap(),
            format!("g{i}").as_bytes()
        );
    }
    for i in [3, 1, 4, 0, 2] {
        assert_eq!(
            group_decrypt(&mut carol, &msgs[i]).unwrap(),
            format!("g{i}").as_bytes()
        );
    }
}

#[test]
fn replay_tamper_and_unknown_sender_are_rejected() {
    let mut rng = common::rng(23);
    let (mut alice, mut bob, _) = group();
    let m = group_encrypt(&mut alice, b"once", &mut rng).unwrap();
    assert_eq!(group_decrypt(&mut bob, &m).unwrap(), b"once");
    assert_eq!(
        group_decrypt(&mut bob, &m),
        Err(SignalError::DuplicateMessage { counter: 0 })
    );

    let next = group_encrypt(&mut alice, b"twice", &mut rng).unwrap();
    let before = bob.serialize();
    for pos in [next.len() - 1, next.len() - 70] {
        // in the signature, then in the ciphertext
        let mut forged = next.clone();
        forged[pos] ^= 1;
        assert!(matches!(
            group_decrypt(&mut bob, &forged),
            Err(SignalError::InvalidSignature(_))
        ));
    }
    assert_eq!(bob.serialize(), before, "failed decrypt leaves state alone");
    assert_eq!(group_decrypt(&mut bob, &next).unwrap(), b"twice");

    // A member who never got the distribution cannot decrypt.
    let mut dave = SenderKeyRecord::new();
    assert!(matches!(
        group_decrypt(&mut dave, &next),
        Err(SignalError::NoSenderKey(_))
    ));
    // Garbage never panics.
    for cut in 0..next.len() {
        let _ = group_decrypt(&mut bob, &next[..cut]);
        let _ = process_sender_key_distribution(&mut dave, &next[..cut]);
        let _ = SenderKeyRecord::deserialize(&next[..cut]);
    }
}

#[test]
fn redelivered_distribution_does_not_rewind_the_chain() {
    let mut rng = common::rng(24);
    let mut alice = SenderKeyRecord::new();
    let skdm = create_sender_key_distribution(&mut alice, &mut rng).unwrap();
    let mut bob = SenderKeyRecord::new();
    process_sender_key_distribution(&mut bob, &skdm).unwrap();
    let m = group_encrypt(&mut alice, b"x", &mut rng).unwrap();
    group_decrypt(&mut bob, &m).unwrap();
    process_sender_key_distribution(&mut bob, &skdm).unwrap();
    assert!(matches!(
        group_decrypt(&mut bob, &m),
        Err(SignalError::DuplicateMessage { .. })
    ));
    // The sender's distribution after sending carries the current iteration.
    let later = create_sender_key_distribution(&mut alice, &mut rng).unwrap();
    let mut carol = SenderKeyRecord::new();
    process_sender_key_distribution(&mut carol, &later).unwrap();
    let m2 = group_encrypt(&mut alice, b"y", &mut rng).unwrap();
    assert_eq!(group_decrypt(&mut carol, &m2).unwrap(), b"y");
}

#[test]
fn far_future_iterations_are_refused_and_records_persist() {
    let mut rng = common::rng(25);
    let (mut alice, bob, _) = group();
    let msgs: Vec<_> = (0..MAX_FORWARD_JUMPS + 2)
        .map(|_| group_encrypt(&mut alice, b"z", &mut rng).unwrap())
        .collect();
    let mut bob = SenderKeyRecord::deserialize(&bob.serialize()).unwrap();
    assert!(matches!(
        group_decrypt(&mut bob, &msgs[MAX_FORWARD_JUMPS as usize + 1]),
        Err(SignalError::TooFarInFuture { .. })
    ));
    assert!(group_decrypt(&mut bob, &msgs[MAX_FORWARD_JUMPS as usize]).is_ok());

    // The sender's own record also survives a restart and keeps counting.
    let mut alice = SenderKeyRecord::deserialize(&alice.serialize()).unwrap();
    let m = group_encrypt(&mut alice, b"after restart", &mut rng).unwrap();
    assert_eq!(group_decrypt(&mut bob, &m).unwrap(), b"after restart");
}
