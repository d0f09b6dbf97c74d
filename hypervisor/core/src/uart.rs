//! An emulated PL011 UART, as a guest sees it through trapped MMIO.
//!
//! Modelled on the Arm PrimeCell UART (PL011) TRM r1p5: the registers Linux's
//! `amba-pl011` driver uses, the PrimeCell identification registers it probes
//! with, a receive FIFO fed by the hypervisor's console, and a transmit side
//! that never fills (every byte goes straight to the console). The interrupt
//! line is the OR of the masked interrupt status, as on the real part.

/// Data register.
const DATA: u64 = 0x000;
/// Receive status / error clear.
const RECEIVE_STATUS: u64 = 0x004;
/// Flag register.
const FLAGS: u64 = 0x018;
/// IrDA low-power counter.
const IRDA_LOW_POWER: u64 = 0x020;
/// Integer baud rate divisor.
const INTEGER_BAUD_RATE: u64 = 0x024;
/// Fractional baud rate divisor.
const FRACTIONAL_BAUD_RATE: u64 = 0x028;
/// Line control.
const LINE_CONTROL: u64 = 0x02c;
/// Control.
const CONTROL: u64 = 0x030;
/// Interrupt FIFO level select.
const FIFO_LEVEL: u64 = 0x034;
/// Interrupt mask set/clear.
const INTERRUPT_MASK: u64 = 0x038;
/// Raw interrupt status.
const RAW_INTERRUPT_STATUS: u64 = 0x03c;
/// Masked interrupt status.
const MASKED_INTERRUPT_STATUS: u64 = 0x040;
/// Interrupt clear.
const INTERRUPT_CLEAR: u64 = 0x044;
/// DMA control.
const DMA_CONTROL: u64 = 0x048;
/// First of the peripheral and PrimeCell identification registers.
const IDENTIFICATION: u64 = 0xfe0;

/// Flag register bits.
const FLAG_RECEIVE_EMPTY: u32 = 1 << 4;
const FLAG_RECEIVE_FULL: u32 = 1 << 6;
const FLAG_TRANSMIT_EMPTY: u32 = 1 << 7;

/// Interrupt bits (RIS, MIS, IMSC, ICR).
const INTERRUPT_RECEIVE: u32 = 1 << 4;
const INTERRUPT_TRANSMIT: u32 = 1 << 5;
const INTERRUPT_RECEIVE_TIMEOUT: u32 = 1 << 6;
const INTERRUPT_ALL: u32 = 0x7ff;

/// PeriphID0-3 and PCellID0-3, in register order (a PL011 r1p5).
const IDENTIFICATION_VALUES: [u8; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// Size of the MMIO window.
pub const WINDOW_SIZE: u64 = 0x1000;
/// Depth of the receive FIFO.
pub const RECEIVE_DEPTH: usize = 32;

/// What an access to the UART did that the hypervisor must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the register access.
    None,
    /// The guest transmitted this byte.
    Transmit(u8),
}

/// An access the UART refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// No register at this offset.
    UnknownRegister,
    /// The PL011 has 8-, 16- and 32-bit registers only.
    BadSize,
}

/// The state of one emulated PL011.
#[derive(Clone, Debug)]
pub struct VirtualUart {
    receive: [u8; RECEIVE_DEPTH],
    receive_start: usize,
    receive_count: usize,
    integer_baud_rate: u32,
    fractional_baud_rate: u32,
    line_control: u32,
    control: u32,
    fifo_level: u32,
    interrupt_mask: u32,
    dma_control: u32,
    /// The transmit interrupt as latched state: set when the transmit FIFO
    /// empties (immediately after each write), cleared through ICR.
    transmit_interrupt: bool,
}

impl Default for VirtualUart {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualUart {
    /// A UART in its reset state (TRM table 3-1 reset values).
    pub const fn new() -> Self {
        Self {
            receive: [0; RECEIVE_DEPTH],
            receive_start: 0,
            receive_count: 0,
            integer_baud_rate: 0,
            fractional_baud_rate: 0,
            line_control: 0,
            control: 0x300,
            fifo_level: 0x12,
            interrupt_mask: 0,
            dma_control: 0,
            transmit_interrupt: false,
        }
    }

