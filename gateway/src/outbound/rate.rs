//! Send pacing per sender (`TWILIO_SEND_RATE` messages per second) and retry backoff.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// First retry delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Delay before the retry that follows failed attempt `attempts` (1-based): 1 s, 2 s, 4 s, …
/// capped at 30 s, times a jitter factor in `[0.8, 1.2)`, and never shorter than `retry_after`.
pub fn backoff(attempts: i32, jitter: f64, retry_after: Option<Duration>) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    let base = BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_CAP);
    let jitter = jitter.clamp(0.8, 1.2);
    let jittered = base.mul_f64(jitter).min(BACKOFF_CAP);
    match retry_after {
        Some(r) => jittered.max(r),
        None => jittered,
    }
}

/// A random jitter factor for [`backoff`].
pub fn jitter() -> f64 {
    0.8 + rand::random::<f64>() * 0.4
}

/// Spaces calls at least `1 / rate` apart (one sender's messages-per-second limit).
pub struct RateLimiter {
    per_second: u32,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_second` calls per second (at least 1).
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second: per_second.max(1),
            next: Mutex::new(None),
        }
    }

    /// The configured rate.
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Waits for this call's slot.
    pub async fn acquire(&self) {
        let gap = Duration::from_secs(1) / self.per_second;
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(slot + gap);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let s = |a| backoff(a, 1.0, None).as_secs();
        assert_eq!(
            (s(1), s(2), s(3), s(4), s(5), s(6), s(50)),
            (1, 2, 4, 8, 16, 30, 30)
        );
        assert_eq!(backoff(1, 0.8, None), Duration::from_millis(800));
        assert_eq!(
            backoff(6, 1.2, None),
            BACKOFF_CAP,
            "jitter never exceeds the cap"
        );
        assert_eq!(
            backoff(1, 1.0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        for _ in 0..100 {
            let j = jitter();
            assert!((0.8..1.2).contains(&j));
        }
    }

    #[tokio::test]
    async fn limiter_spaces_calls() {
        let l = RateLimiter::new(50);
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        // Five calls at 50/s: the fifth cannot start before 80 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(80));
    }
}
