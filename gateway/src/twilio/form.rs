//! `application/x-www-form-urlencoded` parsing that keeps every parameter, in order, repeated
//! names included (Twilio's signature covers whatever arrives), and refuses malformed input
//! instead of guessing.

/// Why a form body was refused. Always the sender's fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    #[error("bad percent escape in form body")]
    BadEscape,
    /// Decoded bytes are not UTF-8.
    #[error("form value is not UTF-8")]
    NotUtf8,
    /// A pair with an empty name.
    #[error("form parameter with an empty name")]
    EmptyName,
}

/// Ordered form parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses a raw body.
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut pairs = Vec::new();
        for part in body.split(|&b| b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let name = decode(name)?;
            if name.is_empty() {
                return Err(FormError::EmptyName);
            }
            pairs.push((name, decode(value)?));
        }
        Ok(Form { pairs })
    }

    /// Builds a form from pairs (tests, JSON-less callers).
    pub fn from_pairs<I, K, V>(pairs: I) -> Form
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Form {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// All pairs in arrival order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, unless it is empty or blank.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(input: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = input.get(i + 1).copied().and_then(hex_val);
                let lo = input.get(i + 2).copied().and_then(hex_val);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(FormError::BadEscape),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_order_and_repeats() {
        let f = Form::parse(b"b=2&a=1&b=3&empty=&flag").unwrap();
        assert_eq!(
            f.pairs(),
            &[
                ("b".into(), "2".into()),
                ("a".into(), "1".into()),
                ("b".into(), "3".into()),
                ("empty".into(), String::new()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(f.get("b"), Some("2"));
        assert_eq!(f.non_empty("empty"), None);
    }

    #[test]
    fn decodes_plus_percent_and_utf8() {
        let f = Form::parse("ProfileName=%D7%A9%D7%9C%D7%95%D7%9D&Body=a+b%2Bc%26d%3D".as_bytes())
            .unwrap();
        assert_eq!(f.get("ProfileName"), Some("שלום"));
        assert_eq!(f.get("Body"), Some("a b+c&d="));
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Form::parse(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(Form::parse(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(Form::parse(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(Form::parse(b"=x"), Err(FormError::EmptyName));
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Form::parse(&body);
        }

        #[test]
        fn round_trips_encoded_pairs(pairs in proptest::collection::vec(("[a-zA-Z]{1,8}", "\\PC{0,12}"), 0..6)) {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let f = Form::parse(body.as_bytes()).unwrap();
            prop_assert_eq!(f, Form::from_pairs(pairs));
        }
    }
}
