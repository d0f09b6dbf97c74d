//! The virtio-vsock packet header (virtio 1.2, section 5.10.6): its fields, the
//! operation and type codes, and its little-endian encoding.

/// Bytes in `struct virtio_vsock_hdr`.
pub const HEADER_LENGTH: usize = 44;

/// The most payload one packet carries, in either direction.
pub const MAX_PAYLOAD: usize = 4096;

/// The largest packet: a header and the largest payload.
pub const MAX_PACKET: usize = HEADER_LENGTH + MAX_PAYLOAD;

/// `VIRTIO_VSOCK_TYPE_STREAM`: a connection-oriented byte stream.
pub const TYPE_STREAM: u16 = 1;

/// `VIRTIO_VSOCK_TYPE_SEQPACKET`: refused here with a reset.
pub const TYPE_SEQPACKET: u16 = 2;

/// `VIRTIO_VSOCK_SHUTDOWN_RCV`: the sender will receive no more data.
pub const SHUTDOWN_RECEIVE: u32 = 1;

/// `VIRTIO_VSOCK_SHUTDOWN_SEND`: the sender will send no more data.
pub const SHUTDOWN_SEND: u32 = 2;

/// Both shutdown flags.
pub const SHUTDOWN_BOTH: u32 = SHUTDOWN_RECEIVE | SHUTDOWN_SEND;

/// The operation a packet asks for (`VIRTIO_VSOCK_OP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Operation {
    /// `VIRTIO_VSOCK_OP_INVALID`, never valid on the wire.
    Invalid = 0,
    /// Asks to connect.
    Request = 1,
    /// Accepts a connection request.
    Response = 2,
    /// Refuses or ends a connection at once.
    Reset = 3,
    /// Ends one or both directions of a connection.
    Shutdown = 4,
    /// Carries stream data.
    ReadWrite = 5,
    /// Tells the peer the sender's buffer space and consumption.
    CreditUpdate = 6,
    /// Asks the peer for a credit update.
    CreditRequest = 7,
}

impl Operation {
    /// The operation with wire code `code`, if there is one.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => Self::Invalid,
            1 => Self::Request,
            2 => Self::Response,
            3 => Self::Reset,
            4 => Self::Shutdown,
            5 => Self::ReadWrite,
            6 => Self::CreditUpdate,
            7 => Self::CreditRequest,
            _ => return None,
        })
    }
}

/// A virtio-vsock packet header, fields as on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The sender's context id.
    pub source_cid: u64,
    /// The receiver's context id.
    pub destination_cid: u64,
    /// The sender's port.
    pub source_port: u32,
    /// The receiver's port.
    pub destination_port: u32,
    /// Payload bytes following the header.
    pub length: u32,
    /// The socket type (`TYPE_STREAM`, ...).
    pub socket_type: u16,
    /// The operation code (see [`Operation`]).
    pub operation: u16,
    /// Operation flags (the shutdown flags).
    pub flags: u32,
    /// The sender's receive buffer size, for the peer's credit.
    pub buffer_allocation: u32,
    /// Bytes the sender's reader has consumed, wrapping.
    pub forward_count: u32,
}

impl Header {
    /// Reads a header from the first [`HEADER_LENGTH`] bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; HEADER_LENGTH] = bytes.get(..HEADER_LENGTH)?.try_into().ok()?;
        let u64_at = |offset: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[offset..offset + 8]);
            u64::from_le_bytes(word)
        };
        let u32_at = |offset: usize| {
            u32::from_le_bytes([
                bytes[offset],
                bytes[offset + 1],
                bytes[offset + 2],
                bytes[offset + 3],
            ])
        };
        let u16_at = |offset: usize| u16::from_le_bytes([bytes[offset], bytes[offset + 1]]);
        Some(Self {
            source_cid: u64_at(0),
            destination_cid: u64_at(8),
            source_port: u32_at(16),
            destination_port: u32_at(20),
            length: u32_at(24),
            socket_type: u16_at(28),
            operation: u16_at(30),
            flags: u32_at(32),
            buffer_allocation: u32_at(36),
            forward_count: u32_at(40),
        })
    }

    /// Writes the header into the first [`HEADER_LENGTH`] bytes of `output`,
    /// which must be at least that long.
    pub fn encode(&self, output: &mut [u8]) {
        output[0..8].copy_from_slice(&self.source_cid.to_le_bytes());
        output[8..16].copy_from_slice(&self.destination_cid.to_le_bytes());
        output[16..20].copy_from_slice(&self.source_port.to_le_bytes());
        output[20..24].copy_from_slice(&self.destination_port.to_le_bytes());
        output[24..28].copy_from_slice(&self.length.to_le_bytes());
        output[28..30].copy_from_slice(&self.socket_type.to_le_bytes());
        output[30..32].copy_from_slice(&self.operation.to_le_bytes());
        output[32..36].copy_from_slice(&self.flags.to_le_bytes());
        output[36..40].copy_from_slice(&self.buffer_allocation.to_le_bytes());
        output[40..44].copy_from_slice(&self.forward_count.to_le_bytes());
    }

    /// The header as its 44 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LENGTH] {
        let mut bytes = [0u8; HEADER_LENGTH];
        self.encode(&mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_the_specification() {
        let header = Header {
            source_cid: 3,
            destination_cid: 2,
            source_port: 0x0102_0304,
            destination_port: 5000,
            length: 7,
            socket_type: TYPE_STREAM,
            operation: Operation::ReadWrite as u16,
            flags: SHUTDOWN_BOTH,
            buffer_allocation: 0x0004_0000,
            forward_count: 0xdead_beef,
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes[0..8], [3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[8..16], [2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[16..20], [4, 3, 2, 1]);
        assert_eq!(bytes[20..24], 5000u32.to_le_bytes());
        assert_eq!(bytes[24..28], [7, 0, 0, 0]);
        assert_eq!(bytes[28..30], [1, 0]);
        assert_eq!(bytes[30..32], [5, 0]);
        assert_eq!(bytes[32..36], [3, 0, 0, 0]);
        assert_eq!(bytes[36..40], [0, 0, 4, 0]);
        assert_eq!(bytes[40..44], [0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(Header::decode(&bytes), Some(header));
        assert_eq!(Header::decode(&bytes[..43]), None);
    }

    #[test]
    fn operation_codes() {
        for code in 0..8 {
            assert_eq!(Operation::from_code(code).map(|operation| operation as u16), Some(code));
        }
        assert_eq!(Operation::from_code(8), None);
    }
}
