//! Sidecar health: polled `GET /health` every `HEALTH_CHECK_INTERVAL`, plus failed sends.
//!
//! A failed check (error, timeout, non-2xx, or `connected:false`) or a failed send marks the
//! sidecar DOWN at once; it is UP again only after two consecutive healthy checks. Every change
//! is a `wa.provider` event.

use std::sync::Mutex;
use std::time::Duration;

use crm_store::Millis;
use serde::Serialize;

/// Consecutive healthy checks needed to come back UP.
pub const UP_AFTER: u32 = 2;
/// Longest wait for one health check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The sidecar's state as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SidecarState {
    /// `BAILEYS_OUTBOUND_URL` is set.
    pub configured: bool,
    /// Usable for sending.
    pub up: bool,
    /// Since when (unix ms).
    pub since: Millis,
    /// Why it is in this state.
    pub reason: String,
    /// Healthy checks in a row while DOWN.
    pub healthy_streak: u32,
}

/// A state change to report as a `wa.provider` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// New state.
    pub up: bool,
    /// Why.
    pub reason: String,
}

/// The shared health record.
pub struct SidecarHealth {
    state: Mutex<SidecarState>,
}

impl SidecarHealth {
    /// A sidecar assumed UP until a check or a send says otherwise (so a restart does not
    /// divert traffic for a whole check interval); DOWN for good when not configured.
    pub fn new(configured: bool, now: Millis) -> Self {
        let state = SidecarState {
            configured,
            up: configured,
            since: now,
            reason: if configured {
                "not checked yet".into()
            } else {
                "BAILEYS_OUTBOUND_URL is not set".into()
            },
            healthy_streak: 0,
        };
        SidecarHealth {
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SidecarState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> SidecarState {
        self.lock().clone()
    }

    /// Whether the sidecar may be used now.
    pub fn is_up(&self) -> bool {
        let s = self.lock();
        s.configured && s.up
    }

    /// Marks the sidecar DOWN (a failed check or send); `Some` when this is a change.
    pub fn mark_down(&self, reason: &str, now: Millis) -> Option<Transition> {
        let mut s = self.lock();
        s.healthy_streak = 0;
        if !s.configured || !s.up {
            return None;
        }
        s.up = false;
        s.since = now;
        s.reason = reason.to_owned();
        Some(Transition {
            up: false,
            reason: reason.to_owned(),
        })
    }

    /// Records a healthy check; `Some` when it brings the sidecar back UP.
    pub fn healthy(&self, now: Millis) -> Option<Transition> {
        let mut s = self.lock();
        if !s.configured {
            return None;
        }
        if s.up {
            if s.reason == "not checked yet" {
                s.reason = "healthy".into();
            }
            return None;
        }
        s.healthy_streak += 1;
        if s.healthy_streak < UP_AFTER {
            return None;
        }
        s.up = true;
        s.healthy_streak = 0;
        s.since = now;
        s.reason = format!("{UP_AFTER} consecutive healthy checks");
        Some(Transition {
            up: true,
            reason: s.reason.clone(),
        })
    }
}

/// Outcome of one `GET /health`: `Ok` when healthy, else why not.
pub async fn check(client: &reqwest::Client, url: &url::Url) -> Result<(), String> {
    let resp = client
        .get(url.clone())
        .timeout(CHECK_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "health check timed out".to_owned()
            } else {
                format!("health check failed: {}", without_url(&e))
            }
        })?;
    let status = resp.status();
    let body: Option<serde_json::Value> = resp.json().await.ok();
    let connected = body
        .as_ref()
        .and_then(|b| b.get("connected"))
        .and_then(serde_json::Value::as_bool);
    let reason = body
        .as_ref()
        .and_then(|b| b.get("reason"))
        .and_then(serde_json::Value::as_str)
        .map(|r| r.chars().take(100).collect::<String>());
    if !status.is_success() {
        return Err(match reason {
            Some(r) => format!("health answered {status}: {r}"),
            None => format!("health answered {status}"),
        });
    }
    // `connected` is in the contract; an older Node service may omit it (then 200 means UP).
    if connected == Some(false) {
        return Err(format!(
            "sidecar not connected to WhatsApp ({})",
            reason.unwrap_or_else(|| "no reason given".into())
        ));
    }
    Ok(())
}

/// A reqwest error's text without the URL (which may carry credentials in a query).
pub fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_at_once_up_after_two_healthy_checks() {
        let h = SidecarHealth::new(true, 0);
        assert!(h.is_up());
        assert_eq!(h.healthy(1), None);
        let t = h.mark_down("connection refused", 5).unwrap();
        assert!(!t.up);
        assert!(!h.is_up());
        assert_eq!(h.mark_down("again", 6), None, "no duplicate transition");
        assert_eq!(h.healthy(10), None, "one healthy check is not enough");
        assert!(!h.is_up());
        // A failure in between resets the streak.
        assert_eq!(h.mark_down("flap", 11), None);
        assert_eq!(h.healthy(12), None);
        let t = h.healthy(13).unwrap();
        assert!(t.up);
        assert!(h.is_up());
        let s = h.snapshot();
        assert_eq!((s.since, s.up), (13, true));
    }

    #[test]
    fn unconfigured_is_never_up() {
        let h = SidecarHealth::new(false, 0);
        assert!(!h.is_up());
        assert_eq!(h.healthy(1), None);
        assert_eq!(h.healthy(2), None);
        assert!(!h.is_up());
        assert_eq!(h.mark_down("x", 3), None);
    }
}
