//! WhatsApp binary node codec (WABinary v3): tokens, JIDs, nibble/hex packing, zlib frames. Sans-IO.
