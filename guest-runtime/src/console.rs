//! The console: `print!`, `println!` and `warn!` over the `CONSOLE_WRITE`
//! hypercall.
//!
//! The console is shared with the person typing in Linux's shell, so an
//! Elastos VM is quiet by default: `print!` and `println!` carry information
//! (what started, which channel came up, what the network learned) and print
//! only when the VM runs verbose, as the host asks through the flags word of
//! the parameter page ([`crate::parameters::VERBOSE`]; `cargo xtask run
//! --verbose`). `warn!` is for faults and warnings (a fatal exception, a
//! dapp that was stopped, a damaged disk, a missing device) and always
//! prints.
//!
//! Text is gathered in a buffer of [`CONSOLE_WRITE_MAX`] bytes and handed to
//! the hypervisor when a line ends, when the buffer is full and at the end of
//! each `print!`, so a line of any length reaches the console in calls the
//! hypervisor accepts. The hypervisor keeps partial lines per VM and prefixes
//! every line with the VM's name; programs do not print the name themselves.
//!
//! Each `print!` uses its own buffer on the stack: there is no lock to hold,
//! so the panic and exception reports can always print.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use hypercall_abi::CONSOLE_WRITE_MAX;

/// Whether information is printed too, not only faults and warnings.
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Prints information from now on (`true`) or only faults and warnings
/// (`false`, the default). [`crate::entry`] sets it from the parameter
/// page's flags when the VM starts.
pub fn set_verbose(verbose: bool) {
    // A plain store: the boot path calls this with the MMU off, where
    // exclusive accesses are not guaranteed to work.
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// Whether information is printed ([`set_verbose`]).
pub fn is_verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Bytes gathered before a write.
const BUFFER_SIZE: usize = CONSOLE_WRITE_MAX as usize;

/// A `fmt::Write` that gathers text and hands it to `sink` in pieces of at
/// most [`CONSOLE_WRITE_MAX`] bytes, each ending at a line end where one is.
pub struct LineWriter<Sink: FnMut(&[u8])> {
    buffer: [u8; BUFFER_SIZE],
    length: usize,
    sink: Sink,
}

impl<Sink: FnMut(&[u8])> LineWriter<Sink> {
    /// A writer with an empty buffer.
    pub const fn new(sink: Sink) -> Self {
        Self { buffer: [0; BUFFER_SIZE], length: 0, sink }
    }

    /// Hands what is gathered to the sink.
    pub fn flush(&mut self) {
        if self.length > 0 {
            (self.sink)(&self.buffer[..self.length]);
            self.length = 0;
        }
    }

    /// Adds `bytes`, flushing after each line end and whenever the buffer fills.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.buffer[self.length] = byte;
            self.length += 1;
            if byte == b'\n' || self.length == BUFFER_SIZE {
                self.flush();
            }
        }
    }
}

impl<Sink: FnMut(&[u8])> fmt::Write for LineWriter<Sink> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.write_bytes(text.as_bytes());
        Ok(())
    }
}

impl<Sink: FnMut(&[u8])> Drop for LineWriter<Sink> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Writes formatted information to the console if the VM runs verbose;
/// what `print!` and `println!` call.
pub fn write_information(arguments: fmt::Arguments) {
    if is_verbose() {
        write_fmt(arguments);
    }
}

/// Writes formatted text to the console whatever the verbosity; what
/// `warn!` calls.
pub fn write_fmt(arguments: fmt::Arguments) {
    let mut writer = LineWriter::new(|bytes: &[u8]| {
        // A console write fails only for an address outside the VM's RAM or
        // an oversized piece, neither of which this writer produces; there is
        // nowhere else to report it.
        let _ = crate::hypercall::console_write(bytes);
    });
    // Formatting into a LineWriter cannot fail: its write_str always succeeds.
    let _ = fmt::Write::write_fmt(&mut writer, arguments);
}

/// Prints information to the console, like `std::print!`, when the VM runs
/// verbose.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {
        $crate::console::write_information(format_args!($($argument)*))
    };
}

/// Prints a line of information to the console, like `std::println!`, when
/// the VM runs verbose.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::write_information(format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::console::write_information(format_args!("{}\n", format_args!($($argument)*)))
    };
}

/// Prints a line about a fault or a warning to the console, like
/// `std::println!`, whatever the verbosity.
#[macro_export]
macro_rules! warn {
    ($($argument:tt)*) => {
        $crate::console::write_fmt(format_args!("{}\n", format_args!($($argument)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn pieces_of(write: impl FnOnce(&mut dyn Write)) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        {
            let mut writer = LineWriter::new(|bytes: &[u8]| pieces.push(bytes.to_vec()));
            write(&mut writer);
        }
        pieces
    }

    #[test]
    fn each_line_is_one_write() {
        let pieces = pieces_of(|writer| {
            let name = "app-netvm";
            write!(writer, "channel {name}: up\nsecond").unwrap();
            writeln!(writer, " line").unwrap();
        });
        assert_eq!(pieces, [b"channel app-netvm: up\n".to_vec(), b"second line\n".to_vec()]);
    }

    #[test]
    fn long_lines_are_split_into_allowed_pieces() {
        let line = "y".repeat(BUFFER_SIZE * 2 + 3);
        let pieces = pieces_of(|writer| writeln!(writer, "{line}").unwrap());
        let lengths: Vec<usize> = pieces.iter().map(Vec::len).collect();
        assert_eq!(lengths, [BUFFER_SIZE, BUFFER_SIZE, 4]);
        assert!(pieces.iter().all(|piece| piece.len() <= CONSOLE_WRITE_MAX as usize));
        assert_eq!(pieces.concat(), format!("{line}\n").into_bytes());
    }

    #[test]
    fn an_unfinished_line_is_written_when_the_writer_goes() {
        let pieces = pieces_of(|writer| write!(writer, "no newline").unwrap());
        assert_eq!(pieces, [b"no newline".to_vec()]);
    }

    /// Counts how often it is formatted.
    struct Counted<'a>(&'a core::cell::Cell<u32>);

    impl fmt::Display for Counted<'_> {
        fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            self.0.set(self.0.get() + 1);
            formatter.write_str("counted")
        }
    }

    #[test]
    fn information_is_written_only_when_verbose_and_warnings_always() {
        let formatted = core::cell::Cell::new(0);
        assert!(!is_verbose(), "quiet by default");
        crate::println!("information: {}", Counted(&formatted));
        assert_eq!(formatted.get(), 0, "quiet: information is not even formatted");
        crate::warn!("warning: {}", Counted(&formatted));
        assert_eq!(formatted.get(), 1, "a warning is written");
        set_verbose(true);
        crate::println!("information: {}", Counted(&formatted));
        crate::print!("{}", Counted(&formatted));
        set_verbose(false);
        assert_eq!(formatted.get(), 3, "verbose: information is written");
        crate::println!("information: {}", Counted(&formatted));
        assert_eq!(formatted.get(), 3);
    }

    #[test]
    fn nothing_written_means_no_call() {
        assert!(pieces_of(|_| {}).is_empty());
    }
}
