//! AWS Signature Version 4 for S3 object requests (header-based signing, no query string).
//!
//! Algorithm from AWS's public specification, "Signature Version 4 signing process"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>) and the S3
//! specifics in "Authenticating Requests: Using the Authorization Header"
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>).

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 of the empty payload (GET and HEAD requests).
pub(crate) const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The credentials a request is signed with.
pub(crate) struct SigningKeys<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    pub(crate) session_token: Option<&'a str>,
    pub(crate) region: &'a str,
}

/// Headers to add to the request: `(name, value)` pairs, names lower case.
pub(crate) type SignedHeaders = Vec<(&'static str, String)>;

/// Percent-encode per AWS rules: everything but `A-Z a-z 0-9 - _ . ~` (and `/` when `keep_slash`).
pub(crate) fn uri_encode(input: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sign a request with an empty query string.
///
/// `host` is exactly the Host header the client will send (with `:port` when not the default);
/// `canonical_path` is the already AWS-encoded path; `extra` are further headers to sign (lower-case
/// names, sent by the caller as well); `payload_sha256` is the lower-case hex hash of the body.
/// Returns the headers to add: `x-amz-content-sha256`, `x-amz-date`, optionally
/// `x-amz-security-token`, and `authorization` (`host` and `extra` are not repeated).
pub(crate) fn sign(
    method: &str,
    host: &str,
    canonical_path: &str,
    extra: &[(&str, &str)],
    payload_sha256: &str,
    keys: &SigningKeys<'_>,
    now: SystemTime,
) -> SignedHeaders {
    let (amz_date, date) = amz_timestamps(now);
    let mut added: Vec<(&'static str, String)> = vec![
        ("x-amz-content-sha256", payload_sha256.to_owned()),
        ("x-amz-date", amz_date.clone()),
    ];
    if let Some(token) = keys.session_token {
        added.push(("x-amz-security-token", token.to_owned()));
    }
    let mut all: Vec<(String, String)> = std::iter::once(("host".to_owned(), host.to_owned()))
        .chain(
            extra
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())),
        )
        .chain(added.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
        .collect();
    all.sort();
    let canonical_headers: String = all
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = all
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{canonical_path}\n\n{canonical_headers}\n{signed_headers}\n{payload_sha256}"
    );
    let scope = format!("{date}/{}/s3/aws4_request", keys.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(
        format!("AWS4{}", keys.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, keys.region.as_bytes());
    let k_service = hmac(&k_region, b"s3");
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        keys.access_key_id
    );
    added.push(("authorization", authorization));
    added
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `("YYYYMMDDTHHMMSSZ", "YYYYMMDD")` in UTC.
fn amz_timestamps(now: SystemTime) -> (String, String) {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let date = format!("{y:04}{m:02}{d:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    (stamp, date)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// public-domain `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        assert_eq!(
            amz_timestamps(t),
            ("20130524T000000Z".into(), "20130524".into())
        );
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723); // 2000-02-29T01:02:03Z
        assert_eq!(amz_timestamps(t).0, "20000229T010203Z");
    }

    /// The "GET Object" example from AWS's sig-v4-header-based-auth page: published example
    /// credentials, `Range: bytes=0-9`, and the signature that page documents.
    #[test]
    fn matches_aws_documented_example() {
        let keys = SigningKeys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
        };
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let h = sign(
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            &[("range", "bytes=0-9")],
            EMPTY_PAYLOAD_SHA256,
            &keys,
            t,
        );
        let auth = h
            .iter()
            .find(|(k, _)| *k == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            auth,
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            )
        );
    }

    #[test]
    fn encodes_like_aws() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
    }
}
