//! Sans-IO WhatsApp Web protocol core: binary node codec, Noise transport, Signal, pairing.
