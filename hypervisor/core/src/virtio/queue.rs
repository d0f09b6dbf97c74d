//! One split virtqueue (virtio 1.2 section 2.7), walked from the device side.
//!
//! The driver owns the descriptor table and the available ring (the driver
//! area); the device owns the used ring (the device area). Every access goes
//! through [`GuestMemory`], and every index the driver supplies is checked
//! before it is used, so a hostile driver can only make the device report a
//! [`Fault`].

use super::{Fault, GuestMemory};
use core::sync::atomic::{fence, Ordering};

/// The largest queue the device accepts (`QueueNumMax`).
pub const MAX_SIZE: u16 = 256;

/// Descriptor flag: the chain continues at `next`.
const DESCRIPTOR_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable.
const DESCRIPTOR_WRITE: u16 = 2;
/// Descriptor flag: the buffer holds an indirect table (not negotiated here).
const DESCRIPTOR_INDIRECT: u16 = 4;
/// Available ring flag: the driver asks for no used-buffer notifications.
const AVAILABLE_NO_INTERRUPT: u16 = 1;
/// Size of one descriptor table entry.
const DESCRIPTOR_SIZE: u64 = 16;
/// Size of one used ring element (`id` and `len`, both 32 bits).
const USED_ELEMENT_SIZE: u64 = 8;
/// Offset of `idx` in both the available and the used ring.
const RING_INDEX: u64 = 2;
/// Offset of `ring[0]` in both the available and the used ring.
const RING_START: u64 = 4;

/// One buffer of a descriptor chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Guest-physical address of the buffer.
    pub address: u64,
    /// Length of the buffer in bytes.
    pub length: u32,
    /// Whether the device may write the buffer (`VIRTQ_DESC_F_WRITE`).
    pub writable: bool,
}

/// The device's view of one split virtqueue.
#[derive(Clone, Copy, Debug)]
pub struct Queue {
    /// The queue size the driver chose (`QueueNum`).
    pub size: u16,
    /// Whether the driver has enabled the queue (`QueueReady`).
    pub ready: bool,
    /// Guest-physical address of the descriptor table.
    pub descriptor_table: u64,
    /// Guest-physical address of the available ring.
    pub driver_area: u64,
    /// Guest-physical address of the used ring.
    pub device_area: u64,
    /// Free-running index of the next available ring entry to take.
    next_available: u16,
    /// Free-running index of the next used ring entry to fill.
    next_used: u16,
}

impl Queue {
    /// A queue in its reset state: disabled, of the largest size.
    pub const fn new() -> Self {
        Self {
            size: MAX_SIZE,
            ready: false,
            descriptor_table: 0,
            driver_area: 0,
            device_area: 0,
            next_available: 0,
            next_used: 0,
        }
    }

    /// Whether the size is a power of two no larger than [`MAX_SIZE`] and the
    /// three areas have the alignment of section 2.7 (16, 2 and 4 bytes).
    pub fn layout_valid(&self) -> bool {
        self.size.is_power_of_two()
            && self.size <= MAX_SIZE
            && self.descriptor_table.is_multiple_of(16)
            && self.driver_area.is_multiple_of(2)
            && self.device_area.is_multiple_of(4)
    }

    /// Starts the queue on fresh rings: both indices begin at zero.
    pub fn enable(&mut self) {
        self.ready = true;
        self.next_available = 0;
        self.next_used = 0;
    }

    /// The head descriptor of the next available chain, without taking it.
    pub fn peek(&self, memory: &impl GuestMemory) -> Result<Option<u16>, Fault> {
        let available = read_u16(memory, offset(self.driver_area, RING_INDEX)?)?;
        let pending = available.wrapping_sub(self.next_available);
        if pending == 0 {
            return Ok(None);
        }
        if pending > self.size {
            return Err(Fault::AvailableIndex);
        }
        // The driver wrote the ring entry and the descriptors before `idx`.
        fence(Ordering::Acquire);
        let slot = u64::from(self.next_available % self.size);
        let head = read_u16(memory, offset(self.driver_area, RING_START + 2 * slot)?)?;
        if head >= self.size {
            return Err(Fault::DescriptorIndex);
        }
        Ok(Some(head))
    }

    /// Calls `visit` with each buffer of the chain starting at `head`, in order.
    pub fn for_each_buffer(
        &self,
        memory: &impl GuestMemory,
        head: u16,
        mut visit: impl FnMut(Buffer) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        let mut index = head;
        // A chain of distinct descriptors is at most `size` long; a longer one loops.
        for _ in 0..self.size {
            let mut raw = [0; DESCRIPTOR_SIZE as usize];
            let address = offset(self.descriptor_table, u64::from(index) * DESCRIPTOR_SIZE)?;
            memory.read(address, &mut raw).map_err(|_| Fault::MemoryAccess)?;
            let [a0, a1, a2, a3, a4, a5, a6, a7, l0, l1, l2, l3, f0, f1, n0, n1] = raw;
            let flags = u16::from_le_bytes([f0, f1]);
            if flags & DESCRIPTOR_INDIRECT != 0 {
                return Err(Fault::IndirectDescriptor);
            }
            visit(Buffer {
                address: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
                length: u32::from_le_bytes([l0, l1, l2, l3]),
                writable: flags & DESCRIPTOR_WRITE != 0,
            })?;
            if flags & DESCRIPTOR_NEXT == 0 {
                return Ok(());
            }
            index = u16::from_le_bytes([n0, n1]);
            if index >= self.size {
                return Err(Fault::DescriptorIndex);
            }
        }
        Err(Fault::ChainTooLong)
    }

