//! Modules that measure a host call's round trip.
//!
//! [`host_call_module`] builds a dapp whose entry calls `clock_monotonic`
//! `count` times and returns: time `run` until `Finished` and divide by
//! `count` for the cost of one non-blocking host call (answered in place
//! when the services offer a counter; otherwise a wasmi suspension, the
//! call served, the resumption). [`blocking_call_module`] calls
//! `storage_get` `count` times; each one returns `Blocked`, and the time
//! from `run` through `answer` to the next `Blocked` is a blocking call's
//! round trip without chainvm. Load them with [`Grants::ALL`] (or at least
//! `clock` and `storage`).
//!
//! The modules are encoded here byte by byte (the WebAssembly binary
//! format, section by section), so the app VM needs no text assembler.
//!
//! [`Grants::ALL`]: crate::Grants::ALL

use alloc::vec::Vec;
use elastos_host_api::{function, ENTRY_DEFAULT, MODULE};

/// Appends `value` in unsigned LEB128.
fn unsigned(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `value` in signed LEB128.
fn signed(out: &mut Vec<u8>, mut value: i32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a name (its length, then its bytes).
fn name(out: &mut Vec<u8>, text: &str) {
    unsigned(out, text.len() as u32);
    out.extend_from_slice(text.as_bytes());
}

/// Appends section `id` with `content`.
fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    unsigned(out, content.len() as u32);
    out.extend_from_slice(content);
}

/// A module importing `import` (of encoded function type `import_type`),
/// whose entry runs `call` (instructions calling function 0 and leaving
/// nothing on the stack) `count` times; with `memory`, one page of
/// exported memory.
fn loop_module(import: &str, import_type: &[u8], memory: bool, call: &[u8], count: u32) -> Vec<u8> {
    const FUNCTION_TYPE: u8 = 0x60;
    const I32: u8 = 0x7f;
    let mut module = Vec::from(*b"\0asm\x01\0\0\0");

    let mut types = Vec::from([2u8]);
    types.extend_from_slice(import_type);
    types.extend_from_slice(&[FUNCTION_TYPE, 0, 0]);
    section(&mut module, 1, &types);

    let mut imports = Vec::from([1u8]);
    name(&mut imports, MODULE);
    name(&mut imports, import);
    imports.extend_from_slice(&[0x00, 0]); // a function of type 0
    section(&mut module, 2, &imports);

    section(&mut module, 3, &[1, 1]); // one function, of type 1
    if memory {
        section(&mut module, 5, &[1, 0x00, 1]); // one memory, at least one page
    }

    let mut exports = Vec::from([1 + u8::from(memory)]);
    name(&mut exports, ENTRY_DEFAULT);
    exports.extend_from_slice(&[0x00, 1]); // function 1 (0 is the import)
    if memory {
        name(&mut exports, "memory");
        exports.extend_from_slice(&[0x02, 0]);
    }
    section(&mut module, 7, &exports);

    // (local $left i32) (local.set $left (i32.const count))
    // (block (loop (br_if 1 (i32.eqz (local.get $left))) call...
    //   (local.set $left (i32.sub (local.get $left) (i32.const 1))) (br 0)))
    let mut body = Vec::from([1u8, 1, I32, 0x41]);
    signed(&mut body, count as i32);
    body.extend_from_slice(&[0x21, 0, 0x02, 0x40, 0x03, 0x40, 0x20, 0, 0x45, 0x0d, 1]);
    body.extend_from_slice(call);
    body.extend_from_slice(&[0x20, 0, 0x41, 1, 0x6b, 0x21, 0, 0x0c, 0, 0x0b, 0x0b, 0x0b]);
    let mut code = Vec::from([1u8]);
    unsigned(&mut code, body.len() as u32);
    code.extend_from_slice(&body);
    section(&mut module, 10, &code);
    module
}

/// A dapp calling `clock_monotonic` `count` times.
pub fn host_call_module(count: u32) -> Vec<u8> {
    // () -> i64; the body: call 0, drop.
    loop_module(function::CLOCK_MONOTONIC, &[0x60, 0, 1, 0x7e], false, &[0x10, 0, 0x1a], count)
}

/// A dapp calling `storage_get` (the one-byte key at 0, a 64-byte buffer at
/// 16) `count` times.
pub fn blocking_call_module(count: u32) -> Vec<u8> {
    let mut call = Vec::new();
    for argument in [0, 1, 16, 64] {
        call.push(0x41);
        signed(&mut call, argument);
    }
    call.extend_from_slice(&[0x10, 0, 0x1a]);
    // (i32, i32, i32, i32) -> i64
    loop_module(
        function::STORAGE_GET,
        &[0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7e],
        true,
        &call,
        count,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_matches_the_specification() {
        let encode = |value: u32| {
            let mut out = Vec::new();
            unsigned(&mut out, value);
            out
        };
        assert_eq!(encode(0), [0]);
        assert_eq!(encode(127), [0x7f]);
        assert_eq!(encode(624_485), [0xe5, 0x8e, 0x26]);
        let encode = |value: i32| {
            let mut out = Vec::new();
            signed(&mut out, value);
            out
        };
        assert_eq!(encode(64), [0xc0, 0]);
        assert_eq!(encode(-123_456), [0xc0, 0xbb, 0x78]);
        assert_eq!(encode(-1), [0x7f]);
    }
}
