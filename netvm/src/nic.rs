//! The NIC as a smoltcp `phy::Device` over virtio-drivers' `VirtIONetRaw`:
//! the bridge (`crate::bridge`) takes the card's frames and sends on it
//! through this interface.
//!
//! The driver keeps [`QUEUE_SIZE`] receive buffers of [`BUFFER_SIZE`] bytes
//! in the device's receive queue. A receive token owns one filled buffer and
//! gives it back to the queue when consumed (or dropped). A transmit token
//! writes the frame into one of [`QUEUE_SIZE`] transmit buffers and queues it
//! without waiting: QEMU takes transmitted frames in its own thread, and a
//! CPU spinning until it has done so burns guest instructions for nothing.
//! Buffers the device has finished with are taken back before the next send.
#![allow(unsafe_code, reason = "buffers are lent to the device while it owns them")]

use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{InterruptStatus, Transport};
use virtio_drivers::Hal;

/// Entries of each of the NIC's queues.
pub const QUEUE_SIZE: usize = 16;
/// Bytes of one receive or transmit buffer: the virtio-net header and a
/// whole Ethernet frame of [`MAXIMUM_FRAME`] bytes fit.
pub const BUFFER_SIZE: usize = 2048;
/// The largest Ethernet frame sent or received, without its checksum.
pub const MAXIMUM_FRAME: usize = 1514;

/// What went through the driver, and what was lost there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received and handed to the stack.
    pub received: u64,
    /// Frames the driver could not take from the receive queue.
    pub receive_errors: u64,
    /// Frames sent.
    pub sent: u64,
    /// Frames the device did not take.
    pub send_errors: u64,
    /// Receive buffers that could not be given back to the device.
    pub recycle_errors: u64,
}

/// Buffers lent to the device, by the token (descriptor) it knows them by.
struct Buffers {
    /// The buffers; none is ever resized, so their memory stays put.
    memory: Vec<Vec<u8>>,
    /// For each token the device holds: the buffer, and the length lent.
    lent: [Option<(usize, usize)>; QUEUE_SIZE],
    /// Buffers the device does not hold.
    free: Vec<usize>,
}

impl Buffers {
    /// [`QUEUE_SIZE`] free buffers of [`BUFFER_SIZE`] bytes.
    fn new() -> Self {
        Self {
            memory: (0..QUEUE_SIZE).map(|_| vec![0; BUFFER_SIZE]).collect(),
            lent: [None; QUEUE_SIZE],
            free: (0..QUEUE_SIZE).rev().collect(),
        }
    }
}

/// The virtio network card, ready for smoltcp.
pub struct Nic<H: Hal, T: Transport> {
    driver: RefCell<VirtIONetRaw<H, T, QUEUE_SIZE>>,
    receive: RefCell<Buffers>,
    transmit: RefCell<Buffers>,
    counters: RefCell<Counters>,
}

impl<H: Hal, T: Transport> Nic<H, T> {
    /// Sets up the card behind `transport`, with its receive buffers queued
    /// and its interrupts on.
    pub fn new(transport: T) -> Result<Self, virtio_drivers::Error> {
        let mut driver = VirtIONetRaw::new(transport)?;
        let mut receive = Buffers::new();
        while let Some(index) = receive.free.pop() {
            // SAFETY: the buffer is lent to the device until `receive`
            // takes it back with `receive_complete`; nothing touches it
            // meanwhile, and its memory never moves (it is never resized).
            let token = unsafe { driver.receive_begin(&mut receive.memory[index]) }?;
            receive.lent[usize::from(token) % QUEUE_SIZE] = Some((index, BUFFER_SIZE));
        }
        driver.enable_interrupts();
        Ok(Self {
            driver: RefCell::new(driver),
            receive: RefCell::new(receive),
            transmit: RefCell::new(Buffers::new()),
            counters: RefCell::new(Counters::default()),
        })
    }

    /// The card's MAC address.
    pub fn mac_address(&self) -> [u8; 6] {
        self.driver.borrow().mac_address()
    }

    /// Acknowledges the card's interrupt, if it raised one; returns what it
    /// was for.
    pub fn acknowledge_interrupt(&mut self) -> InterruptStatus {
        self.driver.get_mut().ack_interrupt()
    }

    /// What was counted so far.
    pub fn counters(&self) -> Counters {
        *self.counters.borrow()
    }

    /// Takes back the transmit buffers the device has finished with.
    fn reclaim(&self) {
        let mut driver = self.driver.borrow_mut();
        let mut transmit = self.transmit.borrow_mut();
        let transmit = &mut *transmit;
        while let Some(token) = driver.poll_transmit() {
            let Some((index, length)) = transmit.lent[usize::from(token) % QUEUE_SIZE].take()
            else {
                break;
            };
            // SAFETY: the same buffer, with the same length, that
            // `transmit_begin` lent under this token.
            if unsafe { driver.transmit_complete(token, &transmit.memory[index][..length]) }.is_ok()
            {
                transmit.free.push(index);
            } else {
                self.counters.borrow_mut().send_errors += 1;
            }
        }
    }

