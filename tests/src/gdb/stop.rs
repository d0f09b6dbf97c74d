//! Thread identifiers and stop replies of the GDB Remote Serial Protocol.
//!
//! QEMU's gdbstub shows each virtual CPU as a thread. With the multiprocess extension, which
//! this client asks for, it names them `p1.1`, `p1.2`, …; without it, `1`, `2`, …. The numbers
//! are hexadecimal and thread `n` is the CPU with index `n - 1`.

use std::fmt;

use super::packet::parse_hex_number;

/// The signal a stub reports for a breakpoint, a watchpoint or a completed step.
pub const SIGNAL_TRAP: u8 = 5;
/// The signal a stub reports after an interrupt request.
pub const SIGNAL_INTERRUPT: u8 = 2;

/// A thread of the target; for QEMU, one virtual CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId {
    /// The process number when the stub uses the multiprocess form `p<process>.<thread>`.
    pub process: Option<u64>,
    /// The thread number; QEMU numbers CPUs from 1.
    pub thread: u64,
}

impl ThreadId {
    /// Parses a thread identifier as the protocol writes it: `p1.2`, `p01.02` or `2` (hex).
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("`{text}` is not a thread identifier such as `p1.2` or `2`");
        match text.strip_prefix('p') {
            Some(rest) => {
                let (process, thread) = rest.split_once('.').ok_or_else(invalid)?;
                Ok(Self {
                    process: Some(parse_hex_number(process).map_err(|_| invalid())?),
                    thread: parse_hex_number(thread).map_err(|_| invalid())?,
                })
            }
            None => {
                Ok(Self { process: None, thread: parse_hex_number(text).map_err(|_| invalid())? })
            }
        }
    }

    /// The index of the CPU this thread stands for under QEMU's numbering (thread 1 is CPU 0).
    ///
    /// Returns `None` for thread 0, which the protocol uses to mean "any thread".
    pub fn cpu_index(&self) -> Option<usize> {
        usize::try_from(self.thread).ok()?.checked_sub(1)
    }
}

impl fmt::Display for ThreadId {
    /// Writes the identifier in the protocol's form, ready to put in a packet.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.process {
            Some(process) => write!(formatter, "p{process:x}.{:x}", self.thread),
            None => write!(formatter, "{:x}", self.thread),
        }
    }
}

/// Why the target stopped, from a stop reply (`S`, `T`, `W` or `X` packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopEvent {
    /// The target stopped with a signal and can be examined and resumed.
    Stopped {
        /// The signal number: [`SIGNAL_TRAP`] for breakpoints and steps, [`SIGNAL_INTERRUPT`]
        /// after an interrupt request.
        signal: u8,
        /// The thread (CPU) that stopped, when the stub says.
        thread: Option<ThreadId>,
        /// The data address that triggered a watchpoint, when a watchpoint stopped it.
        watchpoint: Option<u64>,
    },
    /// The target exited with a status (`W` reply); for QEMU, the machine shut down.
    Exited {
        /// The exit status.
        status: u8,
    },
    /// The target was terminated by a signal (`X` reply).
    Terminated {
        /// The signal number.
        signal: u8,
    },
}

impl StopEvent {
    /// Parses a stop reply such as `T05thread:p01.02;`, `S05`, `W00` or `X09`.
    pub fn parse(reply: &str) -> Result<Self, String> {
        let invalid = || format!("`{reply}` is not a stop reply");
        let kind = reply.chars().next().ok_or_else(invalid)?;
        let number = reply.get(1..3).ok_or_else(invalid)?;
        let number = parse_hex_number(number).map_err(|_| invalid())? as u8;
        match kind {
            'S' => Ok(Self::Stopped { signal: number, thread: None, watchpoint: None }),
            'T' => {
                let mut thread = None;
                let mut watchpoint = None;
                for pair in reply[3..].split(';').filter(|pair| !pair.is_empty()) {
                    let (name, value) = pair.split_once(':').ok_or_else(invalid)?;
                    match name {
                        "thread" => thread = Some(ThreadId::parse(value)?),
                        "watch" | "rwatch" | "awatch" => {
                            watchpoint = Some(parse_hex_number(value).map_err(|_| invalid())?);
                        }
                        // Register values, `swbreak`, `hwbreak`, `core` and others carry nothing
                        // this client uses.
                        _ => {}
                    }
                }
                Ok(Self::Stopped { signal: number, thread, watchpoint })
            }
            'W' => Ok(Self::Exited { status: number }),
            'X' => Ok(Self::Terminated { signal: number }),
            _ => Err(invalid()),
        }
    }