    fn raw_interrupt_status(&self) -> u32 {
        let mut status = 0;
        if self.receive_count > 0 {
            status |= INTERRUPT_RECEIVE | INTERRUPT_RECEIVE_TIMEOUT;
        }
        if self.transmit_interrupt {
            status |= INTERRUPT_TRANSMIT;
        }
        status
    }

    /// Whether the interrupt line is asserted.
    pub fn interrupt_asserted(&self) -> bool {
        self.raw_interrupt_status() & self.interrupt_mask != 0
    }

    /// Adds a received byte; false (and the byte dropped) when the FIFO is full.
    pub fn receive(&mut self, byte: u8) -> bool {
        if self.receive_count == RECEIVE_DEPTH {
            return false;
        }
        self.receive[(self.receive_start + self.receive_count) % RECEIVE_DEPTH] = byte;
        self.receive_count += 1;
        true
    }

    /// Room left in the receive FIFO.
    pub fn receive_space(&self) -> usize {
        RECEIVE_DEPTH - self.receive_count
    }

    fn check_size(size: u8) -> Result<(), UartError> {
        match size {
            1 | 2 | 4 => Ok(()),
            _ => Err(UartError::BadSize),
        }
    }

    /// A guest read of the register at `offset`.
    pub fn read(&mut self, offset: u64, size: u8) -> Result<u32, UartError> {
        Self::check_size(size)?;
        Ok(match offset {
            DATA => {
                if self.receive_count == 0 {
                    0
                } else {
                    let byte = self.receive[self.receive_start];
                    self.receive_start = (self.receive_start + 1) % RECEIVE_DEPTH;
                    self.receive_count -= 1;
                    byte as u32
                }
            }
            RECEIVE_STATUS | IRDA_LOW_POWER => 0,
            FLAGS => {
                let mut flags = FLAG_TRANSMIT_EMPTY;
                if self.receive_count == 0 {
                    flags |= FLAG_RECEIVE_EMPTY;
                }
                if self.receive_count == RECEIVE_DEPTH {
                    flags |= FLAG_RECEIVE_FULL;
                }
                flags
            }
            INTEGER_BAUD_RATE => self.integer_baud_rate,
            FRACTIONAL_BAUD_RATE => self.fractional_baud_rate,
            LINE_CONTROL => self.line_control,
            CONTROL => self.control,
            FIFO_LEVEL => self.fifo_level,
            INTERRUPT_MASK => self.interrupt_mask,
            RAW_INTERRUPT_STATUS => self.raw_interrupt_status(),
            MASKED_INTERRUPT_STATUS => self.raw_interrupt_status() & self.interrupt_mask,
            DMA_CONTROL => self.dma_control,
            IDENTIFICATION..=0xffc if offset.is_multiple_of(4) => {
                IDENTIFICATION_VALUES[((offset - IDENTIFICATION) / 4) as usize] as u32
            }
            _ => return Err(UartError::UnknownRegister),
        })
    }

