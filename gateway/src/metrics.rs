//! Prometheus metrics in the text exposition format (hand-written: a few counters and gauges).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crm_store::{JobBacklog, Millis};

/// Webhook route label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// `/api/whatsapp/twilio`.
    Twilio,
    /// `/api/whatsapp/baileys`.
    Baileys,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Twilio => "twilio",
            Route::Baileys => "baileys",
        }
    }
}

/// How a webhook request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Persisted (new message or status applied/kept for audit).
    Stored,
    /// Already stored: nothing written.
    Duplicate,
    /// Missing or wrong credentials/signature.
    RejectedAuth,
    /// Malformed request.
    BadRequest,
    /// Content type not accepted.
    UnsupportedMediaType,
    /// Store down: answered 503.
    Unavailable,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::RejectedAuth => "rejected_auth",
            Outcome::BadRequest => "bad_request",
            Outcome::UnsupportedMediaType => "unsupported_media_type",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Result of one media copy attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MediaOutcome {
    /// Copied and attached.
    Stored,
    /// Failed, will be retried.
    Retry,
    /// Failed for good.
    Buried,
}

impl MediaOutcome {
    fn label(self) -> &'static str {
        match self {
            MediaOutcome::Stored => "stored",
            MediaOutcome::Retry => "retry",
            MediaOutcome::Buried => "buried",
        }
    }
}

#[derive(Default)]
struct Counters {
    webhooks: BTreeMap<(Route, Outcome), u64>,
    signature_failures: BTreeMap<Route, u64>,
    media: BTreeMap<MediaOutcome, u64>,
}

/// The process's counters. Cheap to update from handlers (a short uncontended lock).
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    fn with<F: FnOnce(&mut Counters)>(&self, f: F) {
        // A poisoned lock only means another thread panicked mid-increment; counters stay usable.
        let mut guard = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }

    /// Counts a webhook outcome.
    pub fn webhook(&self, route: Route, outcome: Outcome) {
        self.with(|c| *c.webhooks.entry((route, outcome)).or_default() += 1);
    }

    /// Counts a signature or secret failure.
    pub fn signature_failure(&self, route: Route) {
        self.with(|c| *c.signature_failures.entry(route).or_default() += 1);
    }

    /// Counts a media copy attempt.
    pub fn media(&self, outcome: MediaOutcome) {
        self.with(|c| *c.media.entry(outcome).or_default() += 1);
    }

    /// Current count of a webhook outcome (tests, dashboards).
    pub fn webhook_count(&self, route: Route, outcome: Outcome) -> u64 {
        let guard = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        guard.webhooks.get(&(route, outcome)).copied().unwrap_or(0)
    }

    /// Renders the exposition text; `backlog` is `None` when the store could not be asked.
    pub fn render(&self, backlog: Option<JobBacklog>, now: Millis) -> String {
        let guard = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP gateway_webhooks_total Webhook requests by route and outcome."
        );
        let _ = writeln!(out, "# TYPE gateway_webhooks_total counter");
        let mut dedup = 0;
        for route in [Route::Twilio, Route::Baileys] {
            for outcome in [
                Outcome::Stored,
                Outcome::Duplicate,
                Outcome::RejectedAuth,
                Outcome::BadRequest,
                Outcome::UnsupportedMediaType,
                Outcome::Unavailable,
            ] {
                let n = guard.webhooks.get(&(route, outcome)).copied().unwrap_or(0);
                if outcome == Outcome::Duplicate {
                    dedup += n;
                }
                let _ = writeln!(
                    out,
                    "gateway_webhooks_total{{route=\"{}\",outcome=\"{}\"}} {n}",
                    route.label(),
                    outcome.label()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP gateway_deduplicated_total Webhooks recognised as duplicates (nothing written)."
        );
        let _ = writeln!(out, "# TYPE gateway_deduplicated_total counter");
        let _ = writeln!(out, "gateway_deduplicated_total {dedup}");
        let _ = writeln!(
            out,
            "# HELP gateway_signature_failures_total Webhooks refused for a missing or wrong signature or secret."
        );
        let _ = writeln!(out, "# TYPE gateway_signature_failures_total counter");
        for route in [Route::Twilio, Route::Baileys] {
            let n = guard.signature_failures.get(&route).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "gateway_signature_failures_total{{route=\"{}\"}} {n}",
                route.label()
            );
        }
        let _ = writeln!(
            out,
            "# HELP gateway_media_copies_total Media copy attempts by outcome."
        );
        let _ = writeln!(out, "# TYPE gateway_media_copies_total counter");
        for outcome in [
            MediaOutcome::Stored,
            MediaOutcome::Retry,
            MediaOutcome::Buried,
        ] {
            let n = guard.media.get(&outcome).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "gateway_media_copies_total{{outcome=\"{}\"}} {n}",
                outcome.label()
            );
        }
        drop(guard);
        let _ = writeln!(
            out,
            "# HELP gateway_store_up Whether the store answered this scrape."
        );
        let _ = writeln!(out, "# TYPE gateway_store_up gauge");
        let _ = writeln!(out, "gateway_store_up {}", u8::from(backlog.is_some()));
        if let Some(b) = backlog {
            let lag = b
                .oldest_run_at
                .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
            let _ = writeln!(
                out,
                "# HELP gateway_jobs_pending Jobs not done and not given up."
            );
            let _ = writeln!(out, "# TYPE gateway_jobs_pending gauge");
            let _ = writeln!(out, "gateway_jobs_pending {}", b.pending);
            let _ = writeln!(
                out,
                "# HELP gateway_jobs_dead Jobs given up after too many attempts."
            );
            let _ = writeln!(out, "# TYPE gateway_jobs_dead gauge");
            let _ = writeln!(out, "gateway_jobs_dead {}", b.dead);
            let _ = writeln!(
                out,
                "# HELP gateway_job_lag_seconds Age of the oldest pending job (processing lag)."
            );
            let _ = writeln!(out, "# TYPE gateway_job_lag_seconds gauge");
            let _ = writeln!(out, "gateway_job_lag_seconds {lag:.3}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_backlog() {
        let m = Metrics::default();
        m.webhook(Route::Twilio, Outcome::Stored);
        m.webhook(Route::Twilio, Outcome::Duplicate);
        m.webhook(Route::Baileys, Outcome::Duplicate);
        m.signature_failure(Route::Baileys);
        m.media(MediaOutcome::Retry);
        let text = m.render(
            Some(JobBacklog {
                pending: 3,
                oldest_run_at: Some(1_000),
                dead: 1,
            }),
            3_500,
        );
        assert!(text.contains("gateway_webhooks_total{route=\"twilio\",outcome=\"stored\"} 1"));
        assert!(text.contains("gateway_deduplicated_total 2"));
        assert!(text.contains("gateway_signature_failures_total{route=\"baileys\"} 1"));
        assert!(text.contains("gateway_media_copies_total{outcome=\"retry\"} 1"));
        assert!(text.contains("gateway_jobs_pending 3"));
        assert!(text.contains("gateway_job_lag_seconds 2.500"));
        assert!(m.render(None, 0).contains("gateway_store_up 0"));
    }
}