    /// The thread that stopped, if the target stopped and the stub named it.
    pub fn thread(&self) -> Option<ThreadId> {
        match self {
            Self::Stopped { thread, .. } => *thread,
            Self::Exited { .. } | Self::Terminated { .. } => None,
        }
    }

    /// The signal of a stop, or `None` if the target exited or was terminated.
    pub fn signal(&self) -> Option<u8> {
        match self {
            Self::Stopped { signal, .. } => Some(*signal),
            Self::Exited { .. } | Self::Terminated { .. } => None,
        }
    }

    /// Whether this is a stop with [`SIGNAL_TRAP`]: a breakpoint, watchpoint or step.
    pub fn is_trap(&self) -> bool {
        self.signal() == Some(SIGNAL_TRAP)
    }
}

impl fmt::Display for StopEvent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stopped { signal, thread, watchpoint } => {
                write!(formatter, "stopped with signal {signal}")?;
                if let Some(thread) = thread {
                    write!(formatter, " in thread {thread}")?;
                }
                if let Some(address) = watchpoint {
                    write!(formatter, " at a watchpoint on {address:#x}")?;
                }
                Ok(())
            }
            Self::Exited { status } => write!(formatter, "exited with status {status}"),
            Self::Terminated { signal } => write!(formatter, "terminated by signal {signal}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_identifiers_in_both_forms() {
        let multiprocess = ThreadId::parse("p1.2").unwrap();
        assert_eq!(multiprocess, ThreadId { process: Some(1), thread: 2 });
        assert_eq!(multiprocess.to_string(), "p1.2");
        assert_eq!(multiprocess.cpu_index(), Some(1));

        let padded = ThreadId::parse("p01.0a").unwrap();
        assert_eq!(padded, ThreadId { process: Some(1), thread: 10 });
        assert_eq!(padded.to_string(), "p1.a");

        let plain = ThreadId::parse("3").unwrap();
        assert_eq!(plain, ThreadId { process: None, thread: 3 });
        assert_eq!(plain.to_string(), "3");
        assert_eq!(plain.cpu_index(), Some(2));
        assert_eq!(ThreadId::parse("0").unwrap().cpu_index(), None);
    }

    #[test]
    fn malformed_thread_identifiers_are_errors() {
        for text in ["", "p", "p1", "p1.", "px.1", "-1", "q1.1"] {
            assert!(ThreadId::parse(text).is_err(), "{text} parsed");
        }
    }

    #[test]
    fn stop_replies_with_threads() {
        let event = StopEvent::parse("T05thread:p01.02;").unwrap();
        assert_eq!(
            event,
            StopEvent::Stopped {
                signal: SIGNAL_TRAP,
                thread: Some(ThreadId { process: Some(1), thread: 2 }),
                watchpoint: None
            }
        );
        assert!(event.is_trap());
        assert_eq!(event.thread().unwrap().cpu_index(), Some(1));

        let event = StopEvent::parse("T02thread:3;").unwrap();
        assert_eq!(event.signal(), Some(SIGNAL_INTERRUPT));
        assert_eq!(event.thread(), Some(ThreadId { process: None, thread: 3 }));
    }

    #[test]
    fn stop_replies_with_registers_and_watchpoints() {
        let event =
            StopEvent::parse("T05watch:40100008;thread:p1.4;20:00000840;swbreak:;").unwrap();
        assert_eq!(
            event,
            StopEvent::Stopped {
                signal: 5,
                thread: Some(ThreadId { process: Some(1), thread: 4 }),
                watchpoint: Some(0x4010_0008)
            }
        );
    }

    #[test]
    fn plain_exit_and_termination_replies() {
        assert_eq!(
            StopEvent::parse("S05").unwrap(),
            StopEvent::Stopped { signal: 5, thread: None, watchpoint: None }
        );
        assert_eq!(StopEvent::parse("W00").unwrap(), StopEvent::Exited { status: 0 });
        assert_eq!(StopEvent::parse("W01;process:1").unwrap(), StopEvent::Exited { status: 1 });
        assert_eq!(StopEvent::parse("X09").unwrap(), StopEvent::Terminated { signal: 9 });
        assert_eq!(StopEvent::parse("W00").unwrap().thread(), None);
    }

    #[test]
    fn other_replies_are_not_stop_replies() {
        for reply in ["", "OK", "E01", "T", "T0", "Tzz", "T05thread", "O48"] {
            assert!(StopEvent::parse(reply).is_err(), "{reply} parsed");
        }
    }
}
