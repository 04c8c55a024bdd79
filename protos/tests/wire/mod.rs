//! A tiny, independent protobuf writer used to build expected wire bytes by field number, so
//! the tests check the generated schemas against the numbers written here rather than against
//! themselves.

#![allow(dead_code)] // each test binary uses a different subset of helpers

/// Appends a base-128 varint.
pub(crate) fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a varint-typed field (wire type 0).
pub(crate) fn field_varint(out: &mut Vec<u8>, number: u32, value: u64) {
    varint(out, u64::from(number) << 3);
    varint(out, value);
}

/// Appends a length-delimited field (wire type 2).
pub(crate) fn field_bytes(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    varint(out, (u64::from(number) << 3) | 2);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Appends a 64-bit field (wire type 1), e.g. a `double`.
pub(crate) fn field_fixed64(out: &mut Vec<u8>, number: u32, value: u64) {
    varint(out, (u64::from(number) << 3) | 1);
    out.extend_from_slice(&value.to_le_bytes());
}

/// Builds a message from a closure that appends fields.
pub(crate) fn msg(build: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    build(&mut out);
    out
}
