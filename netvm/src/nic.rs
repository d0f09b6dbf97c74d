//! The NIC as a smoltcp `phy::Device` over virtio-drivers' `VirtIONet`: the
//! bridge (`crate::bridge`) takes the card's frames and sends on it through
//! this interface.
//!
//! The driver keeps [`QUEUE_SIZE`] receive buffers of [`BUFFER_SIZE`] bytes
//! in the device's receive queue. A receive token owns one filled buffer and
//! gives it back to the queue when consumed (or dropped); a transmit token
//! copies the frame its user writes into a fresh buffer and sends it, waiting
//! for the device to take it (QEMU takes it at once).

use core::cell::RefCell;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::{RxBuffer, VirtIONet};
use virtio_drivers::transport::{InterruptStatus, Transport};
use virtio_drivers::Hal;

/// Entries of each of the NIC's queues.
pub const QUEUE_SIZE: usize = 16;
/// Bytes of one receive buffer: the virtio-net header and a whole Ethernet
/// frame of [`MAXIMUM_FRAME`] bytes fit.
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

/// The virtio network card, ready for smoltcp.
pub struct Nic<H: Hal, T: Transport> {
    driver: RefCell<VirtIONet<H, T, QUEUE_SIZE>>,
    counters: RefCell<Counters>,
}

impl<H: Hal, T: Transport> Nic<H, T> {
    /// Sets up the card behind `transport`, with its receive buffers queued
    /// and its interrupts on.
    pub fn new(transport: T) -> Result<Self, virtio_drivers::Error> {
        let mut driver = VirtIONet::new(transport, BUFFER_SIZE)?;
        driver.enable_interrupts();
        Ok(Self { driver: RefCell::new(driver), counters: RefCell::new(Counters::default()) })
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
        if !driver.can_recv() {
            return None;
        }
        let buffer = match driver.receive() {
            Ok(buffer) => buffer,
            Err(_) => {
                self.counters.get_mut().receive_errors += 1;
                return None;
            }
        };
        let nic = &*self;
        Some((ReceiveToken { nic, buffer: Some(buffer) }, TransmitToken { nic }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.driver.get_mut().can_send().then_some(TransmitToken { nic: self })
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
    buffer: Option<RxBuffer>,
}

impl<H: Hal, T: Transport> ReceiveToken<'_, H, T> {
    /// Gives the buffer back to the card's receive queue.
    fn recycle(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            if self.nic.driver.borrow_mut().recycle_rx_buffer(buffer).is_err() {
                self.nic.counters.borrow_mut().recycle_errors += 1;
            }
        }
    }
}

impl<H: Hal, T: Transport> phy::RxToken for ReceiveToken<'_, H, T> {
    fn consume<R, F>(mut self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        // The frame is read with no borrow of the driver held: smoltcp may
        // send a reply from inside `f`.
        let result = match &self.buffer {
            Some(buffer) => f(buffer.packet()),
            None => f(&[]),
        };
        self.nic.counters.borrow_mut().received += 1;
        self.recycle();
        result
    }
}

impl<H: Hal, T: Transport> Drop for ReceiveToken<'_, H, T> {
    fn drop(&mut self) {
        self.recycle();
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
        let mut driver = self.nic.driver.borrow_mut();
        let mut buffer = driver.new_tx_buffer(length);
        let result = f(buffer.packet_mut());
        let mut counters = self.nic.counters.borrow_mut();
        match driver.send(buffer) {
            Ok(()) => counters.sent += 1,
            Err(_) => counters.send_errors += 1,
        }
        result
    }
}
