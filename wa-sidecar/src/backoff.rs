//! Reconnect policy: Fibonacci backoff with jitter, reset only after a stable connection.
//!
//! WhatsApp Web (and whatsapp-rust, `fibonacci_backoff` in `src/client.rs`, fact sheet 8.2)
//! uses `{type: fibonacci, first: 1000, second: 1000, jitter: 0.1, max: 9e5}` and resets the
//! counter once a connection stayed up for about 30 s. We keep the shape and cap at 60 s.

use std::time::Duration;

use rand::Rng;

/// First two delays of the sequence.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Largest delay between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Relative jitter applied to each delay (±10 %).
pub const JITTER: f64 = 0.1;
/// A connection that stayed up this long resets the sequence.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Fibonacci backoff state. Times are in milliseconds from any monotonic origin.
#[derive(Debug, Clone)]
pub struct Backoff {
    prev_ms: u64,
    cur_ms: u64,
    max_ms: u64,
    attempts: u32,
    connected_at: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(MAX_DELAY)
    }
}

impl Backoff {
    /// A fresh sequence (1 s, 1 s, 2 s, 3 s, 5 s, ...) capped at `max`.
    pub fn new(max: Duration) -> Self {
        Backoff {
            prev_ms: 0,
            cur_ms: FIRST_DELAY.as_millis() as u64,
            max_ms: max.as_millis() as u64,
            attempts: 0,
            connected_at: None,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The next delay without jitter, and advance the sequence.
    pub fn next_base(&mut self) -> Duration {
        let delay = self.cur_ms.min(self.max_ms);
        let next = self.prev_ms.saturating_add(self.cur_ms).min(self.max_ms);
        self.prev_ms = self.cur_ms.min(self.max_ms);
        self.cur_ms = next;
        self.attempts = self.attempts.saturating_add(1);
        Duration::from_millis(delay)
    }

    /// The next delay with ±[`JITTER`] applied, and advance the sequence.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let base = self.next_base().as_secs_f64();
        let factor = 1.0 + rng.gen_range(-JITTER..=JITTER);
        Duration::from_secs_f64(base * factor)
    }

    /// The session reached "connected" at `now_ms`.
    pub fn on_connected(&mut self, now_ms: u64) {
        self.connected_at = Some(now_ms);
    }

    /// The connection ended at `now_ms`. Returns true when it had been stable for
    /// [`STABLE_AFTER`] and the sequence was reset.
    pub fn on_disconnected(&mut self, now_ms: u64) -> bool {
        let stable = self
            .connected_at
            .take()
            .is_some_and(|at| now_ms.saturating_sub(at) >= STABLE_AFTER.as_millis() as u64);
        if stable {
            self.reset();
        }
        stable
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        *self = Backoff::new(Duration::from_millis(self.max_ms));
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn secs(b: &mut Backoff, n: usize) -> Vec<u64> {
        (0..n).map(|_| b.next_base().as_secs()).collect()
    }

    #[test]
    fn sequence_is_fibonacci_capped_at_sixty_seconds() {
        let mut b = Backoff::default();
        assert_eq!(
            secs(&mut b, 13),
            vec![1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 60, 60, 60]
        );
        assert_eq!(b.attempts(), 13);
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut b = Backoff::default();
            for _ in 0..5 {
                b.next_base();
            }
            // sixth delay: base 8 s
            let d = b.next_delay(&mut rng).as_secs_f64();
            assert!((7.2..=8.8).contains(&d), "{d}");
            seen.insert((d * 1000.0) as u64);
        }
        assert!(seen.len() > 50, "jitter must spread the delays");
    }

    #[test]
    fn short_connection_keeps_growing_the_delay() {
        let mut b = Backoff::default();
        secs(&mut b, 4); // 1 1 2 3
        b.on_connected(1_000);
        assert!(!b.on_disconnected(1_000 + 29_999));
        assert_eq!(b.next_base().as_secs(), 5);
    }

    #[test]
    fn stable_connection_resets_the_sequence() {
        let mut b = Backoff::default();
        secs(&mut b, 6);
        b.on_connected(10_000);
        assert!(b.on_disconnected(40_000));
        assert_eq!(b.attempts(), 0);
        assert_eq!(secs(&mut b, 4), vec![1, 1, 2, 3]);
    }

    #[test]
    fn disconnect_without_connect_does_not_reset() {
        let mut b = Backoff::default();
        secs(&mut b, 3);
        assert!(!b.on_disconnected(1_000_000));
        assert_eq!(b.next_base().as_secs(), 3);
    }

    #[test]
    fn custom_cap_is_respected() {
        let mut b = Backoff::new(Duration::from_secs(4));
        assert_eq!(secs(&mut b, 7), vec![1, 1, 2, 3, 4, 4, 4]);
        b.reset();
        assert_eq!(secs(&mut b, 3), vec![1, 1, 2]);
    }
}