    /// A guest write of `value` to the register at `offset`.
    pub fn write(&mut self, offset: u64, size: u8, value: u32) -> Result<Effect, UartError> {
        Self::check_size(size)?;
        match offset {
            DATA => {
                self.transmit_interrupt = true;
                return Ok(Effect::Transmit(value as u8));
            }
            RECEIVE_STATUS => {}
            INTEGER_BAUD_RATE => self.integer_baud_rate = value & 0xffff,
            FRACTIONAL_BAUD_RATE => self.fractional_baud_rate = value & 0x3f,
            LINE_CONTROL => self.line_control = value & 0xff,
            CONTROL => self.control = value & 0xff87,
            FIFO_LEVEL => self.fifo_level = value & 0x3f,
            INTERRUPT_MASK => {
                // Unmasking the transmit interrupt with an empty FIFO raises it,
                // which is how drivers start interrupt-driven transmission.
                if value & INTERRUPT_TRANSMIT != 0 && self.interrupt_mask & INTERRUPT_TRANSMIT == 0
                {
                    self.transmit_interrupt = true;
                }
                self.interrupt_mask = value & INTERRUPT_ALL;
            }
            INTERRUPT_CLEAR => {
                if value & INTERRUPT_TRANSMIT != 0 {
                    self.transmit_interrupt = false;
                }
            }
            DMA_CONTROL => self.dma_control = value & 0x7,
            IRDA_LOW_POWER => {}
            FLAGS | RAW_INTERRUPT_STATUS | MASKED_INTERRUPT_STATUS => {}
            IDENTIFICATION..=0xffc if offset.is_multiple_of(4) => {}
            _ => return Err(UartError::UnknownRegister),
        }
        Ok(Effect::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_as_a_pl011() {
        let mut uart = VirtualUart::new();
        let identification: Vec<u32> =
            (0..8).map(|index| uart.read(IDENTIFICATION + index * 4, 4).unwrap()).collect();
        assert_eq!(identification, [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    }

    #[test]
    fn receive_fifo_feeds_data_and_the_interrupt() {
        let mut uart = VirtualUart::new();
        assert_eq!(uart.read(FLAGS, 4).unwrap() & FLAG_RECEIVE_EMPTY, FLAG_RECEIVE_EMPTY);
        assert!(uart.receive(b'a'));
        assert!(uart.receive(b'b'));
        assert!(!uart.interrupt_asserted(), "masked until the driver unmasks it");
        uart.write(INTERRUPT_MASK, 4, INTERRUPT_RECEIVE | INTERRUPT_RECEIVE_TIMEOUT).unwrap();
        assert!(uart.interrupt_asserted());
        assert_eq!(uart.read(FLAGS, 4).unwrap() & FLAG_RECEIVE_EMPTY, 0);
        assert_eq!(uart.read(DATA, 4).unwrap(), b'a' as u32);
        assert_eq!(uart.read(DATA, 4).unwrap(), b'b' as u32);
        assert!(!uart.interrupt_asserted());
        assert_eq!(uart.read(DATA, 4).unwrap(), 0, "reading an empty FIFO gives zero");
    }

    #[test]
    fn full_fifo_drops_and_says_so() {
        let mut uart = VirtualUart::new();
        for byte in 0..RECEIVE_DEPTH as u8 {
            assert!(uart.receive(byte));
        }
        assert!(!uart.receive(0xff));
        assert_eq!(uart.receive_space(), 0);
        assert_ne!(uart.read(FLAGS, 4).unwrap() & FLAG_RECEIVE_FULL, 0);
        assert_eq!(uart.read(DATA, 4).unwrap(), 0);
    }

    #[test]
    fn transmit_interrupt_follows_writes_mask_and_clear() {
        let mut uart = VirtualUart::new();
        assert_eq!(uart.write(DATA, 4, b'x' as u32).unwrap(), Effect::Transmit(b'x'));
        assert!(!uart.interrupt_asserted());
        uart.write(INTERRUPT_MASK, 4, INTERRUPT_TRANSMIT).unwrap();
        assert!(uart.interrupt_asserted());
        uart.write(INTERRUPT_CLEAR, 4, INTERRUPT_TRANSMIT).unwrap();
        assert!(!uart.interrupt_asserted());
        uart.write(DATA, 1, b'y' as u32).unwrap();
        assert!(uart.interrupt_asserted());
        uart.write(INTERRUPT_MASK, 4, 0).unwrap();
        assert!(!uart.interrupt_asserted());
    }

    #[test]
    fn refuses_unknown_registers_and_sizes() {
        let mut uart = VirtualUart::new();
        assert_eq!(uart.read(0x100, 4), Err(UartError::UnknownRegister));
        assert_eq!(uart.write(0x100, 4, 0), Err(UartError::UnknownRegister));
        assert_eq!(uart.read(DATA, 8), Err(UartError::BadSize));
        assert_eq!(uart.read(0xfe2, 4), Err(UartError::UnknownRegister));
        assert_eq!(uart.read(CONTROL, 4).unwrap(), 0x300);
        uart.write(LINE_CONTROL, 4, 0x70).unwrap();
        assert_eq!(uart.read(LINE_CONTROL, 4).unwrap(), 0x70);
    }
}
