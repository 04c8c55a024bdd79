//! Fixtures shared by the integration tests: fixed-seed keys and a well-formed chain.
#![allow(dead_code, unreachable_pub)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_crypto::KeyPair;
use wa_noise::{CertPolicy, CertSerials, Validity, build_cert_chain};

/// "Now" used by the tests (2026-11-22).
pub const NOW: u64 = 1_795_000_000;
pub const VALIDITY: Validity = Validity {
    not_before: NOW - 86_400,
    not_after: NOW + 86_400,
};
pub const SERIALS: CertSerials = CertSerials {
    intermediate: 7,
    leaf: 8,
};

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Root, intermediate, server static and client static key pairs from fixed seeds.
pub struct Keys {
    pub root: KeyPair,
    pub intermediate: KeyPair,
    pub server_static: KeyPair,
    pub client_static: KeyPair,
}

impl Keys {
    pub fn new() -> Self {
        let mut r = rng(1);
        Self {
            root: KeyPair::generate(&mut r),
            intermediate: KeyPair::generate(&mut r),
            server_static: KeyPair::generate(&mut r),
            client_static: KeyPair::generate(&mut r),
        }
    }

    pub fn policy(&self) -> CertPolicy {
        CertPolicy::danger_trust_root(self.root.public)
    }

    pub fn chain(&self) -> Vec<u8> {
        build_cert_chain(
            &self.root,
            &self.intermediate,
            &self.server_static.public,
            SERIALS,
            VALIDITY,
            &mut rng(2),
        )
    }
}