    /// Gives receive buffer `index` back to the device.
    fn recycle(&self, index: usize) {
        let mut receive = self.receive.borrow_mut();
        let receive = &mut *receive;
        // SAFETY: as in `new`: lent until `receive_complete` takes it back.
        match unsafe { self.driver.borrow_mut().receive_begin(&mut receive.memory[index]) } {
            Ok(token) => receive.lent[usize::from(token) % QUEUE_SIZE] = Some((index, BUFFER_SIZE)),
            Err(_) => {
                receive.free.push(index);
                self.counters.borrow_mut().recycle_errors += 1;
            }
        }
    }
}

impl<H: Hal, T: Transport> phy::Device for Nic<H, T> {
    type RxToken<'a>
        = ReceiveToken<'a, H, T>
    where
        Self: 'a;
    type TxToken<'a>
        = TransmitToken<'a, H, T>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let driver = self.driver.get_mut();
        let token = driver.poll_receive()?;
        let receive = self.receive.get_mut();
        let Some((index, _)) = receive.lent[usize::from(token) % QUEUE_SIZE].take() else {
            self.counters.get_mut().receive_errors += 1;
            return None;
        };
        // SAFETY: the same buffer that `receive_begin` lent under this token.
        let frame = match unsafe { driver.receive_complete(token, &mut receive.memory[index]) } {
            Ok((header, length)) => header..header + length,
            Err(_) => {
                // Whether the device still holds the buffer is unknown: it
                // is not lent again.
                receive.free.push(index);
                self.counters.get_mut().receive_errors += 1;
                return None;
            }
        };
        let nic = &*self;
        Some((ReceiveToken { nic, buffer: Some(index), frame }, TransmitToken { nic }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.reclaim();
        let ready = !self.transmit.get_mut().free.is_empty() && self.driver.get_mut().can_send();
        ready.then_some(TransmitToken { nic: self })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = MAXIMUM_FRAME;
        capabilities
    }
}

/// One received frame, in a receive buffer that goes back to the card when
/// the token is consumed or dropped.
pub struct ReceiveToken<'a, H: Hal, T: Transport> {
    nic: &'a Nic<H, T>,
    /// The receive buffer, until it goes back to the card.
    buffer: Option<usize>,
    /// Where the frame lies in it (empty if the driver refused it).
    frame: core::ops::Range<usize>,
}

impl<H: Hal, T: Transport> phy::RxToken for ReceiveToken<'_, H, T> {
    fn consume<R, F>(mut self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        // Only the receive buffers are borrowed while `f` runs: smoltcp may
        // send a reply from inside it.
        let result = match self.buffer {
            Some(index) => {
                let receive = self.nic.receive.borrow();
                f(receive.memory[index].get(self.frame.clone()).unwrap_or_default())
            }
            None => f(&[]),
        };
        self.nic.counters.borrow_mut().received += 1;
        if let Some(index) = self.buffer.take() {
            self.nic.recycle(index);
        }
        result
    }
}

impl<H: Hal, T: Transport> Drop for ReceiveToken<'_, H, T> {
    fn drop(&mut self) {
        if let Some(index) = self.buffer.take() {
            self.nic.recycle(index);
        }
    }
}

/// Room to send one frame.
pub struct TransmitToken<'a, H: Hal, T: Transport> {
    nic: &'a Nic<H, T>,
}

impl<H: Hal, T: Transport> phy::TxToken for TransmitToken<'_, H, T> {
    fn consume<R, F>(self, length: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.nic.reclaim();
        let mut driver = self.nic.driver.borrow_mut();
        let mut transmit = self.nic.transmit.borrow_mut();
        let transmit = &mut *transmit;
        let mut counters = self.nic.counters.borrow_mut();
        let Some(index) = transmit.free.pop() else {
            // No buffer free: the frame is written to a scratch buffer and lost.
            counters.send_errors += 1;
            return f(&mut vec![0; length]);
        };
        let buffer = &mut transmit.memory[index];
        let header = driver.fill_buffer_header(buffer).unwrap_or(0);
        let end = (header + length).min(buffer.len());
        let result = f(&mut buffer[header..end]);
        // SAFETY: the buffer is lent to the device until `reclaim` takes it
        // back with `transmit_complete` (same buffer, same length); nothing
        // touches it meanwhile, and its memory never moves.
        match unsafe { driver.transmit_begin(&buffer[..end]) } {
            Ok(token) => {
                transmit.lent[usize::from(token) % QUEUE_SIZE] = Some((index, end));
                counters.sent += 1;
            }
            Err(_) => {
                transmit.free.push(index);
                counters.send_errors += 1;
            }
        }
        result
    }
}
