//! A client for the GDB Remote Serial Protocol, talking to QEMU's gdbstub over a Unix socket,
//! so tests can read and change the state of the hypervisor without a `gdb` binary.
//!
//! QEMU shows each virtual CPU as a thread and runs in all-stop mode: when one CPU stops, all
//! do. Register reads and memory accesses go to the selected thread (`Hg`);
//! [`GdbClient::wait_stop`] selects the thread that stopped. Memory addresses are virtual
//! addresses of the selected CPU's current translation regime unless
//! [`GdbClient::set_physical_memory_mode`] switches to physical addresses.
//!
//! What QEMU 7.2's gdbstub does, as observed with `-M virt,virtualization=on -smp 4`:
//! - Threads are `p1.1` … `p1.4` with the multiprocess extension, which this client asks for
//!   (`01`, `02`, … without it). Secondary CPUs are powered off until PSCI `CPU_ON`.
//! - It does not offer `QStartNoAckMode`, so packets stay acknowledged.
//! - Connecting stops a running machine (and QEMU sends an unasked `T02` stop reply); dropping
//!   the client leaves it stopped; [`GdbClient::detach`] resumes it.
//! - `?` always answers signal 5, whatever stopped the machine.
//! - `P` is refused until `target.xml` was read; this client always reads it first.
//! - System registers are in the feature `org.qemu.gdb.arm.sys.regs` under upper-case names
//!   such as `HCR_EL2`, `VTTBR_EL2`, `ESR_EL2`, `FAR_EL2`, `HPFAR_EL2`, `VBAR_EL2`,
//!   `SCTLR_EL2`; registers QEMU computes on read, such as `MPIDR_EL1`, are missing
//!   (`VMPIDR_EL2` holds the MPIDR value at reset).
//! - A CPU resumed at an address with a breakpoint reports the breakpoint again without
//!   executing, so [`GdbClient::cont`] and [`GdbClient::step`] step over it first, as GDB does.
//! - On shutdown (PSCI `SYSTEM_OFF` with `-no-reboot`) it sends `W00` and closes the socket.
//!
//! ```no_run
//! # use std::{path::Path, time::Duration};
//! # use elastos_tests::gdb::GdbClient;
//! # fn main() -> Result<(), elastos_tests::gdb::GdbError> {
//! let mut gdb = GdbClient::connect(Path::new("/tmp/x/gdb.sock"), Duration::from_secs(10))?;
//! let thread = gdb.continue_until(0x4008_0100, Duration::from_secs(10))?;
//! let hcr = gdb.read_register("HCR_EL2")?;
//! # Ok(()) }
//! ```

pub mod packet;
pub mod stop;
pub mod target_description;

use std::{
    collections::{HashMap, VecDeque},
    io::{self, Read as _, Write as _},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use thiserror::Error;

use self::packet::{
    decode_little_endian, encode_little_endian, encode_packet, hex_decode, hex_encode, Frame,
    FrameReader, PacketError,
};
pub use self::{
    stop::{StopEvent, ThreadId, SIGNAL_INTERRUPT, SIGNAL_TRAP},
    target_description::RegisterDescription,
};

/// How long a request waits for its reply unless [`GdbClient::set_reply_timeout`] says otherwise.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The packet size assumed when the stub does not announce one.
const DEFAULT_PACKET_SIZE: usize = 1024;
/// The largest packet this client builds or asks for, whatever the stub announces.
const MAXIMUM_PACKET_SIZE: usize = 64 * 1024;
/// How many times a packet is sent again after a negative acknowledgement.
const MAXIMUM_RETRANSMISSIONS: usize = 5;
/// The pause between attempts to connect to a socket that does not accept connections yet.
const CONNECT_RETRY_INTERVAL: Duration = Duration::from_millis(20);
/// The byte that asks a running target to stop.
const INTERRUPT: u8 = 0x03;
/// The kind (instruction size in bytes) given with breakpoints: every A64 instruction is 4.
const BREAKPOINT_KIND: u32 = 4;
/// What this client tells the stub it supports.
const CLIENT_FEATURES: &str = "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+";

/// What went wrong talking to the gdbstub.
#[derive(Debug, Error)]
pub enum GdbError {
    /// Connecting to the socket failed for a reason other than the socket not being there yet.
    #[error("could not connect to the gdbstub socket {path}: {source}")]
    Connect {
        /// The socket's path.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// The socket did not accept a connection in time.
    #[error(
        "the gdbstub socket {path} accepted no connection within {timeout:?} (last error: \
         {source}); check that QEMU is running with `-gdb` on that socket"
    )]
    ConnectTimeout {
        /// The socket's path.
        path: PathBuf,
        /// How long connecting was tried.
        timeout: Duration,
        /// The error of the last attempt.
        source: io::Error,
    },
    /// Reading from or writing to the socket failed.
    #[error("talking to the gdbstub failed: {0}")]
    Io(#[from] io::Error),
    /// The stub closed the connection.
    #[error("the gdbstub closed the connection; QEMU has probably exited (see its messages)")]
    Disconnected,
    /// No reply came in time.
    #[error("the gdbstub did not answer `{command}` within {timeout:?}")]
    Timeout {
        /// The request that went unanswered.
        command: String,
        /// How long the client waited.
        timeout: Duration,
    },
    /// The target did not stop in time; it is still running.
    #[error(
        "the target did not stop within {timeout:?}; it is still running (call `interrupt` and \
         `wait_stop` to stop it)"
    )]
    StopTimeout {
        /// How long the client waited.
        timeout: Duration,
    },
    /// The stub answered with an error reply (`Exx` or `E.message`).
    #[error("the gdbstub refused `{command}` with `{reply}`")]
    Remote {
        /// The refused request.
        command: String,
        /// The error reply.
        reply: String,
    },
    /// The stub answered with an empty packet, meaning it does not know the request.
    #[error("the gdbstub does not support `{command}` (it sent an empty reply)")]
    Unsupported {
        /// The request.
        command: String,
    },
    /// A reply did not have the expected form.
    #[error("unexpected reply to `{command}`: {message}")]
    Protocol {
        /// The request, or a description of what was being read.
        command: String,
        /// What was wrong.
        message: String,
    },
    /// The target description could not be read or parsed.
    #[error("the target description annex `{annex}` is unusable: {message}")]
    TargetDescription {
        /// The annex, such as `target.xml`.
        annex: String,
        /// What was wrong.
        message: String,
    },
    /// The target description names no such register.
    #[error("the target has no register named `{name}`; {suggestion}")]
    UnknownRegister {
        /// The requested name.
        name: String,
        /// Similar names, or where to look for the right one.
        suggestion: String,
    },
    /// A register does not fit the integer type used.
    #[error(
        "register `{name}` is {bit_size} bits wide, which does not fit in 64 bits; use \
         `read_register_bytes` or `write_register_bytes`"
    )]
    RegisterTooWide {
        /// The register.
        name: String,
        /// Its width.
        bit_size: u32,
    },
    /// A value is wider than the register it was to be written to.
    #[error("the value {value:#x} does not fit in the {bit_size}-bit register `{name}`")]
    ValueTooWide {
        /// The register.
        name: String,
        /// Its width.
        bit_size: u32,
        /// The value.
        value: u64,
    },
    /// The operation needs a stopped target.
    #[error("`{operation}` needs a stopped target, but it is running; call `wait_stop` or `interrupt` first")]
    TargetRunning {
        /// The operation attempted.
        operation: &'static str,
    },
    /// The operation needs a running target.
    #[error(
        "`{operation}` needs a running target, but it is stopped; call `cont` or `step` first"
    )]
    TargetStopped {
        /// The operation attempted.
        operation: &'static str,
    },
    /// No breakpoint or watchpoint is set at the address.
    #[error("no {what} is set at {address:#x}")]
    NotSet {
        /// "breakpoint" or "watchpoint".
        what: &'static str,
        /// The address.
        address: u64,
    },
    /// The target stopped somewhere other than where a test expected.
    #[error("the target {event} at pc {pc} instead of reaching the breakpoint at {address:#x}")]
    UnexpectedStop {
        /// The breakpoint that was expected.
        address: u64,
        /// The program counter of the stopped thread, or why it could not be read.
        pc: String,
        /// What happened instead.
        event: StopEvent,
    },
}

