//! Phone numbers and WhatsApp JIDs.
//!
//! A JID is `user[.agent][:device]@server`. Users on `s.whatsapp.net` are phone numbers (digits,
//! no `+`); users on `lid` are WhatsApp's opaque "linked identity" numbers and are *not* phone
//! numbers. Server names are from the WhatsApp Web clients (Baileys `src/WABinary/jid-utils.ts`,
//! whatsmeow `types/jid.go`).

use std::fmt;

/// The part after `@` that this project understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JidServer {
    /// `s.whatsapp.net`: a phone-number user (`c.us` is accepted as its legacy alias).
    User,
    /// `lid`: a linked-identity user.
    Lid,
    /// `g.us`: a group.
    Group,
    /// `broadcast`: status and broadcast lists.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
}

impl JidServer {
    /// The canonical server string.
    pub fn as_str(self) -> &'static str {
        match self {
            JidServer::User => "s.whatsapp.net",
            JidServer::Lid => "lid",
            JidServer::Group => "g.us",
            JidServer::Broadcast => "broadcast",
            JidServer::Newsletter => "newsletter",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "s.whatsapp.net" | "c.us" => JidServer::User,
            "lid" => JidServer::Lid,
            "g.us" => JidServer::Group,
            "broadcast" => JidServer::Broadcast,
            "newsletter" => JidServer::Newsletter,
            _ => return None,
        })
    }
}

/// A parsed WhatsApp JID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    /// The user part (digits for phone and LID users, an id for groups).
    pub user: String,
    /// Agent byte of an AD JID (`user.agent:device`), 0 when absent.
    pub agent: u8,
    /// Device number, 0 for the primary device.
    pub device: u16,
    /// The server.
    pub server: JidServer,
}

/// Why a string is not a JID we accept. Always the caller's input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JidError {
    /// No `@`, or an empty side.
    #[error("not a JID (expected user@server)")]
    Shape,
    /// A server this project does not handle.
    #[error("unknown JID server")]
    UnknownServer,
    /// User part has characters that server does not allow.
    #[error("invalid user part for this server")]
    BadUser,
    /// Device or agent is not a small integer.
    #[error("invalid device or agent number")]
    BadDevice,
}

impl Jid {
    /// A phone-number user JID for E.164 digits (no `+`).
    pub fn user(digits: &str) -> Self {
        Jid {
            user: digits.to_owned(),
            agent: 0,
            device: 0,
            server: JidServer::User,
        }
    }

    /// Parses `user[.agent][:device]@server`.
    pub fn parse(s: &str) -> Result<Self, JidError> {
        let (left, server) = s.trim().rsplit_once('@').ok_or(JidError::Shape)?;
        if left.is_empty() || server.is_empty() {
            return Err(JidError::Shape);
        }
        let server = JidServer::parse(server).ok_or(JidError::UnknownServer)?;
        let (left, device) = match left.split_once(':') {
            Some((u, d)) => (u, d.parse::<u16>().map_err(|_| JidError::BadDevice)?),
            None => (left, 0),
        };
        let (user, agent) = match (server, left.split_once('.')) {
            (JidServer::User | JidServer::Lid, Some((u, a))) => {
                (u, a.parse::<u8>().map_err(|_| JidError::BadDevice)?)
            }
            _ => (left, 0),
        };
        let ok = match server {
            JidServer::User | JidServer::Lid => {
                !user.is_empty() && user.len() <= 20 && user.bytes().all(|b| b.is_ascii_digit())
            }
            _ => {
                !user.is_empty()
                    && user.len() <= 64
                    && user
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            }
        };
        if !ok {
            return Err(JidError::BadUser);
        }
        Ok(Jid {
            user: user.to_owned(),
            agent,
            device,
            server,
        })
    }

    /// The same user without agent and device (`user@server`): the chat address.
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            agent: 0,
            device: 0,
            server: self.server,
        }
    }

    /// `+` and the digits, when this is a phone-number user.
    pub fn e164(&self) -> Option<String> {
        (self.server == JidServer::User).then(|| format!("+{}", self.user))
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.user)?;
        if self.agent != 0 {
            write!(f, ".{}", self.agent)?;
        }
        if self.device != 0 {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server.as_str())
    }
}

