//! Randomised conversations: both sides send at random, the network reorders (within a small
//! window), drops and duplicates messages, and either side restarts from its stored record.
//! Every first delivery must decrypt to exactly what was sent; every redelivery must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;

use common::{Party, connected_pair};
use rand::Rng;
use wa_signal::{CiphertextMessage, SessionRecord};

/// Messages in flight in one direction, oldest first.
type Wire = VecDeque<(String, CiphertextMessage)>;

fn deliver(
    rng: &mut impl Rng,
    to: &mut Party,
    wire: &mut Wire,
    delivered: &mut Vec<CiphertextMessage>,
) {
    if wire.is_empty() {
        return;
    }
    // Reorder only among the three oldest in-flight messages, so no message outlives the
    // receiver-chain window (MAX_RECEIVER_CHAINS) it belongs to.
    let pick = rng.gen_range(0..wire.len().min(3));
    let (text, msg) = wire.remove(pick).unwrap();
    if rng.gen_bool(0.05) {
        return; // lost on the network
    }
    assert_eq!(to.receive(&msg).unwrap(), text, "first delivery decrypts");
    delivered.push(msg);
}

#[test]
fn random_schedules_with_loss_reordering_replays_and_restarts() {
    for seed in 0..12u64 {
        let mut net = common::rng(1000 + seed);
        let (mut alice, mut bob) = connected_pair();
        let (mut to_bob, mut to_alice) = (Wire::new(), Wire::new());
        let (mut seen_by_bob, mut seen_by_alice) = (Vec::new(), Vec::new());
        for step in 0..150 {
            match net.gen_range(0..10) {
                0..=1 => {
                    let text = format!("a{seed}/{step}");
                    to_bob.push_back((text.clone(), alice.send(&text)));
                }
                2..=3 => {
                    let text = format!("b{seed}/{step}");
                    to_alice.push_back((text.clone(), bob.send(&text)));
                }
                4..=5 => deliver(&mut net, &mut bob, &mut to_bob, &mut seen_by_bob),
                6..=7 => deliver(&mut net, &mut alice, &mut to_alice, &mut seen_by_alice),
                8 => {
                    // Replay something already delivered: always refused.
                    if !seen_by_bob.is_empty() {
                        let i = net.gen_range(0..seen_by_bob.len());
                        assert!(bob.receive(&seen_by_bob[i]).is_err(), "replay refused");
                    }
                }
                _ => {
                    // Restart one side from its stored bytes.
                    let party = if net.gen_bool(0.5) {
                        &mut alice
                    } else {
                        &mut bob
                    };
                    party.record = SessionRecord::deserialize(&party.record.serialize()).unwrap();
                }
            }
        }
        // Drain: everything still in flight decrypts.
        while !to_bob.is_empty() || !to_alice.is_empty() {
            if let Some((text, msg)) = to_bob.pop_front() {
                assert_eq!(bob.receive(&msg).unwrap(), text);
            }
            if let Some((text, msg)) = to_alice.pop_front() {
                assert_eq!(alice.receive(&msg).unwrap(), text);
            }
        }
    }
}