impl GdbError {
    fn protocol(command: &str, message: impl Into<String>) -> Self {
        Self::Protocol { command: command.to_owned(), message: message.into() }
    }

    fn packet(command: &str, error: PacketError) -> Self {
        Self::protocol(command, error.to_string())
    }
}

/// The kinds of access a watchpoint catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// Writes (`Z2`).
    Write,
    /// Reads (`Z3`).
    Read,
    /// Reads and writes (`Z4`).
    Access,
}

impl WatchKind {
    fn packet_type(self) -> u8 {
        match self {
            Self::Write => 2,
            Self::Read => 3,
            Self::Access => 4,
        }
    }
}

/// A connection to a GDB stub, normally QEMU's.
#[derive(Debug)]
pub struct GdbClient {
    stream: UnixStream,
    frames: FrameReader,
    /// Packets that arrived while an acknowledgement was awaited.
    queued: VecDeque<Vec<u8>>,
    acknowledging: bool,
    /// Whether the stub agreed to the multiprocess extension (thread identifiers `p1.2`).
    multiprocess: bool,
    packet_size: usize,
    reply_timeout: Duration,
    running: bool,
    selected_thread: Option<ThreadId>,
    registers: Option<Vec<RegisterDescription>>,
    /// Breakpoint type (0 software, 1 hardware) by address.
    breakpoints: HashMap<u64, u8>,
    watchpoints: HashMap<u64, (WatchKind, usize)>,
    console_output: String,
    /// A stop that happened while stepping over a breakpoint in `cont`, for `wait_stop`.
    pending_stop: Option<StopEvent>,
}

