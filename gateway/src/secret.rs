//! A secret value (auth token, webhook secret, API token) that never prints itself.

use std::fmt;

/// A secret string. `Debug` and `Display` print `***`; read it with [`Secret::expose`] only where
/// it is used as key material, and compare presented values with [`Secret::matches`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for use as a key (HMAC) — never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison of a presented value with this secret.
    pub fn matches(&self, presented: &[u8]) -> bool {
        shared::signature::secret_matches(presented, self.0.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2-token");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert!(!format!("{:?}", Some(s.clone())).contains("hunter2"));
    }

    #[test]
    fn matches_only_the_same_value() {
        let s = Secret::new("abc123");
        assert!(s.matches(b"abc123"));
        assert!(!s.matches(b"abc124"));
        assert!(!s.matches(b"abc12"));
        assert!(!s.matches(b""));
    }
}