    /// Copies the device-readable chain starting at `head` into `packet`:
    /// its length, or `None` if it holds more bytes than `packet` (the whole
    /// chain is still walked and checked).
    pub fn gather(
        &self,
        memory: &impl GuestMemory,
        head: u16,
        packet: &mut [u8],
    ) -> Result<Option<usize>, Fault> {
        let mut length: u64 = 0;
        self.for_each_buffer(memory, head, |buffer| {
            if buffer.writable {
                return Err(Fault::WritableDescriptor);
            }
            let start = length;
            length += u64::from(buffer.length);
            // Once the chain outgrows `packet`, only its length is counted.
            if let Some(part) = packet.get_mut(start as usize..length as usize) {
                if !part.is_empty() {
                    memory.read(buffer.address, part).map_err(|_| Fault::MemoryAccess)?;
                }
            }
            Ok(())
        })?;
        Ok((length <= packet.len() as u64).then_some(length as usize))
    }

    /// Writes `parts`, one after the other, over the device-writable chain
    /// starting at `head`, as far as it has room: the bytes written.
    pub fn scatter(
        &self,
        memory: &impl GuestMemory,
        head: u16,
        parts: &[&[u8]],
    ) -> Result<usize, Fault> {
        let mut written = 0;
        self.for_each_buffer(memory, head, |buffer| {
            if !buffer.writable {
                return Err(Fault::ReadableDescriptor);
            }
            let mut address = buffer.address;
            let mut room = buffer.length as usize;
            // The part of each packet part that this buffer takes.
            let mut start = 0;
            for part in parts {
                let rest = part.get(written.max(start) - start..).unwrap_or_default();
                let piece = &rest[..rest.len().min(room)];
                if !piece.is_empty() {
                    memory.write(address, piece).map_err(|_| Fault::MemoryAccess)?;
                    address = address.wrapping_add(piece.len() as u64);
                    room -= piece.len();
                    written += piece.len();
                }
                start += part.len();
            }
            Ok(())
        })?;
        Ok(written)
    }

    /// Takes the chain [`Queue::peek`] returned and hands it back to the
    /// driver as used, `length` bytes written.
    pub fn complete(
        &mut self,
        memory: &impl GuestMemory,
        head: u16,
        length: u32,
    ) -> Result<(), Fault> {
        let slot = u64::from(self.next_used % self.size);
        let mut element = [0; USED_ELEMENT_SIZE as usize];
        element[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        element[4..].copy_from_slice(&length.to_le_bytes());
        let address = offset(self.device_area, RING_START + USED_ELEMENT_SIZE * slot)?;
        memory.write(address, &element).map_err(|_| Fault::MemoryAccess)?;
        self.next_available = self.next_available.wrapping_add(1);
        self.next_used = self.next_used.wrapping_add(1);
        // The element must be visible before the index that publishes it.
        fence(Ordering::Release);
        let index = offset(self.device_area, RING_INDEX)?;
        memory.write(index, &self.next_used.to_le_bytes()).map_err(|_| Fault::MemoryAccess)
    }

    /// Whether the driver wants a used-buffer notification: the available
    /// ring's `flags` lacks `VIRTQ_AVAIL_F_NO_INTERRUPT` (section 2.7.7.2,
    /// without `VIRTIO_F_EVENT_IDX`).
    pub fn wants_interrupt(&self, memory: &impl GuestMemory) -> Result<bool, Fault> {
        // The used index store must be visible before the flags are read,
        // or a driver re-enabling interrupts meanwhile could miss one.
        fence(Ordering::SeqCst);
        Ok(read_u16(memory, self.driver_area)? & AVAILABLE_NO_INTERRUPT == 0)
    }
}

/// `base + bytes`, or [`Fault::MemoryAccess`] if that wraps.
fn offset(base: u64, bytes: u64) -> Result<u64, Fault> {
    base.checked_add(bytes).ok_or(Fault::MemoryAccess)
}

/// Reads a little-endian 16-bit field of a ring.
fn read_u16(memory: &impl GuestMemory, address: u64) -> Result<u16, Fault> {
    let mut bytes = [0; 2];
    memory.read(address, &mut bytes).map_err(|_| Fault::MemoryAccess)?;
    Ok(u16::from_le_bytes(bytes))
}
