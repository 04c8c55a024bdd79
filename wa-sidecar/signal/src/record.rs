//! The per-address session record: the current session state plus archived previous ones.

use std::collections::VecDeque;

use crate::keys::PublicKey;
use crate::state::SessionState;

/// Archived session states kept per address (R `ARCHIVED_STATES_MAX_LENGTH`, libsignal-node
/// `CLOSED_SESSIONS_MAX`).
pub const MAX_ARCHIVED_STATES: usize = 40;

/// Everything we know about our sessions with one peer device. The driver loads it, hands it
/// to [`crate::encrypt`] / [`crate::decrypt_message`] / ..., and persists it (see
/// [`SessionRecord::serialize`]) before sending or acknowledging what those produced.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    /// Most recently archived first.
    pub(crate) previous: VecDeque<SessionState>,
}

impl SessionRecord {
    /// An empty record (no session yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is a current session to encrypt with.
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// The peer identity key of the current session, if any.
    pub fn remote_identity(&self) -> Option<PublicKey> {
        self.current.as_ref().map(|s| s.remote_identity)
    }

    /// The peer's registration id in the current session, if any.
    pub fn remote_registration_id(&self) -> Option<u32> {
        self.current.as_ref().map(|s| s.remote_registration_id)
    }

    /// Whether the current session is still unacknowledged (our messages go out as `pkmsg`).
    pub fn is_pending_prekey(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.pending_pre_key.is_some())
    }

    /// Number of archived (previous) session states.
    pub fn archived_count(&self) -> usize {
        self.previous.len()
    }

    /// Moves the current state (if any) to the archive, e.g. when the peer re-keys or when
    /// the driver wants a fresh session after repeated decryption failures.
    pub fn archive_current_session(&mut self) {
        if let Some(state) = self.current.take() {
            self.previous.push_front(state);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }

    /// Installs `state` as current, archiving the one it replaces.
    pub(crate) fn promote_new(&mut self, state: SessionState) {
        self.archive_current_session();
        self.current = Some(state);
    }

    /// Makes archived state `index` current again (a message arrived on it), archiving the
    /// current one.
    pub(crate) fn promote_archived(&mut self, index: usize, updated: SessionState) {
        self.previous.remove(index);
        self.promote_new(updated);
    }

    /// Finds a state (current or archived) opened by the initiator's `base_key`.
    pub(crate) fn find_by_base_key(&self, base_key: &PublicKey) -> Option<StateRef> {
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.base_key == *base_key)
        {
            return Some(StateRef::Current);
        }
        self.previous
            .iter()
            .position(|s| s.base_key == *base_key)
            .map(StateRef::Archived)
    }

    /// The most recently known peer identity (current state, else newest archived).
    pub(crate) fn last_remote_identity(&self) -> Option<PublicKey> {
        self.current
            .as_ref()
            .or_else(|| self.previous.front())
            .map(|s| s.remote_identity)
    }
}

/// Shows only non-secret facts (no root, chain or message keys), so records can be logged.
impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("remote_identity", &self.remote_identity())
            .field("remote_registration_id", &self.remote_registration_id())
            .field("pending_prekey", &self.is_pending_prekey())
            .field("archived", &self.previous.len())
            .finish_non_exhaustive()
    }
}

/// Which state of a record is meant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StateRef {
    Current,
    Archived(usize),
}
