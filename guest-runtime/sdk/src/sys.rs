//! The host functions, one safe function each over slices: the imports of
//! module `elastos` on WebAssembly, and stand-ins on the host (see
//! [`crate::testing`]) so dapps build, lint and test there too.

#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::stubs::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    /// The raw imports. Pointers are offsets into this module's linear
    /// memory; on wasm32 a pointer and a `usize` are 32 bits.
    mod imports {
        #[link(wasm_import_module = "elastos")]
        extern "C" {
            pub fn log(level: i32, text: i32, text_length: i32) -> i32;
            pub fn clock_monotonic() -> i64;
            pub fn clock_wall() -> i64;
            pub fn random(buffer: i32, buffer_length: i32) -> i32;
            pub fn message_send(
                peer: i32,
                peer_length: i32,
                app: i32,
                app_length: i32,
                body: i32,
                body_length: i32,
            ) -> i64;
            pub fn event_wait(buffer: i32, buffer_capacity: i32, timeout_milliseconds: i64) -> i32;
            pub fn storage_get(key: i32, key_length: i32, buffer: i32, buffer_capacity: i32)
                -> i64;
            pub fn storage_put(key: i32, key_length: i32, value: i32, value_length: i32) -> i32;
            pub fn storage_delete(key: i32, key_length: i32) -> i32;
            pub fn storage_list(
                prefix: i32,
                prefix_length: i32,
                buffer: i32,
                buffer_capacity: i32,
            ) -> i32;
            pub fn identity(buffer: i32, buffer_capacity: i32) -> i32;
            #[allow(clippy::too_many_arguments)]
            pub fn sign(
                key_kind: i32,
                kind: i32,
                kind_length: i32,
                payload: i32,
                payload_length: i32,
                signature: i32,
                signature_capacity: i32,
            ) -> i32;
            #[allow(clippy::too_many_arguments)]
            pub fn verify(
                identity: i32,
                identity_length: i32,
                kind: i32,
                kind_length: i32,
                payload: i32,
                payload_length: i32,
                signature: i32,
                signature_length: i32,
            ) -> i32;
            pub fn exit(code: i32) -> !;
        }
    }

    /// A slice as the pointer and length the host API takes.
    fn span(bytes: &[u8]) -> (i32, i32) {
        (bytes.as_ptr() as i32, bytes.len() as i32)
    }

    /// A mutable slice as a pointer and capacity.
    fn span_mut(bytes: &mut [u8]) -> (i32, i32) {
        (bytes.as_mut_ptr() as i32, bytes.len() as i32)
    }

    // SAFETY (every block below): the host reads or writes only within the
    // ranges passed, which are live slices borrowed for the call (mutably
    // where the host writes), and it does not keep them after returning.

    pub(crate) fn log(level: i32, text: &[u8]) -> i32 {
        let (pointer, length) = span(text);
        // SAFETY: see above.
        unsafe { imports::log(level, pointer, length) }
    }

    pub(crate) fn clock_monotonic() -> i64 {
        // SAFETY: no memory is passed.
        unsafe { imports::clock_monotonic() }
    }

    pub(crate) fn clock_wall() -> i64 {
        // SAFETY: no memory is passed.
        unsafe { imports::clock_wall() }
    }

    pub(crate) fn random(buffer: &mut [u8]) -> i32 {
        let (pointer, length) = span_mut(buffer);
        // SAFETY: see above.
        unsafe { imports::random(pointer, length) }
    }

    pub(crate) fn message_send(peer: &[u8], app: &[u8], body: &[u8]) -> i64 {
        let ((peer, peer_length), (app, app_length)) = (span(peer), span(app));
        let (body, body_length) = span(body);
        // SAFETY: see above.
        unsafe { imports::message_send(peer, peer_length, app, app_length, body, body_length) }
    }

    pub(crate) fn event_wait(buffer: &mut [u8], timeout_milliseconds: i64) -> i32 {
        let (pointer, capacity) = span_mut(buffer);
        // SAFETY: see above.
        unsafe { imports::event_wait(pointer, capacity, timeout_milliseconds) }
    }

    pub(crate) fn storage_get(key: &[u8], buffer: &mut [u8]) -> i64 {
        let ((key, key_length), (buffer, capacity)) = (span(key), span_mut(buffer));
        // SAFETY: see above.
        unsafe { imports::storage_get(key, key_length, buffer, capacity) }
    }

    pub(crate) fn storage_put(key: &[u8], value: &[u8]) -> i32 {
        let ((key, key_length), (value, value_length)) = (span(key), span(value));
        // SAFETY: see above.
        unsafe { imports::storage_put(key, key_length, value, value_length) }
    }

    pub(crate) fn storage_delete(key: &[u8]) -> i32 {
        let (key, key_length) = span(key);
        // SAFETY: see above.
        unsafe { imports::storage_delete(key, key_length) }
    }

    pub(crate) fn storage_list(prefix: &[u8], buffer: &mut [u8]) -> i32 {
        let ((prefix, prefix_length), (buffer, capacity)) = (span(prefix), span_mut(buffer));
        // SAFETY: see above.
        unsafe { imports::storage_list(prefix, prefix_length, buffer, capacity) }
    }

    pub(crate) fn identity(buffer: &mut [u8]) -> i32 {
        let (buffer, capacity) = span_mut(buffer);
        // SAFETY: see above.
        unsafe { imports::identity(buffer, capacity) }
    }

    pub(crate) fn sign(key_kind: i32, kind: &[u8], payload: &[u8], signature: &mut [u8]) -> i32 {
        let ((kind, kind_length), (payload, payload_length)) = (span(kind), span(payload));
        let (signature, capacity) = span_mut(signature);
        // SAFETY: see above.
        unsafe {
            imports::sign(key_kind, kind, kind_length, payload, payload_length, signature, capacity)
        }
    }

    pub(crate) fn verify(identity: &[u8], kind: &[u8], payload: &[u8], signature: &[u8]) -> i32 {
        let ((identity, identity_length), (kind, kind_length)) = (span(identity), span(kind));
        let ((payload, payload_length), (signature, signature_length)) =
            (span(payload), span(signature));
        // SAFETY: see above.
        unsafe {
            imports::verify(
                identity,
                identity_length,
                kind,
                kind_length,
                payload,
                payload_length,
                signature,
                signature_length,
            )
        }
    }

    pub(crate) fn exit(code: i32) -> ! {
        // SAFETY: no memory is passed; the host ends the dapp.
        unsafe { imports::exit(code) }
    }
}