/// Why a string is not a phone number we accept. Always the caller's input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneError {
    /// Characters other than digits, `+`, spaces, dashes, dots and parentheses.
    #[error("phone number has characters other than digits and separators")]
    BadCharacters,
    /// Fewer than 8 or more than 15 digits once normalised (E.164 allows at most 15).
    #[error("phone number must have 8 to 15 digits in international form")]
    BadLength,
    /// A national number (leading 0) with no default country code to apply.
    #[error("national number without a country code")]
    NoCountryCode,
}

/// Normalises a phone number to E.164 digits without `+` (what a `s.whatsapp.net` JID holds).
///
/// Accepts `+972 50-123-4567`, `972501234567`, `00972501234567`, `whatsapp:+972501234567`, and a
/// national number with a leading `0` when `default_country_code` is given (`"972"` turns
/// `050-1234567` into `972501234567`).
pub fn normalize_phone(
    input: &str,
    default_country_code: Option<&str>,
) -> Result<String, PhoneError> {
    let s = input.trim();
    let s = s.strip_prefix("whatsapp:").unwrap_or(s).trim();
    let mut digits = String::with_capacity(s.len());
    let mut plus = false;
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(PhoneError::BadCharacters),
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        let cc = default_country_code.ok_or(PhoneError::NoCountryCode)?;
        format!("{cc}{rest}")
    } else {
        digits
    };
    if !(8..=15).contains(&international.len()) || international.starts_with('0') {
        return Err(PhoneError::BadLength);
    }
    Ok(international)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_ad_and_lid_jids() {
        let j = Jid::parse("972501234567@s.whatsapp.net").unwrap();
        assert_eq!(
            (j.user.as_str(), j.device, j.server),
            ("972501234567", 0, JidServer::User)
        );
        let j = Jid::parse("972501234567:12@s.whatsapp.net").unwrap();
        assert_eq!(j.device, 12);
        assert_eq!(j.to_non_ad().to_string(), "972501234567@s.whatsapp.net");
        let j = Jid::parse("123456789012345.1:3@lid").unwrap();
        assert_eq!((j.agent, j.device, j.server), (1, 3, JidServer::Lid));
        assert_eq!(j.to_string(), "123456789012345.1:3@lid");
        assert_eq!(j.e164(), None);
        assert_eq!(
            Jid::parse("972501234567@c.us").unwrap().server,
            JidServer::User
        );
        assert_eq!(
            Jid::parse("120363040000000000@g.us").unwrap().server,
            JidServer::Group
        );
    }

    #[test]
    fn rejects_bad_jids() {
        assert_eq!(Jid::parse("972501234567"), Err(JidError::Shape));
        assert_eq!(Jid::parse("@s.whatsapp.net"), Err(JidError::Shape));
        assert_eq!(
            Jid::parse("97250@example.com"),
            Err(JidError::UnknownServer)
        );
        assert_eq!(Jid::parse("+97250@s.whatsapp.net"), Err(JidError::BadUser));
        assert_eq!(
            Jid::parse("9725:x@s.whatsapp.net"),
            Err(JidError::BadDevice)
        );
        assert_eq!(
            Jid::parse("9725:70000@s.whatsapp.net"),
            Err(JidError::BadDevice)
        );
    }

    #[test]
    fn normalises_israeli_numbers() {
        for input in [
            "+972 50-123-4567",
            "972501234567",
            "00972501234567",
            "whatsapp:+972501234567",
            "(050) 123-4567",
        ] {
            assert_eq!(
                normalize_phone(input, Some("972")).unwrap(),
                "972501234567",
                "{input}"
            );
        }
        assert_eq!(
            normalize_phone("0501234567", None),
            Err(PhoneError::NoCountryCode)
        );
        assert_eq!(
            normalize_phone("97250abc", None),
            Err(PhoneError::BadCharacters)
        );
        assert_eq!(normalize_phone("+12", None), Err(PhoneError::BadLength));
        assert_eq!(
            normalize_phone("+1234567890123456", None),
            Err(PhoneError::BadLength)
        );
        assert_eq!(
            normalize_phone("972+501234567", None),
            Err(PhoneError::BadCharacters)
        );
    }

    proptest! {
        #[test]
        fn jid_display_parse_round_trip(user in "[1-9][0-9]{7,14}", agent in 0u8..3, device in 0u16..100, lid in any::<bool>()) {
            let server = if lid { JidServer::Lid } else { JidServer::User };
            let j = Jid { user, agent, device, server };
            prop_assert_eq!(Jid::parse(&j.to_string()).unwrap(), j);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = Jid::parse(&s);
            let _ = normalize_phone(&s, Some("972"));
        }
    }
}
