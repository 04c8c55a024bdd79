//! Fault injection for the REST API (`/2010-04-01/...`), set through `POST /admin/fault`.
//!
//! Order of precedence for one request: delay first, then rate limit, then server error; a
//! `drop_after_create` fault is consumed only by a message create, which then really creates the
//! message (and runs its status callbacks) and closes the connection without an answer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::state::Shared;
use crate::twilio_error::TwilioError;

/// One fault request body for `POST /admin/fault`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Next `count` requests → 429 / 20429 with `Retry-After: retry_after_secs`.
    RateLimit {
        /// How many requests.
        count: u32,
        /// `Retry-After` value.
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// Next `count` requests → `status` (500 or 503).
    ServerError {
        /// How many requests.
        count: u32,
        /// 500 or 503.
        #[serde(default = "five_hundred")]
        status: u16,
    },
    /// Delay the next `count` responses (all, when `count` is absent) by `delay_ms`.
    Delay {
        /// Milliseconds.
        delay_ms: u64,
        /// How many requests; absent = until cleared.
        count: Option<u32>,
    },
    /// Next `count` message creates are carried out, then the connection is closed unanswered.
    DropAfterCreate {
        /// How many creates.
        count: u32,
    },
}

fn one() -> u64 {
    1
}
fn five_hundred() -> u16 {
    500
}

/// Pending faults.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Faults {
    /// Remaining 429s and their `Retry-After`.
    pub rate_limit: u32,
    /// `Retry-After` for them.
    pub retry_after_secs: u64,
    /// Remaining 5xx answers.
    pub server_error: u32,
    /// Status of those.
    pub server_status: u16,
    /// Response delay.
    pub delay_ms: u64,
    /// Remaining delayed requests; `None` = unlimited.
    pub delay_count: Option<u32>,
    /// Remaining dropped creates.
    pub drop_after_create: u32,
}

impl Faults {
    /// Adds a fault (replacing a previous one of the same kind).
    pub fn apply(&mut self, spec: FaultSpec) -> Result<(), String> {
        match spec {
            FaultSpec::RateLimit {
                count,
                retry_after_secs,
            } => {
                self.rate_limit = count;
                self.retry_after_secs = retry_after_secs;
            }
            FaultSpec::ServerError { count, status } => {
                if status != 500 && status != 503 {
                    return Err("server_error status must be 500 or 503".into());
                }
                self.server_error = count;
                self.server_status = status;
            }
            FaultSpec::Delay { delay_ms, count } => {
                self.delay_ms = delay_ms;
                self.delay_count = count;
            }
            FaultSpec::DropAfterCreate { count } => self.drop_after_create = count,
        }
        Ok(())
    }

    /// What to do with the next REST request: (delay, error answer).
    fn take(&mut self) -> (Option<Duration>, Option<TwilioError>) {
        let delay = if self.delay_ms > 0 && self.delay_count != Some(0) {
            if let Some(n) = &mut self.delay_count {
                *n -= 1;
            }
            Some(Duration::from_millis(self.delay_ms))
        } else {
            None
        };
        let err = if self.rate_limit > 0 {
            self.rate_limit -= 1;
            Some(TwilioError::too_many_requests(self.retry_after_secs))
        } else if self.server_error > 0 {
            self.server_error -= 1;
            Some(TwilioError::server(self.server_status))
        } else {
            None
        };
        (delay, err)
    }

    /// Consumes one `drop_after_create`, if any.
    pub fn take_drop(&mut self) -> bool {
        if self.drop_after_create > 0 {
            self.drop_after_create -= 1;
            true
        } else {
            false
        }
    }
}

/// Middleware on the REST routes.
pub async fn middleware(State(st): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (delay, err) = st.lock().faults.take();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(e) = err {
        return e.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_orders_faults() {
        let mut f = Faults::default();
        f.apply(FaultSpec::RateLimit {
            count: 1,
            retry_after_secs: 7,
        })
        .unwrap();
        f.apply(FaultSpec::ServerError {
            count: 1,
            status: 503,
        })
        .unwrap();
        assert_eq!(
            f.take().1.map(|e| (e.status, e.retry_after)),
            Some((429, Some(7)))
        );
        assert_eq!(f.take().1.map(|e| e.code), Some(20503));
        assert_eq!(f.take().1, None);
        assert!(
            f.apply(FaultSpec::ServerError {
                count: 1,
                status: 502
            })
            .is_err()
        );
    }

    #[test]
    fn bounded_delay_expires() {
        let mut f = Faults::default();
        f.apply(FaultSpec::Delay {
            delay_ms: 5,
            count: Some(1),
        })
        .unwrap();
        assert!(f.take().0.is_some());
        assert!(f.take().0.is_none());
    }

    #[test]
    fn parses_admin_json() {
        let s: FaultSpec =
            serde_json::from_str(r#"{"kind":"rate_limit","count":2,"retry_after_secs":3}"#)
                .unwrap();
        assert_eq!(
            s,
            FaultSpec::RateLimit {
                count: 2,
                retry_after_secs: 3
            }
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"meteor"}"#).is_err());
    }
}
