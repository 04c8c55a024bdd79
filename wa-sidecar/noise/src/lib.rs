//! WhatsApp Noise XX transport: framing, handshake state, certificate chain verification with XEdDSA. Sans-IO.
