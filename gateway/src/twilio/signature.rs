//! `X-Twilio-Signature` validation, computed exactly as Twilio's SDKs do.
//!
//! Algorithm (twilio-python `twilio/request_validator.py`, twilio-node `src/webhooks/webhooks.ts`):
//! the full URL, then for each parameter name in sorted order each of its distinct values in
//! sorted order as `name + value`; HMAC-SHA1 keyed with the auth token; base64. Both SDKs try the
//! URL with and without the port (adding `:443`/`:80` when absent). JSON bodies: the URL carries
//! `bodySHA256=<hex sha256 of the body>` in its query, the signature covers the URL only, and the
//! hash must match the body.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the signature covers besides the URL.
#[derive(Debug, Clone, Copy)]
pub enum SignedBody<'a> {
    /// Form parameters (every one, repeated names included).
    Form(&'a [(String, String)]),
    /// A raw JSON body, bound through `bodySHA256` in the query.
    Json(&'a [u8]),
}

/// Why a request's signature was refused. Always the sender's fault (or a misconfigured URL).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Twilio-Signature` header.
    #[error("missing X-Twilio-Signature")]
    Missing,
    /// The signature does not match any URL variant.
    #[error("X-Twilio-Signature does not match")]
    Mismatch,
    /// JSON body without `bodySHA256` in the query.
    #[error("JSON webhook without bodySHA256")]
    MissingBodyHash,
    /// `bodySHA256` does not match the body.
    #[error("bodySHA256 does not match the body")]
    BodyHashMismatch,
}

/// The base64 signature Twilio would send for `url` and `params` signed with `token`.
pub fn compute(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        grouped.entry(k.as_str()).or_default().push(v.as_str());
    }
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(token).expect("hmac takes any key length");
    mac.update(url.as_bytes());
    for (name, mut values) in grouped {
        values.sort_unstable();
        values.dedup();
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` as given, without its port, and with the scheme's default port, without repeats.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let host_end = authority.rfind('@').map_or(0, |i| i + 1);
    let (userinfo, hostport) = authority.split_at(host_end);
    let port_sep = hostport.rfind(':').filter(|&i| {
        !hostport[i..].contains(']') && hostport[i + 1..].bytes().all(|b| b.is_ascii_digit())
    });
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let (without, with) = match port_sep {
        Some(i) => {
            let host = &hostport[..i];
            (format!("{scheme}://{userinfo}{host}{tail}"), url.to_owned())
        }
        None => (
            url.to_owned(),
            format!("{scheme}://{userinfo}{hostport}:{default_port}{tail}"),
        ),
    };
    for v in [without, with] {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Checks `header` (the `X-Twilio-Signature` value) for a request to `url` carrying `body`.
pub fn validate(
    token: &[u8],
    url: &str,
    body: SignedBody<'_>,
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    let params: &[(String, String)] = match body {
        SignedBody::Form(p) => p,
        SignedBody::Json(raw) => {
            let given = query_param(url, "bodySHA256").ok_or(SignatureError::MissingBodyHash)?;
            let actual = hex::encode(Sha256::digest(raw));
            if !bool::from(
                actual
                    .as_bytes()
                    .ct_eq(given.to_ascii_lowercase().as_bytes()),
            ) {
                return Err(SignatureError::BodyHashMismatch);
            }
            &[]
        }
    };
    let mut ok = false;
    for candidate in url_variants(url) {
        let expected = compute(token, &candidate, params);
        // Evaluate every variant: the time taken does not depend on which one matched.
        ok |= bool::from(expected.as_bytes().ct_eq(header.as_bytes()));
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const VECTOR_SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    #[test]
    fn twilio_published_vector() {
        assert_eq!(compute(b"12345", VECTOR_URL, &vector_params()), VECTOR_SIG);
        let mut shuffled = vector_params();
        shuffled.reverse();
        assert_eq!(
            validate(
                b"12345",
                VECTOR_URL,
                SignedBody::Form(&shuffled),
                Some(VECTOR_SIG)
            ),
            Ok(())
        );
    }

    #[test]
    fn vector_rejects_changes() {
        let mut p = vector_params();
        p[2].1 = "1235".into();
        assert_eq!(
            validate(b"12345", VECTOR_URL, SignedBody::Form(&p), Some(VECTOR_SIG)),
            Err(SignatureError::Mismatch)
        );
        let p = vector_params();
        assert_eq!(
            validate(
                b"12345",
                "https://mycompany.com/myapp.php?foo=1&bar=3",
                SignedBody::Form(&p),
                Some(VECTOR_SIG)
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            validate(b"12346", VECTOR_URL, SignedBody::Form(&p), Some(VECTOR_SIG)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            validate(b"12345", VECTOR_URL, SignedBody::Form(&p), None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn port_variants_accepted_both_ways() {
        let p = vector_params();
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let sig_with_port = compute(b"12345", with_port, &p);
        // Twilio signed with the port, we know the URL without it, and the reverse.
        assert_eq!(
            validate(
                b"12345",
                VECTOR_URL,
                SignedBody::Form(&p),
                Some(&sig_with_port)
            ),
            Ok(())
        );
        assert_eq!(
            validate(b"12345", with_port, SignedBody::Form(&p), Some(VECTOR_SIG)),
            Ok(())
        );
        assert_eq!(
            url_variants("http://h.example:8080/x?a=b"),
            vec![
                "http://h.example:8080/x?a=b".to_string(),
                "http://h.example/x?a=b".to_string()
            ]
        );
        assert_eq!(
            url_variants("http://h.example"),
            vec![
                "http://h.example".to_string(),
                "http://h.example:80".to_string()
            ]
        );
    }

    #[test]
    fn repeated_params_sorted_and_deduplicated() {
        let p: Vec<(String, String)> = [("B", "2"), ("A", "z"), ("B", "1"), ("B", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Equivalent string: URL + "Az" + "B1" + "B2".
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(b"tok").unwrap();
        mac.update(b"https://x.test/hookAzB1B2");
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(compute(b"tok", "https://x.test/hook", &p), expected);
    }

    #[test]
    fn json_body_variant() {
        let body = br#"{"MessageSid":"SM1"}"#;
        let hash = hex::encode(Sha256::digest(body));
        let url = format!("https://x.test/hook?bodySHA256={hash}");
        let sig = compute(b"tok", &url, &[]);
        assert_eq!(
            validate(b"tok", &url, SignedBody::Json(body), Some(&sig)),
            Ok(())
        );
        assert_eq!(
            validate(
                b"tok",
                &url,
                SignedBody::Json(br#"{"MessageSid":"SM2"}"#),
                Some(&sig)
            ),
            Err(SignatureError::BodyHashMismatch)
        );
        assert_eq!(
            validate(
                b"tok",
                "https://x.test/hook",
                SignedBody::Json(body),
                Some(&sig)
            ),
            Err(SignatureError::MissingBodyHash)
        );
        let other = compute(b"tok", "https://x.test/other", &[]);
        assert_eq!(
            validate(b"tok", &url, SignedBody::Json(body), Some(&other)),
            Err(SignatureError::Mismatch)
        );
    }
}
