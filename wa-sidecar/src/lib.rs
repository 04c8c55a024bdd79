//! Native WhatsApp Web multi-device client service (driver around wa-core).
