//! WhatsApp JIDs (`user[.agent][:device]@server`) and their textual form.
//!
//! Text format and server names follow whatsmeow `types/jid.go` (`ParseJID`, `JID.String`);
//! the interop integrator prefix (`integrator-user:device@interop`) follows Baileys
//! `readInteropJid` in `src/WABinary/decode.ts`; interop JIDs always carry the prefix so
//! that a `-` in the user part cannot be mistaken for it.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Phone-number users.
pub const DEFAULT_USER_SERVER: &str = "s.whatsapp.net";
/// Hidden users (LIDs).
pub const HIDDEN_USER_SERVER: &str = "lid";
/// Groups.
pub const GROUP_SERVER: &str = "g.us";
/// Legacy users.
pub const LEGACY_USER_SERVER: &str = "c.us";
/// Broadcast lists and status.
pub const BROADCAST_SERVER: &str = "broadcast";
/// Newsletters (channels).
pub const NEWSLETTER_SERVER: &str = "newsletter";
/// Hosted (Cloud API) phone-number users.
pub const HOSTED_SERVER: &str = "hosted";
/// Hosted LID users.
pub const HOSTED_LID_SERVER: &str = "hosted.lid";
/// Messenger users.
pub const MESSENGER_SERVER: &str = "msgr";
/// Interop users.
pub const INTEROP_SERVER: &str = "interop";
/// Bots.
pub const BOT_SERVER: &str = "bot";

/// A WhatsApp address. `device`/`agent` are 0 for a plain user JID; `user` is empty for a
/// server-only JID such as `@s.whatsapp.net`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Jid {
    /// User part (phone number, LID, group id, ...). May be empty.
    pub user: String,
    /// Server part; never empty in a valid JID.
    pub server: String,
    /// Raw agent (only meaningful on `s.whatsapp.net`); 0 if absent.
    pub agent: u8,
    /// Device id; 0 is the primary device.
    pub device: u16,
    /// Interop integrator id; 0 if absent.
    pub integrator: u16,
}

/// Why a string is not a JID (the caller's input is wrong).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JidParseError {
    /// No `@`, or more than one.
    #[error("a JID needs exactly one '@'")]
    At,
    /// Nothing after the `@`.
    #[error("empty server in JID")]
    EmptyServer,
    /// More than one `.` or `:` in the user part.
    #[error("unexpected number of separators in JID user part")]
    Separators,
    /// Agent, device or integrator is not a decimal number that fits.
    #[error("invalid number in JID: {0:?}")]
    Number(String),
}

impl Jid {
    /// A plain `user@server` JID.
    pub fn new(user: impl Into<String>, server: impl Into<String>) -> Self {
        Jid {
            user: user.into(),
            server: server.into(),
            ..Jid::default()
        }
    }

    /// A server-only JID (`@server`), e.g. the `to` of IQs sent to WhatsApp.
    pub fn server(server: impl Into<String>) -> Self {
        Jid::new("", server)
    }

    /// The same JID with `device` set.
    pub fn with_device(mut self, device: u16) -> Self {
        self.device = device;
        self
    }

    /// The JID without agent and device (integrator kept), as whatsmeow `ToNonAD`.
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            server: self.server.clone(),
            integrator: self.integrator,
            ..Jid::default()
        }
    }

    /// Parses `user[.agent][:device]@server` (and `integrator-user:device@interop`).
    pub fn parse(s: &str) -> Result<Jid, JidParseError> {
        let (user_part, server) = s.split_once('@').ok_or(JidParseError::At)?;
        if server.contains('@') {
            return Err(JidParseError::At);
        }
        if server.is_empty() {
            return Err(JidParseError::EmptyServer);
        }
        let mut jid = Jid::new("", server);
        let mut rest = user_part;
        if server == INTEROP_SERVER
            && let Some((integrator, user)) = rest.split_once('-')
        {
            jid.integrator = parse_num(integrator)?;
            rest = user;
        }
        if let Some((user, ad)) = rest.split_once('.') {
            if ad.contains('.') {
                return Err(JidParseError::Separators);
            }
            jid.user = user.to_owned();
            match ad.split_once(':') {
                Some((agent, device)) => {
                    jid.agent = parse_num(agent)?;
                    jid.device = parse_num(device)?;
                }
                None => jid.agent = parse_num(ad)?,
            }
        } else if let Some((user, device)) = rest.split_once(':') {
            jid.user = user.to_owned();
            jid.device = parse_num(device)?;
        } else {
            jid.user = rest.to_owned();
        }
        if jid.user.contains(':') {
            return Err(JidParseError::Separators);
        }
        Ok(jid)
    }
}

fn parse_num<T: FromStr>(s: &str) -> Result<T, JidParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(JidParseError::Number(s.to_owned()));
    }
    s.parse().map_err(|_| JidParseError::Number(s.to_owned()))
}

impl FromStr for Jid {
    type Err = JidParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jid::parse(s)
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.integrator > 0 || self.server == INTEROP_SERVER {
            write!(f, "{}-", self.integrator)?;
        }
        if self.agent > 0 {
            write!(
                f,
                "{}.{}:{}@{}",
                self.user, self.agent, self.device, self.server
            )
        } else if self.device > 0 {
            write!(f, "{}:{}@{}", self.user, self.device, self.server)
        } else {
            write!(f, "{}@{}", self.user, self.server)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_common_forms() {
        for s in [
            "123456789@s.whatsapp.net",
            "123456789:5@s.whatsapp.net",
            "1000001:2@lid",
            "@s.whatsapp.net",
            "123-456@g.us",
            "status@broadcast",
            "12.3:4@s.whatsapp.net",
            "7-99:1@interop",
            "0-1-2@interop",
            "5:3@msgr",
        ] {
            let jid = Jid::parse(s).unwrap();
            assert_eq!(jid.to_string(), s);
        }
        let jid = Jid::parse("12.3:4@s.whatsapp.net").unwrap();
        assert_eq!((jid.user.as_str(), jid.agent, jid.device), ("12", 3, 4));
        let jid = Jid::parse("7-99:1@interop").unwrap();
        assert_eq!(
            (jid.integrator, jid.user.as_str(), jid.device),
            (7, "99", 1)
        );
    }

    #[test]
    fn rejects_non_jids() {
        for s in [
            "plain",
            "a@b@c",
            "x@",
            "a:b@s.whatsapp.net",
            "a.b.c@x",
            "1:+2@x",
            "1:99999@x",
        ] {
            assert!(Jid::parse(s).is_err(), "{s}");
        }
    }
}
