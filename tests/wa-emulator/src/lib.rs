//! A WhatsApp server emulator for tests, built on wa-core.
