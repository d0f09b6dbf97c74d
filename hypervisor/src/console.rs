//! The console: the board's PL011, shared by every CPU and every VM.
//!
//! Every line carries a tag saying where it comes from: `[hv cpuN]` for the
//! hypervisor, `[name]` for a VM's console hypercalls. A lock held for a whole
//! line keeps lines from different CPUs apart.

use crate::arch::Mutex;
use core::fmt::{self, Write};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    /// The PL011 registers the console uses (PL011 TRM, table 3-1).
    Registers {
        (0x00 => data: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => flags: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x30 => control: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x38 => interrupt_mask: ReadWrite<u32>),
        (0x3c => _reserved3),
        (0x44 => interrupt_clear: WriteOnly<u32>),
        (0x48 => @END),
    }
}

/// The PL011 driver.
struct Pl011 {
    registers: &'static Registers,
}

impl Pl011 {
    /// The PL011 of the board.
    fn board() -> Self {
        // SAFETY: the board's UART window is identity-mapped as device memory
        // in the EL2 tables, is mapped into no guest, and this is the only
        // place that forms a reference to it (CONSOLE owns the one instance).
        let registers = unsafe { &*(boards::qemu_virt::UART.base as *const Registers) };
        registers.control.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        registers.interrupt_clear.set(0x7ff);
        Self { registers }
    }

    fn write_byte(&mut self, byte: u8) {
        while self.registers.flags.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.registers.data.set(byte as u32);
    }

    fn read_byte(&mut self) -> Option<u8> {
        if self.registers.flags.is_set(FR::RXFE) {
            None
        } else {
            Some(self.registers.data.get() as u8)
        }
    }
}

impl Write for Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}

// SAFETY: the registers are MMIO that any CPU may access; CONSOLE's lock
// serialises every access, so moving the driver between CPUs is sound.
unsafe impl Send for Pl011 {}

/// The console: the UART and which source's line is open, if a source
/// writes a line in fragments (a guest's emulated UART).
struct Console {
    uart: Pl011,
    open_line: Option<Source>,
    /// The source whose partial line another source's text cut off: its
    /// next text continues that line, under a continuation tag.
    interrupted: Option<Source>,
}

static CONSOLE: Mutex<Option<Console>> = Mutex::new(None);

/// Takes the UART. Called once by the primary CPU after the MMU is on.
pub fn init() {
    *CONSOLE.lock() = Some(Console { uart: Pl011::board(), open_line: None, interrupted: None });
}

/// Lets the UART interrupt the hypervisor when input arrives, or stops it
/// (while the VM that takes the input has no room for more).
pub fn set_input_interrupt(enabled: bool) {
    if let Some(console) = CONSOLE.lock().as_mut() {
        // RXIM and RTIM: receive and receive-timeout interrupts.
        let mask = if enabled { (1 << 4) | (1 << 6) } else { 0 };
        console.uart.registers.interrupt_mask.set(mask);
    }
}

/// Takes the bytes typed on the console, as many as `buffer` holds.
pub fn read_input(buffer: &mut [u8]) -> usize {
    let mut console = CONSOLE.lock();
    let Some(console) = console.as_mut() else {
        return 0;
    };
    let mut count = 0;
    while count < buffer.len() {
        match console.uart.read_byte() {
            Some(byte) => {
                buffer[count] = byte;
                count += 1;
            }
            None => break,
        }
    }
    count
}

/// Where a console line comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The hypervisor, running on the given CPU.
    Hypervisor(usize),
    /// A VM, by name.
    Machine(&'static str),
}

impl Console {
    fn tag(&mut self, source: Source) {
        // A line cut off by another source goes on under `[name+]`, so a
        // reader can join the pieces (the tests do).
        let continued = if self.interrupted == Some(source) {
            self.interrupted = None;
            "+"
        } else {
            ""
        };
        // The UART cannot fail; a formatting error only truncates the line.
        let _ = match source {
            Source::Hypervisor(cpu) => write!(self.uart, "[hv cpu{cpu}{continued}] "),
            Source::Machine(name) => write!(self.uart, "[{name}{continued}] "),
        };
    }

    /// Ends a line some source left open, so the next text starts a line.
    fn close_open_line(&mut self) {
        if let Some(source) = self.open_line.take() {
            self.interrupted = Some(source);
            let _ = self.uart.write_str("\n");
        }
    }
}

/// Writes one line, tagged with its source.
pub fn write_line(source: Source, arguments: fmt::Arguments) {
    let mut console = CONSOLE.lock();
    if let Some(console) = console.as_mut() {
        console.close_open_line();
        console.tag(source);
        let _ = console.uart.write_fmt(arguments);
        let _ = console.uart.write_str("\n");
    }
}

/// Writes bytes of a line that arrives a piece at a time (a guest's UART
/// output). The tag goes before the first byte of each line; a line another
/// source interrupts is continued on a new line tagged `[name+]`.
pub fn write_fragment(source: Source, bytes: &[u8]) {
    let mut console = CONSOLE.lock();
    let Some(console) = console.as_mut() else {
        return;
    };
    for &byte in bytes {
        if console.open_line != Some(source) {
            console.close_open_line();
            console.tag(source);
            console.open_line = Some(source);
        }
        console.uart.write_byte(byte);
        if byte == b'\n' {
            console.open_line = None;
            if console.interrupted == Some(source) {
                console.interrupted = None;
            }
        }
    }
}

/// Writes a line when the lock may be held by the CPU that is failing: used
/// only on the way to powering off after a hypervisor fault.
pub fn write_line_forced(cpu: usize, arguments: fmt::Arguments) {
    if CONSOLE.is_locked() {
        // SAFETY: the holder is either this CPU (interrupted inside the lock,
        // never to return) or another CPU mid-line; interleaved characters are
        // acceptable on the way down, a deadlock is not.
        unsafe { CONSOLE.force_unlock() };
    }
    write_line(Source::Hypervisor(cpu), arguments);
}

/// Prints a hypervisor line tagged with the current CPU.
#[macro_export]
macro_rules! log {
    ($($argument:tt)*) => {
        $crate::console::write_line(
            $crate::console::Source::Hypervisor($crate::cpu::current()),
            format_args!($($argument)*),
        )
    };
}