impl GdbClient {
    /// Connects to the stub listening on the Unix socket at `path`, trying again until the
    /// socket exists and accepts a connection or `timeout` has passed, then negotiates features
    /// (`qSupported`) and turns acknowledgements off when the stub allows it.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, GdbError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Err(GdbError::ConnectTimeout {
                            path: path.to_owned(),
                            timeout,
                            source: error,
                        });
                    }
                    thread::sleep(CONNECT_RETRY_INTERVAL);
                }
                Err(source) => return Err(GdbError::Connect { path: path.to_owned(), source }),
            }
        };
        let mut client = Self {
            stream,
            frames: FrameReader::new(),
            queued: VecDeque::new(),
            acknowledging: true,
            multiprocess: false,
            packet_size: DEFAULT_PACKET_SIZE,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            running: false,
            selected_thread: None,
            registers: None,
            breakpoints: HashMap::new(),
            watchpoints: HashMap::new(),
            console_output: String::new(),
            pending_stop: None,
        };
        client.negotiate()?;
        Ok(client)
    }

    fn negotiate(&mut self) -> Result<(), GdbError> {
        // When a client connects to a running machine, QEMU stops it and sends a stop reply
        // (`T02thread:...`) before answering anything; it is no answer to `qSupported`.
        self.send_packet(CLIENT_FEATURES)?;
        let deadline = Instant::now() + self.reply_timeout;
        let reply = loop {
            let reply = self.receive_packet(deadline, CLIENT_FEATURES)?;
            let reply = String::from_utf8_lossy(&reply).into_owned();
            if StopEvent::parse(&reply).is_err() {
                break reply;
            }
        };
        check_reply(CLIENT_FEATURES, &reply)?;
        let mut no_acknowledgement = false;
        for feature in reply.split(';') {
            if let Some(size) = feature.strip_prefix("PacketSize=") {
                let size = packet::parse_hex_number(size)
                    .map_err(|error| GdbError::packet(CLIENT_FEATURES, error))?;
                self.packet_size = (size as usize).clamp(64, MAXIMUM_PACKET_SIZE);
            } else if feature == "QStartNoAckMode+" {
                no_acknowledgement = true;
            } else if feature == "multiprocess+" {
                self.multiprocess = true;
            }
        }
        if no_acknowledgement {
            self.expect_ok("QStartNoAckMode")?;
            self.acknowledging = false;
        }
        Ok(())
    }

    /// Sets how long requests wait for their replies (the default is [`DEFAULT_REPLY_TIMEOUT`]).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// The largest packet the stub accepts, as it announced in reply to `qSupported`.
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// Whether the target is running (resumed and not yet reported stopped).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The thread register and memory accesses go to, if one was selected.
    pub fn selected_thread(&self) -> Option<ThreadId> {
        self.selected_thread
    }

    /// Takes the console output the stub sent in `O` packets so far (QEMU sends none for the
    /// guest's serial port, which goes to QEMU's own output).
    pub fn take_console_output(&mut self) -> String {
        std::mem::take(&mut self.console_output)
    }

    // ---------------------------------------------------------------------------------------
    // Threads and stops.

    /// Lists the target's threads (`qfThreadInfo`, `qsThreadInfo`); for QEMU, one per CPU in
    /// CPU order.
    pub fn threads(&mut self) -> Result<Vec<ThreadId>, GdbError> {
        let mut threads = Vec::new();
        let mut command = "qfThreadInfo";
        loop {
            let reply = self.request(command)?;
            if reply == "l" {
                return Ok(threads);
            }
            let list = reply.strip_prefix('m').ok_or_else(|| {
                GdbError::protocol(command, format!("`{reply}` is not a thread list"))
            })?;
            for item in list.split(',') {
                threads.push(
                    ThreadId::parse(item).map_err(|error| GdbError::protocol(command, error))?,
                );
            }
            command = "qsThreadInfo";
        }
    }

    /// Makes `thread` the one that register reads and writes and memory accesses go to (`Hg`).
    pub fn select_thread(&mut self, thread: ThreadId) -> Result<(), GdbError> {
        self.expect_ok(&format!("Hg{thread}"))?;
        self.selected_thread = Some(thread);
        Ok(())
    }

    /// Asks the stub which thread is current (`qC`).
    pub fn current_thread(&mut self) -> Result<ThreadId, GdbError> {
        let reply = self.request("qC")?;
        let text = reply
            .strip_prefix("QC")
            .ok_or_else(|| GdbError::protocol("qC", format!("`{reply}` does not start with QC")))?;
        ThreadId::parse(text).map_err(|error| GdbError::protocol("qC", error))
    }

    /// Asks why the target last stopped (`?`).
    pub fn stop_reason(&mut self) -> Result<StopEvent, GdbError> {
        let reply = self.request("?")?;
        StopEvent::parse(&reply).map_err(|error| GdbError::protocol("?", error))
    }

    // ---------------------------------------------------------------------------------------
    // Registers.

    /// The target's registers as its description lists them, fetched on first use.
    pub fn registers(&mut self) -> Result<&[RegisterDescription], GdbError> {
        if self.registers.is_none() {
            let mut fetch = |annex: &str| self.read_features_annex(annex);
            let registers = target_description::parse_target_description("target.xml", &mut fetch)?;
            self.registers = Some(registers);
        }
        Ok(self.registers.as_deref().unwrap_or_default())
    }

    /// Finds a register by name, ignoring letter case.
    pub fn register(&mut self, name: &str) -> Result<RegisterDescription, GdbError> {
        let registers = self.registers()?;
        if let Some(register) = target_description::find_register(registers, name) {
            return Ok(register.clone());
        }
        let stem = name.split('_').next().unwrap_or(name).to_ascii_lowercase();
        let similar: Vec<&str> = registers
            .iter()
            .filter(|register| register.name.to_ascii_lowercase().contains(&stem))
            .take(20)
            .map(|register| register.name.as_str())
            .collect();
        let suggestion = if similar.is_empty() {
            format!("it has {} registers; list them with `registers()`", registers.len())
        } else {
            format!("similar names: {}", similar.join(", "))
        };
        Err(GdbError::UnknownRegister { name: name.to_owned(), suggestion })
    }

    /// Reads the raw bytes of a register of the selected thread, in target (little-endian) order.
    pub fn read_register_bytes(&mut self, name: &str) -> Result<Vec<u8>, GdbError> {
        let register = self.register(name)?;
        let command = format!("p{:x}", register.number);
        let reply = self.request(&command)?;
        if reply.starts_with('x') {
            return Err(GdbError::protocol(&command, format!("register `{name}` is unavailable")));
        }
        hex_decode(&reply).map_err(|error| GdbError::packet(&command, error))
    }

    /// Reads a register of at most 64 bits of the selected thread by name, for instance `x0`,
    /// `pc`, `cpsr`, `HCR_EL2` or `vttbr_el2`.
    pub fn read_register(&mut self, name: &str) -> Result<u64, GdbError> {
        let bytes = self.read_register_bytes(name)?;
        decode_little_endian(&bytes).ok_or_else(|| GdbError::RegisterTooWide {
            name: name.to_owned(),
            bit_size: bytes.len() as u32 * 8,
        })
    }

    /// Writes the raw bytes of a register of the selected thread (`P`), little-endian.
    pub fn write_register_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), GdbError> {
        let register = self.register(name)?;
        if bytes.len() != register.byte_size() {
            return Err(GdbError::protocol(
                "P",
                format!(
                    "register `{}` takes {} bytes, not {}",
                    register.name,
                    register.byte_size(),
                    bytes.len()
                ),
            ));
        }
        self.expect_ok(&format!("P{:x}={}", register.number, hex_encode(bytes)))
    }

    /// Writes a register of the selected thread by name.
    pub fn write_register(&mut self, name: &str, value: u64) -> Result<(), GdbError> {
        let register = self.register(name)?;
        let bytes = encode_little_endian(value, register.byte_size()).ok_or_else(|| {
            GdbError::ValueTooWide {
                name: register.name.clone(),
                bit_size: register.bit_size,
                value,
            }
        })?;
        self.expect_ok(&format!("P{:x}={}", register.number, hex_encode(&bytes)))
    }

    fn read_features_annex(&mut self, annex: &str) -> Result<String, GdbError> {
        let mut text = Vec::new();
        let length = self.packet_size.saturating_sub(8).max(64);
        loop {
            let command = format!("qXfer:features:read:{annex}:{:x},{length:x}", text.len());
            let reply = self.request_bytes(&command)?;
            let (kind, data) = reply
                .split_first()
                .ok_or_else(|| GdbError::protocol(&command, "empty transfer reply"))?;
            text.extend_from_slice(data);
            match kind {
                b'l' => break,
                b'm' if !data.is_empty() => {}
                _ => {
                    return Err(GdbError::protocol(
                        &command,
                        format!("`{}` is not a transfer reply", String::from_utf8_lossy(&reply)),
                    ))
                }
            }
        }
        String::from_utf8(text).map_err(|_| GdbError::TargetDescription {
            annex: annex.to_owned(),
            message: "it is not UTF-8 text".to_owned(),
        })
    }

    // ---------------------------------------------------------------------------------------
    // Memory.

    /// Reads `length` bytes of memory at `address`, as the selected CPU sees it (`m`).
    pub fn read_memory(&mut self, address: u64, length: usize) -> Result<Vec<u8>, GdbError> {
        let chunk = (self.packet_size.saturating_sub(8) / 2).max(1);
        let mut memory = Vec::with_capacity(length);
        while memory.len() < length {
            let position = address.wrapping_add(memory.len() as u64);
            let size = chunk.min(length - memory.len());
            let command = format!("m{position:x},{size:x}");
            let reply = self.request(&command)?;
            let bytes = hex_decode(&reply).map_err(|error| GdbError::packet(&command, error))?;
            if bytes.is_empty() || bytes.len() > size {
                return Err(GdbError::protocol(
                    &command,
                    format!("asked for {size} bytes, got {}", bytes.len()),
                ));
            }
            memory.extend_from_slice(&bytes);
        }
        Ok(memory)
    }

    /// Reads a little-endian 64-bit value from memory.
    pub fn read_u64(&mut self, address: u64) -> Result<u64, GdbError> {
        let bytes = self.read_memory(address, 8)?;
        // `read_memory` returns exactly the length asked for.
        Ok(decode_little_endian(&bytes).unwrap_or_default())
    }

    /// Reads a little-endian 32-bit value from memory.
    pub fn read_u32(&mut self, address: u64) -> Result<u32, GdbError> {
        let bytes = self.read_memory(address, 4)?;
        // `read_memory` returns exactly the length asked for, and four bytes fit in 32 bits.
        Ok(decode_little_endian(&bytes).unwrap_or_default() as u32)
    }

    /// Writes bytes to memory at `address`, as the selected CPU sees it (`M`).
    pub fn write_memory(&mut self, address: u64, bytes: &[u8]) -> Result<(), GdbError> {
        let chunk = (self.packet_size.saturating_sub(48) / 2).max(1);
        for (index, piece) in bytes.chunks(chunk).enumerate() {
            let position = address.wrapping_add((index * chunk) as u64);
            self.expect_ok(&format!("M{position:x},{:x}:{}", piece.len(), hex_encode(piece)))?;
        }
        Ok(())
    }

    /// Writes a little-endian 64-bit value to memory.
    pub fn write_u64(&mut self, address: u64, value: u64) -> Result<(), GdbError> {
        self.write_memory(address, &value.to_le_bytes())
    }

    /// Writes a little-endian 32-bit value to memory.
    pub fn write_u32(&mut self, address: u64, value: u32) -> Result<(), GdbError> {
        self.write_memory(address, &value.to_le_bytes())
    }

    /// Makes memory accesses use physical addresses (`true`) or the selected CPU's virtual
    /// addresses (`false`, the default), through QEMU's `Qqemu.PhyMemMode` packet.
    pub fn set_physical_memory_mode(&mut self, physical: bool) -> Result<(), GdbError> {
        self.expect_ok(&format!("Qqemu.PhyMemMode:{}", u8::from(physical)))
    }

    // ---------------------------------------------------------------------------------------
    // Breakpoints and watchpoints.

    /// Sets a breakpoint at `address`: a software breakpoint (`Z0`), or a hardware one (`Z1`)
    /// if the stub refuses that. Setting one twice is harmless.
    pub fn set_breakpoint(&mut self, address: u64) -> Result<(), GdbError> {
        if self.breakpoints.contains_key(&address) {
            return Ok(());
        }
        let software = self.expect_ok(&format!("Z0,{address:x},{BREAKPOINT_KIND:x}"));
        let kind = match software {
            Ok(()) => 0,
            Err(GdbError::Unsupported { .. } | GdbError::Remote { .. }) => {
                self.expect_ok(&format!("Z1,{address:x},{BREAKPOINT_KIND:x}"))?;
                1
            }
            Err(error) => return Err(error),
        };
        self.breakpoints.insert(address, kind);
        Ok(())
    }

    /// Removes the breakpoint at `address`.
    pub fn remove_breakpoint(&mut self, address: u64) -> Result<(), GdbError> {
        let kind = *self
            .breakpoints
            .get(&address)
            .ok_or(GdbError::NotSet { what: "breakpoint", address })?;
        self.expect_ok(&format!("z{kind},{address:x},{BREAKPOINT_KIND:x}"))?;
        self.breakpoints.remove(&address);
        Ok(())
    }

    /// Sets a watchpoint on `length` bytes at `address` (`Z2`, `Z3` or `Z4`); a hit stops the
    /// target with [`SIGNAL_TRAP`] and the address in [`StopEvent::Stopped::watchpoint`].
    pub fn set_watchpoint(
        &mut self,
        address: u64,
        length: usize,
        kind: WatchKind,
    ) -> Result<(), GdbError> {
        self.expect_ok(&format!("Z{},{address:x},{length:x}", kind.packet_type()))?;
        self.watchpoints.insert(address, (kind, length));
        Ok(())
    }

    /// Removes the watchpoint at `address`.
    pub fn remove_watchpoint(&mut self, address: u64) -> Result<(), GdbError> {
        let (kind, length) = *self
            .watchpoints
            .get(&address)
            .ok_or(GdbError::NotSet { what: "watchpoint", address })?;
        self.expect_ok(&format!("z{},{address:x},{length:x}", kind.packet_type()))?;
        self.watchpoints.remove(&address);
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Execution.

    /// Resumes all CPUs (`c`). Follow with [`GdbClient::wait_stop`].
    ///
    /// If the selected thread stands on a breakpoint, it first executes that instruction with
    /// the breakpoint lifted, as GDB does: QEMU would otherwise report the same breakpoint
    /// again without executing anything.
    pub fn cont(&mut self) -> Result<(), GdbError> {
        self.ensure_stopped("cont")?;
        if let Some(event) = self.step_over_breakpoint()? {
            // The step itself ended somewhere the caller must hear of; `wait_stop` reports it.
            self.pending_stop = Some(event);
            self.running = true;
            return Ok(());
        }
        self.send_packet("c")?;
        self.running = true;
        Ok(())
    }

    /// Steps the selected thread over a breakpoint at its pc, if there is one. Returns the
    /// stop unless it was the plain end of the step.
    fn step_over_breakpoint(&mut self) -> Result<Option<StopEvent>, GdbError> {
        if self.breakpoints.is_empty() {
            return Ok(None);
        }
        let pc = self.read_register("pc")?;
        if !self.breakpoints.contains_key(&pc) {
            return Ok(None);
        }
        let event = self.step_lifting_breakpoint(pc, self.reply_timeout)?;
        let ordinary = match event {
            StopEvent::Stopped { signal: SIGNAL_TRAP, watchpoint: None, .. } => {
                let pc = self.read_register("pc")?;
                !self.breakpoints.contains_key(&pc)
            }
            _ => false,
        };
        Ok((!ordinary).then_some(event))
    }

    /// Single-steps the selected thread with the breakpoint at `pc` removed meanwhile.
    fn step_lifting_breakpoint(
        &mut self,
        pc: u64,
        timeout: Duration,
    ) -> Result<StopEvent, GdbError> {
        let kind = self.breakpoints.get(&pc).copied();
        if let Some(kind) = kind {
            self.expect_ok(&format!("z{kind},{pc:x},{BREAKPOINT_KIND:x}"))?;
        }
        let event = self.single_step(timeout)?;
        if let Some(kind) = kind {
            match event {
                StopEvent::Stopped { .. } => {
                    self.expect_ok(&format!("Z{kind},{pc:x},{BREAKPOINT_KIND:x}"))?;
                }
                StopEvent::Exited { .. } | StopEvent::Terminated { .. } => {
                    self.breakpoints.clear();
                    self.watchpoints.clear();
                }
            }
        }
        Ok(event)
    }

    fn single_step(&mut self, timeout: Duration) -> Result<StopEvent, GdbError> {
        if let Some(thread) = self.selected_thread {
            self.expect_ok(&format!("Hc{thread}"))?;
        }
        self.send_packet("s")?;
        self.running = true;
        self.wait_stop(timeout)
    }

    /// Waits until the target stops, then selects the thread that stopped so that register
    /// reads come from that CPU. When the machine shuts down (with `-no-reboot`, also on a
    /// reset), QEMU reports [`StopEvent::Exited`] and closes the connection. `O` packets that arrive meanwhile are kept for
    /// [`GdbClient::take_console_output`].
    pub fn wait_stop(&mut self, timeout: Duration) -> Result<StopEvent, GdbError> {
        if !self.running {
            return Err(GdbError::TargetStopped { operation: "wait_stop" });
        }
        if let Some(event) = self.pending_stop.take() {
            self.running = false;
            return Ok(event);
        }
        let deadline = Instant::now() + timeout;
        let event = loop {
            let reply = match self.receive_packet(deadline, "a stop reply") {
                Err(GdbError::Timeout { .. }) => return Err(GdbError::StopTimeout { timeout }),
                other => other?,
            };
            let reply = String::from_utf8_lossy(&reply).into_owned();
            if let Some(text) = console_output(&reply) {
                self.console_output.push_str(&text);
                continue;
            }
            break StopEvent::parse(&reply)
                .map_err(|error| GdbError::protocol("a stop reply", error))?;
        };
        self.running = false;
        match event {
            StopEvent::Stopped { thread: Some(thread), .. } => self.select_thread(thread)?,
            StopEvent::Stopped { thread: None, .. } => {}
            StopEvent::Exited { .. } | StopEvent::Terminated { .. } => {
                // The target is gone, and its breakpoints with it.
                self.breakpoints.clear();
                self.watchpoints.clear();
            }
        }
        Ok(event)
    }

    /// Asks the running target to stop (sends the interrupt byte 0x03); follow with
    /// [`GdbClient::wait_stop`], which reports [`SIGNAL_INTERRUPT`].
    pub fn interrupt(&mut self) -> Result<(), GdbError> {
        if !self.running {
            return Err(GdbError::TargetStopped { operation: "interrupt" });
        }
        self.write(&[INTERRUPT])?;
        Ok(())
    }

    /// Executes one instruction on the selected thread and waits for the stop; a breakpoint
    /// at the current pc is lifted meanwhile.
    pub fn step(&mut self, timeout: Duration) -> Result<StopEvent, GdbError> {
        self.ensure_stopped("step")?;
        let pc = if self.breakpoints.is_empty() { None } else { Some(self.read_register("pc")?) };
        match pc {
            Some(pc) if self.breakpoints.contains_key(&pc) => {
                self.step_lifting_breakpoint(pc, timeout)
            }
            _ => self.single_step(timeout),
        }
    }

    /// Sets a breakpoint at `address`, resumes, waits for the stop and removes the breakpoint
    /// again, returning the thread (CPU) that reached it, which is then the selected thread.
    ///
    /// If the target does not stop in time, it is interrupted so the breakpoint can be removed
    /// and a [`GdbError::StopTimeout`] is returned. A stop anywhere else is a
    /// [`GdbError::UnexpectedStop`].
    pub fn continue_until(
        &mut self,
        address: u64,
        timeout: Duration,
    ) -> Result<ThreadId, GdbError> {
        self.set_breakpoint(address)?;
        let outcome = self.cont().and_then(|()| self.wait_stop(timeout));
        let outcome = match outcome {
            Err(error @ GdbError::StopTimeout { .. }) => {
                self.interrupt()?;
                self.wait_stop(self.reply_timeout)?;
                Err(error)
            }
            other => other,
        };
        let event = match outcome {
            Ok(event) if matches!(event, StopEvent::Stopped { .. }) => {
                self.remove_breakpoint(address)?;
                event
            }
            Ok(event) => {
                // The target is gone; there is no breakpoint left to remove.
                self.breakpoints.remove(&address);
                event
            }
            Err(error) => {
                if !self.running {
                    self.remove_breakpoint(address)?;
                }
                return Err(error);
            }
        };
        let pc = match event {
            StopEvent::Stopped { .. } => self.read_register("pc"),
            StopEvent::Exited { .. } | StopEvent::Terminated { .. } => {
                return Err(GdbError::UnexpectedStop { address, pc: "none".to_owned(), event })
            }
        };
        match (event.thread(), &pc) {
            (Some(thread), Ok(pc)) if event.is_trap() && *pc == address => Ok(thread),
            _ => Err(GdbError::UnexpectedStop {
                address,
                pc: match pc {
                    Ok(pc) => format!("{pc:#x}"),
                    Err(error) => format!("unknown ({error})"),
                },
                event,
            }),
        }
    }

    /// Runs a QEMU monitor command through the stub (`qRcmd`) and returns its output, for
    /// instance `info mtree`.
    pub fn monitor_command(&mut self, command: &str) -> Result<String, GdbError> {
        let packet = format!("qRcmd,{}", hex_encode(command.as_bytes()));
        self.ensure_stopped("monitor_command")?;
        self.send_packet(&packet)?;
        let deadline = Instant::now() + self.reply_timeout;
        let mut output = String::new();
        loop {
            let reply = self.receive_packet(deadline, &packet)?;
            let reply = String::from_utf8_lossy(&reply).into_owned();
            if let Some(text) = console_output(&reply) {
                output.push_str(&text);
                continue;
            }
            check_reply(&packet, &reply)?;
            if reply == "OK" {
                return Ok(output);
            }
            // Some stubs answer with the output itself, hex-encoded.
            let bytes = hex_decode(&reply).map_err(|error| GdbError::packet(&packet, error))?;
            output.push_str(&String::from_utf8_lossy(&bytes));
            return Ok(output);
        }
    }

    /// Ends the debugging session and lets the target run on without a debugger (`D`).
    /// Merely dropping the client leaves a QEMU machine stopped.
    pub fn detach(mut self) -> Result<(), GdbError> {
        self.ensure_stopped("detach")?;
        if self.multiprocess {
            // With the multiprocess extension QEMU wants the process: `D;1`.
            let process = self.selected_thread.and_then(|thread| thread.process).unwrap_or(1);
            self.expect_ok(&format!("D;{process:x}"))
        } else {
            self.expect_ok("D")
        }
    }

    /// Kills the target (`k`); QEMU exits.
    pub fn kill(mut self) -> Result<(), GdbError> {
        if self.running {
            self.write(&[INTERRUPT])?;
        }
        match self.send_packet("k") {
            Ok(()) | Err(GdbError::Disconnected) => Ok(()),
            Err(error) => Err(error),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Transport.

    /// Writes raw bytes to the stub; a closed connection is [`GdbError::Disconnected`].
    fn write(&mut self, bytes: &[u8]) -> Result<(), GdbError> {
        self.stream.write_all(bytes).map_err(|error| {
            if is_disconnection(&error) {
                GdbError::Disconnected
            } else {
                GdbError::Io(error)
            }
        })
    }

    fn ensure_stopped(&self, operation: &'static str) -> Result<(), GdbError> {
        if self.running {
            return Err(GdbError::TargetRunning { operation });
        }
        Ok(())
    }

    /// Sends a request and returns its reply as text, turning error and empty replies into
    /// errors.
    fn request(&mut self, command: &str) -> Result<String, GdbError> {
        let reply = self.request_bytes(command)?;
        let reply = String::from_utf8(reply)
            .map_err(|_| GdbError::protocol(command, "the reply is not text"))?;
        check_reply(command, &reply)?;
        Ok(reply)
    }

    /// Sends a request and returns its reply as bytes, turning empty replies into errors.
    fn request_bytes(&mut self, command: &str) -> Result<Vec<u8>, GdbError> {
        self.ensure_stopped("a request")?;
        self.send_packet(command)?;
        let deadline = Instant::now() + self.reply_timeout;
        let reply = self.receive_packet(deadline, command)?;
        if reply.is_empty() {
            return Err(GdbError::Unsupported { command: command.to_owned() });
        }
        if reply.first() == Some(&b'E') {
            check_reply(command, &String::from_utf8_lossy(&reply))?;
        }
        Ok(reply)
    }

    fn expect_ok(&mut self, command: &str) -> Result<(), GdbError> {
        let reply = self.request(command)?;
        if reply != "OK" {
            return Err(GdbError::protocol(command, format!("expected `OK`, got `{reply}`")));
        }
        Ok(())
    }

    fn send_packet(&mut self, payload: &str) -> Result<(), GdbError> {
        let frame = encode_packet(payload.as_bytes());
        for _ in 0..MAXIMUM_RETRANSMISSIONS {
            self.write(&frame)?;
            if !self.acknowledging {
                return Ok(());
            }
            let deadline = Instant::now() + self.reply_timeout;
            loop {
                match self.next_frame(deadline, payload)? {
                    Frame::Acknowledgement => return Ok(()),
                    Frame::NegativeAcknowledgement => break,
                    Frame::Packet(packet) => {
                        // A packet the stub sent before taking this one, such as a stop reply;
                        // it is acknowledged like any other and kept for the next read.
                        self.write(b"+")?;
                        self.queued.push_back(packet);
                    }
                    Frame::Notification(_) | Frame::Corrupt(_) => {}
                }
            }
        }
        Err(GdbError::protocol(
            payload,
            format!("the stub rejected the packet {MAXIMUM_RETRANSMISSIONS} times"),
        ))
    }

    fn receive_packet(&mut self, deadline: Instant, command: &str) -> Result<Vec<u8>, GdbError> {
        if let Some(packet) = self.queued.pop_front() {
            return Ok(packet);
        }
        loop {
            match self.next_frame(deadline, command)? {
                Frame::Packet(packet) => {
                    if self.acknowledging {
                        match self.write(b"+") {
                            // QEMU closes the connection right after its exit reply (`W00`);
                            // the packet still counts.
                            Ok(()) | Err(GdbError::Disconnected) => {}
                            Err(error) => return Err(error),
                        }
                    }
                    return Ok(packet);
                }
                Frame::Corrupt(error) => {
                    if !self.acknowledging {
                        return Err(GdbError::packet(command, error));
                    }
                    self.write(b"-")?;
                }
                // Stray acknowledgements and non-stop notifications carry nothing for an
                // all-stop client.
                Frame::Acknowledgement
                | Frame::NegativeAcknowledgement
                | Frame::Notification(_) => {}
            }
        }
    }

    fn next_frame(&mut self, deadline: Instant, command: &str) -> Result<Frame, GdbError> {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(frame) = self.frames.next_frame() {
                return Ok(frame);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timeout_error(command));
            }
            self.stream.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
            match self.stream.read(&mut buffer) {
                Ok(0) => return Err(GdbError::Disconnected),
                Ok(count) => self.frames.push(&buffer[..count]),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.timeout_error(command));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if is_disconnection(&error) => return Err(GdbError::Disconnected),
                Err(error) => return Err(error.into()),
            }
        }
    }

    fn timeout_error(&self, command: &str) -> GdbError {
        GdbError::Timeout { command: command.to_owned(), timeout: self.reply_timeout }
    }
}

