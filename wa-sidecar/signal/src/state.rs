//! One double-ratchet session state: root key, sending chain, receiving chains with their
//! skipped message keys, and the pending prekey data of an unacknowledged outgoing session.

use std::collections::VecDeque;

use wa_crypto::KeyPair;
use zeroize::Zeroize;

use crate::SignalError;
use crate::keys::PublicKey;
use crate::ratchet_keys::ChainKey;

/// Skipped message keys kept per receiving chain; the oldest are dropped beyond this
/// (R `protocol/consts.rs` `MAX_MESSAGE_KEYS`).
pub const MAX_MESSAGE_KEYS: usize = 2000;
/// Largest forward jump on one chain; a message further ahead is refused (libsignal-node
/// `fillMessageKeys`: "Over 2000 messages into the future!").
pub const MAX_FORWARD_JUMPS: u32 = 2000;
/// Receiving chains kept per session (R `MAX_RECEIVER_CHAINS`).
pub const MAX_RECEIVER_CHAINS: usize = 5;

/// A receiving chain: the peer's ratchet key, our position on its chain, and the seeds of
/// messages we skipped (counter, seed), oldest first.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: ChainKey,
    pub(crate) skipped: VecDeque<(u32, [u8; 32])>,
}

/// Our sending chain: our current ratchet key pair and chain key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct SenderChain {
    pub(crate) ratchet_key: KeyPair,
    pub(crate) chain_key: ChainKey,
}

/// X3DH data repeated in every outgoing message (as a `pkmsg`) until the peer replies.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct PendingPreKey {
    pub(crate) pre_key_id: Option<u32>,
    pub(crate) signed_pre_key_id: u32,
    pub(crate) base_key: PublicKey,
}

/// A complete session state (one X3DH run and everything ratcheted since).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct SessionState {
    pub(crate) local_identity: PublicKey,
    pub(crate) remote_identity: PublicKey,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    /// The initiator's X3DH base key: identifies this session when the pkmsg is repeated.
    pub(crate) base_key: PublicKey,
    pub(crate) root_key: [u8; 32],
    pub(crate) previous_counter: u32,
    pub(crate) sender_chain: SenderChain,
    /// Newest last.
    pub(crate) receiver_chains: Vec<ReceiverChain>,
    pub(crate) pending_pre_key: Option<PendingPreKey>,
    /// Caller's clock (seconds or millis, as the driver chooses) when the session was set up.
    pub(crate) created_at: u64,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        self.root_key.zeroize();
        for chain in &mut self.receiver_chains {
            for (_, seed) in chain.skipped.iter_mut() {
                seed.zeroize();
            }
        }
    }
}

/// Where a message key came from, so the state is changed only after the MAC verified.
pub(crate) enum KeySource {
    /// A stored skipped key at this position in the chain's `skipped` list.
    Skipped(usize),
    /// Ahead of (or at) the chain: the chain advances to `next`, storing `new_skipped`.
    Advance {
        new_skipped: Vec<(u32, [u8; 32])>,
        next: ChainKey,
    },
}

impl SessionState {
    pub(crate) fn receiver_chain_index(&self, their: &PublicKey) -> Option<usize> {
        self.receiver_chains
            .iter()
            .position(|c| c.ratchet_key == *their)
    }

    /// Adds a receiving chain, dropping the oldest beyond [`MAX_RECEIVER_CHAINS`].
    pub(crate) fn add_receiver_chain(&mut self, ratchet_key: PublicKey, chain_key: ChainKey) {
        self.receiver_chains.push(ReceiverChain {
            ratchet_key,
            chain_key,
            skipped: VecDeque::new(),
        });
        if self.receiver_chains.len() > MAX_RECEIVER_CHAINS {
            self.receiver_chains.remove(0);
        }
    }

    /// Finds the message-key seed for `counter` on receiving chain `chain`, without changing
    /// state. Replays give [`SignalError::DuplicateMessage`], huge jumps
    /// [`SignalError::TooFarInFuture`].
    pub(crate) fn find_message_key(
        &self,
        chain: usize,
        counter: u32,
    ) -> Result<([u8; 32], KeySource), SignalError> {
        let rc = self
            .receiver_chains
            .get(chain)
            .ok_or(SignalError::InvalidState("receiver chain index"))?;
        let next = rc.chain_key.index;
        if counter < next {
            return rc
                .skipped
                .iter()
                .position(|(c, _)| *c == counter)
                .map(|pos| (rc.skipped[pos].1, KeySource::Skipped(pos)))
                .ok_or(SignalError::DuplicateMessage { counter });
        }
        if counter - next > MAX_FORWARD_JUMPS {
            return Err(SignalError::TooFarInFuture {
                counter,
                next,
                limit: MAX_FORWARD_JUMPS,
            });
        }
        let mut ck = rc.chain_key.clone();
        let mut new_skipped = Vec::with_capacity((counter - next) as usize);
        while ck.index < counter {
            new_skipped.push((ck.index, ck.message_key_seed()));
            ck = ck.next();
        }
        let seed = ck.message_key_seed();
        Ok((
            seed,
            KeySource::Advance {
                new_skipped,
                next: ck.next(),
            },
        ))
    }

    /// Commits what [`Self::find_message_key`] found, once the MAC verified.
    pub(crate) fn commit_message_key(&mut self, chain: usize, source: KeySource) {
        let Some(rc) = self.receiver_chains.get_mut(chain) else {
            return;
        };
        match source {
            KeySource::Skipped(pos) => {
                rc.skipped.remove(pos);
            }
            KeySource::Advance { new_skipped, next } => {
                rc.skipped.extend(new_skipped);
                while rc.skipped.len() > MAX_MESSAGE_KEYS {
                    rc.skipped.pop_front();
                }
                rc.chain_key = next;
            }
        }
    }
}
