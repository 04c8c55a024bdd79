//! Tag bytes of the binary node format.
//!
//! Values from whatsmeow `binary/token/token.go` (`ListEmpty` .. `Nibble8`, `PackedMax`) and
//! Baileys `TAGS` in `src/WABinary/constants.ts`; identical in both.

/// Empty list, or a null / empty string where a string is expected.
pub const LIST_EMPTY: u8 = 0;
/// Single-byte token index 2 ("xmlstreamend"); a node with this tag means the stream ended.
/// Older code called it `STREAM_END`.
pub const STREAM_END: u8 = 2;
/// Next byte indexes double-byte dictionary 0.
pub const DICTIONARY_0: u8 = 236;
/// Next byte indexes double-byte dictionary 1.
pub const DICTIONARY_1: u8 = 237;
/// Next byte indexes double-byte dictionary 2.
pub const DICTIONARY_2: u8 = 238;
/// Next byte indexes double-byte dictionary 3.
pub const DICTIONARY_3: u8 = 239;
/// Interop JID: user string, u16 device, u16 integrator, server string.
pub const INTEROP_JID: u8 = 245;
/// Messenger JID: user string, u16 device, server string ("msgr").
pub const FB_JID: u8 = 246;
/// AD JID: domain byte, device byte, user string.
pub const AD_JID: u8 = 247;
/// List with a one-byte size.
pub const LIST_8: u8 = 248;
/// List with a two-byte big-endian size.
pub const LIST_16: u8 = 249;
/// JID pair: user string (or `LIST_EMPTY`), server string.
pub const JID_PAIR: u8 = 250;
/// Packed upper-case hex string.
pub const HEX_8: u8 = 251;
/// Raw bytes with a one-byte length.
pub const BINARY_8: u8 = 252;
/// Raw bytes with a 20-bit length in three bytes.
pub const BINARY_20: u8 = 253;
/// Raw bytes with a four-byte big-endian length.
pub const BINARY_32: u8 = 254;
/// Packed nibble string (`0-9`, `-`, `.`).
pub const NIBBLE_8: u8 = 255;
/// Longest string (in characters) that may be nibble/hex packed.
pub const PACKED_MAX: usize = 127;

/// AD_JID domain byte for `s.whatsapp.net` (whatsmeow `types/jid.go` `WhatsAppDomain`).
pub const DOMAIN_WHATSAPP: u8 = 0;
/// AD_JID domain byte for `lid` (`LIDDomain`).
pub const DOMAIN_LID: u8 = 1;
/// AD_JID domain byte for `hosted` (`HostedDomain`).
pub const DOMAIN_HOSTED: u8 = 128;
/// AD_JID domain byte for `hosted.lid` (`HostedLIDDomain`).
pub const DOMAIN_HOSTED_LID: u8 = 129;