/// Whether an I/O error means the stub closed the connection.
fn is_disconnection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

/// Turns error replies (`Exx`, `E.message`) into errors.
fn check_reply(command: &str, reply: &str) -> Result<(), GdbError> {
    let is_error = match reply.strip_prefix('E') {
        Some(rest) => {
            (rest.len() == 2 && rest.bytes().all(|byte| byte.is_ascii_hexdigit()))
                || rest.starts_with('.')
        }
        None => false,
    };
    if is_error {
        return Err(GdbError::Remote { command: command.to_owned(), reply: reply.to_owned() });
    }
    Ok(())
}

/// Decodes an `O` console-output packet, or returns `None` if the reply is something else
/// (such as `OK`).
fn console_output(reply: &str) -> Option<String> {
    let hex = reply.strip_prefix('O')?;
    if hex.is_empty() {
        return None;
    }
    let bytes = hex_decode(hex).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn error_replies_are_errors() {
        assert!(
            matches!(check_reply("m0,4", "E14"), Err(GdbError::Remote { reply, .. }) if reply == "E14")
        );
        assert!(check_reply("m0,4", "E.no memory").is_err());
        assert!(check_reply("m0,4", "e14e").is_ok());
        assert!(check_reply("p20", "E1").is_ok());
        assert!(check_reply("?", "OK").is_ok());
    }

    #[test]
    fn console_output_packets_are_told_from_ok() {
        assert_eq!(console_output("O48690a").as_deref(), Some("Hi\n"));
        assert_eq!(console_output("OK"), None);
        assert_eq!(console_output("O"), None);
        assert_eq!(console_output("T05"), None);
    }

    /// A scripted stub: it sends `initial` (packets separated by `|`) on connection, then for
    /// each expected request the reply to send.
    fn scripted_stub(
        initial: &'static str,
        script: Vec<(&'static str, &'static str)>,
    ) -> (tempfile::TempDir, PathBuf) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("gdb.sock");
        let listener = UnixListener::bind(&path).unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            for part in initial.split('|').filter(|part| !part.is_empty()) {
                stream.write_all(&encode_packet(part.as_bytes())).unwrap();
            }
            let mut frames = FrameReader::new();
            let mut acknowledging = true;
            let mut buffer = [0u8; 4096];
            for (expected, reply) in script {
                let request = loop {
                    match frames.next_frame() {
                        Some(Frame::Packet(packet)) => break packet,
                        Some(_) => continue,
                        None => {
                            let count = stream.read(&mut buffer).unwrap();
                            assert!(count > 0, "client closed before sending {expected}");
                            frames.push(&buffer[..count]);
                        }
                    }
                };
                assert_eq!(String::from_utf8_lossy(&request), expected);
                if acknowledging {
                    stream.write_all(b"+").unwrap();
                }
                if expected == "QStartNoAckMode" {
                    acknowledging = false;
                }
                for part in reply.split('|') {
                    stream.write_all(&encode_packet(part.as_bytes())).unwrap();
                }
            }
        });
        (directory, path)
    }

    #[test]
    fn a_scripted_session_reads_registers_memory_and_stops() {
        let core = r#"<feature name="org.gnu.gdb.aarch64.core"><reg name="x0" bitsize="64"/><reg name="pc" bitsize="64" regnum="32"/><reg name="cpsr" bitsize="32"/></feature>"#;
        let core_reply: &'static str = format!("l{core}").leak();
        let (_directory, path) = scripted_stub(
            "",
            vec![
                (
                    CLIENT_FEATURES,
                    "PacketSize=1000;qXfer:features:read+;QStartNoAckMode+;multiprocess+",
                ),
                ("QStartNoAckMode", "OK"),
                ("qfThreadInfo", "mp01.01,p01.02"),
                ("qsThreadInfo", "l"),
                (
                    "qXfer:features:read:target.xml:0,ff8",
                    r#"m<target><xi:include href="core.xml"/>"#,
                ),
                ("qXfer:features:read:target.xml:25,ff8", "l</target>"),
                ("qXfer:features:read:core.xml:0,ff8", core_reply),
                ("p20", "0000084000000000"),
                ("p21", "c9030000"),
                ("m40100000,4", "efbe0000"),
                ("Z0,40080008,4", ""),
                ("Z1,40080008,4", "OK"),
                // `cont` checks whether the pc stands on a breakpoint; it does not.
                ("p20", "0000084000000000"),
                ("c", "O48690a|T05thread:p01.02;"),
                ("Hgp1.2", "OK"),
                ("p20", "0800084000000000"),
                ("z1,40080008,4", "OK"),
                ("m0,4", "E14"),
            ],
        );
        let mut gdb = GdbClient::connect(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(gdb.packet_size(), 0x1000);
        let threads = gdb.threads().unwrap();
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[1].to_string(), "p1.2");
        assert_eq!(gdb.read_register("PC").unwrap(), 0x4008_0000);
        assert_eq!(gdb.read_register("cpsr").unwrap(), 0x3c9);
        assert_eq!(gdb.read_u32(0x4010_0000).unwrap(), 0xbeef);
        gdb.set_breakpoint(0x4008_0008).unwrap();
        gdb.cont().unwrap();
        assert!(matches!(gdb.read_register("pc"), Err(GdbError::TargetRunning { .. })));
        let event = gdb.wait_stop(Duration::from_secs(5)).unwrap();
        assert!(event.is_trap());
        assert_eq!(gdb.selected_thread(), Some(threads[1]));
        assert_eq!(gdb.take_console_output(), "Hi\n");
        assert_eq!(gdb.read_register("pc").unwrap(), 0x4008_0008);
        gdb.remove_breakpoint(0x4008_0008).unwrap();
        assert!(matches!(gdb.read_u32(0), Err(GdbError::Remote { .. })));
        assert!(matches!(gdb.read_register("x9"), Err(GdbError::UnknownRegister { .. })));
    }

    #[test]
    fn continuing_from_a_breakpoint_steps_over_it_first() {
        let (_directory, path) = scripted_stub(
            // QEMU sends this when a client connects to a running machine.
            "T02thread:p01.01;",
            vec![
                // Like QEMU 7.2, this stub keeps acknowledging packets.
                (CLIENT_FEATURES, "PacketSize=1000;multiprocess+"),
                ("Z0,1000,4", "OK"),
                (
                    "qXfer:features:read:target.xml:0,ff8",
                    r#"l<target><feature name="core"><reg name="pc" bitsize="64" regnum="32"/></feature></target>"#,
                ),
                ("p20", "0010000000000000"),
                ("z0,1000,4", "OK"),
                ("s", "T05thread:p01.01;"),
                ("Hgp1.1", "OK"),
                ("Z0,1000,4", "OK"),
                ("p20", "0410000000000000"),
                ("c", "T05thread:p01.02;"),
                ("Hgp1.2", "OK"),
                ("D;1", "OK"),
            ],
        );
        let mut gdb = GdbClient::connect(&path, Duration::from_secs(5)).unwrap();
        gdb.set_breakpoint(0x1000).unwrap();
        gdb.cont().unwrap();
        let event = gdb.wait_stop(Duration::from_secs(5)).unwrap();
        assert_eq!(event.thread(), Some(ThreadId { process: Some(1), thread: 2 }));
        gdb.detach().unwrap();
    }

    #[test]
    fn connecting_to_a_missing_socket_times_out() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("absent.sock");
        let error = GdbClient::connect(&path, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(error, GdbError::ConnectTimeout { .. }), "{error}");
    }
}
