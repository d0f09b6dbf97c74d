//! Launching QEMU for one test: the command line with a private gdbstub socket, the serial
//! console captured from QEMU's standard output, typing into its standard input, and cleanup
//! that leaves no QEMU behind when a test fails.
//!
//! Every instance gets a fresh temporary directory for its gdbstub socket, so tests running in
//! parallel threads never collide. Console lines are echoed to the test's standard error,
//! prefixed with the test's name, so a failing test shows what the machine printed.

use std::{
    fmt::Write as _,
    io::{self, Read, Write as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use tempfile::TempDir;
use thiserror::Error;

use crate::gdb::{GdbClient, GdbError};

/// The QEMU program used when a builder is made without a command line.
pub const DEFAULT_PROGRAM: &str = "qemu-system-aarch64";
/// How many console lines error messages show.
const TAIL_LINES: usize = 40;
/// How long [`Qemu::gdb`] waits for the gdbstub.
const GDB_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often exit and socket polls look.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long to wait for the output readers to drain after QEMU exits.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// The chardev identifier of the harness's gdbstub.
const GDB_CHARDEV: &str = "gdb0";

/// What went wrong running QEMU.
#[derive(Debug, Error)]
pub enum QemuError {
    /// The command line has no program.
    #[error(
        "the QEMU command line is empty; it must start with the program, such as {DEFAULT_PROGRAM}"
    )]
    EmptyCommand,
    /// The caller's arguments already set up something the harness sets up itself.
    #[error("the QEMU arguments already contain `{argument}`; leave it out, the harness adds its own gdbstub")]
    ConflictingArgument {
        /// The offending argument.
        argument: String,
    },
    /// The temporary directory for the gdbstub socket could not be made.
    #[error("could not create a temporary directory for QEMU's gdbstub socket: {0}")]
    TemporaryDirectory(io::Error),
    /// QEMU could not be started.
    #[error(
        "could not start `{program}`: {source}; install QEMU (Debian: `apt-get install \
         qemu-system-arm`) or fix the command line"
    )]
    Spawn {
        /// The program.
        program: String,
        /// The reason.
        source: io::Error,
    },
    /// Something was not printed in time.
    #[error(
        "QEMU's console did not show `{needle}` within {timeout:?}\n{}",
        report(tail, messages)
    )]
    ConsoleTimeout {
        /// The text waited for.
        needle: String,
        /// How long the test waited.
        timeout: Duration,
        /// The last lines of the console.
        tail: String,
        /// QEMU's own messages (its standard error).
        messages: String,
    },
    /// QEMU closed its console (it exited) before printing something.
    #[error("QEMU exited before its console showed `{needle}`\n{}", report(tail, messages))]
    ExitedBeforeOutput {
        /// The text waited for.
        needle: String,
        /// The last lines of the console.
        tail: String,
        /// QEMU's own messages.
        messages: String,
    },
    /// QEMU exited before its gdbstub accepted a connection.
    #[error(
        "QEMU exited ({status}) before its gdbstub accepted a connection\n{}",
        report(tail, messages)
    )]
    ExitedBeforeGdb {
        /// QEMU's exit status.
        status: ExitStatus,
        /// The last lines of the console.
        tail: String,
        /// QEMU's own messages.
        messages: String,
    },
    /// QEMU did not exit in time.
    #[error("QEMU did not exit within {timeout:?}\n{}", report(tail, messages))]
    ExitTimeout {
        /// How long the test waited.
        timeout: Duration,
        /// The last lines of the console.
        tail: String,
        /// QEMU's own messages.
        messages: String,
    },
    /// Writing to QEMU's standard input, or checking on the process, failed.
    #[error("could not {action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The reason.
        source: io::Error,
    },
    /// Talking to the gdbstub failed.
    #[error(transparent)]
    Gdb(#[from] GdbError),
}

fn report(tail: &str, messages: &str) -> String {
    let mut report = if tail.trim().is_empty() {
        "--- the console printed nothing ---".to_owned()
    } else {
        format!("--- last {TAIL_LINES} lines of the console ---\n{tail}")
    };
    if !messages.trim().is_empty() {
        // Writing to a String cannot fail.
        let _ = write!(report, "\n--- QEMU's messages ---\n{messages}");
    }
    report
}

/// Configures and starts one QEMU instance.
#[derive(Debug, Clone)]
pub struct QemuBuilder {
    program: String,
    arguments: Vec<String>,
    name: Option<String>,
    start_paused: bool,
}

impl QemuBuilder {
    /// Starts a configuration for `program` (such as [`DEFAULT_PROGRAM`]) with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Self { program: program.into(), arguments: Vec::new(), name: None, start_paused: false }
    }

    /// Starts a configuration from a full command line, program first, as
    /// [`crate::Artifacts::qemu_command`] holds it.
    pub fn from_command(command: &[String]) -> Result<Self, QemuError> {
        let (program, arguments) = command.split_first().ok_or(QemuError::EmptyCommand)?;
        Ok(Self::new(program.clone()).arguments(arguments.iter().cloned()))
    }

    /// Appends one argument.
    pub fn argument(mut self, argument: impl Into<String>) -> Self {
        self.arguments.push(argument.into());
        self
    }

    /// Appends arguments.
    pub fn arguments<I>(mut self, arguments: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.arguments.extend(arguments.into_iter().map(Into::into));
        self
    }

    /// Names the instance in echoed console lines; the default is the current thread's name,
    /// which the test runner sets to the test's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the CPUs wait for a debugger before running the first instruction (`-S`).
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// The arguments QEMU will get for a gdbstub socket at `socket`: the caller's, then what
    /// the harness needs.
    pub fn command_arguments(&self, socket: &Path) -> Result<Vec<String>, QemuError> {
        let has = |flag: &str| {
            self.arguments.iter().any(|argument| {
                argument.strip_prefix('-').is_some_and(|rest| rest == flag || rest == &flag[1..])
                    || argument.starts_with(&format!("{flag}="))
            })
        };
        for conflicting in ["-gdb", "-s"] {
            if has(conflicting) {
                return Err(QemuError::ConflictingArgument { argument: conflicting.to_owned() });
            }
        }
        let mut arguments = self.arguments.clone();
        let mut add =
            |words: &[&str]| arguments.extend(words.iter().map(|word| (*word).to_owned()));
        if self.start_paused && !has("-S") {
            add(&["-S"]);
        }
        if !has("-display") && !has("-nographic") {
            add(&["-display", "none"]);
        }
        if !has("-monitor") {
            add(&["-monitor", "none"]);
        }
        if !has("-serial") && !has("-nographic") {
            add(&["-serial", "stdio"]);
        }
        if !has("-no-reboot") {
            add(&["-no-reboot"]);
        }
        // QEMU option values escape a comma by doubling it.
        let socket = socket.to_string_lossy().replace(',', ",,");
        let chardev = format!("socket,id={GDB_CHARDEV},path={socket},server=on,wait=off");
        add(&["-chardev", &chardev, "-gdb", &format!("chardev:{GDB_CHARDEV}")]);
        Ok(arguments)
    }

    /// Starts QEMU in its own process group with its standard streams captured.
    pub fn spawn(self) -> Result<Qemu, QemuError> {
        let directory = tempfile::Builder::new()
            .prefix("elastos-qemu-")
            .tempdir()
            .map_err(QemuError::TemporaryDirectory)?;
        let socket_path = directory.path().join("gdb.sock");
        let arguments = self.command_arguments(&socket_path)?;
        let name = self
            .name
            .clone()
            .or_else(|| thread::current().name().map(str::to_owned))
            .unwrap_or_else(|| "qemu".to_owned());
        let mut child = Command::new(&self.program)
            .args(&arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| QemuError::Spawn { program: self.program.clone(), source })?;
        let shared = Arc::new(Shared::default());
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(spawn_reader(stdout, Arc::clone(&shared), format!("[{name}] "), true));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(spawn_reader(
                stderr,
                Arc::clone(&shared),
                format!("[{name} qemu] "),
                false,
            ));
        }
        let stdin = child.stdin.take();
        let mut command_line = vec![self.program];
        command_line.extend(arguments);
        Ok(Qemu {
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            shared,
            readers,
            socket_path,
            command_line,
            _directory: directory,
        })
    }
}

/// Output captured from QEMU, shared with the reader threads.
#[derive(Debug, Default)]
struct Output {
    /// QEMU's standard output: the serial console.
    console: String,
    /// QEMU's standard error: its own warnings and errors.
    messages: String,
    /// Whether QEMU's standard output is still open.
    console_open: bool,
    /// How many reader threads are still running.
    open_streams: usize,
}

#[derive(Debug, Default)]
struct Shared {
    output: Mutex<Output>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Output> {
        // A reader thread that panicked leaves the text it appended intact.
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn spawn_reader(
    mut stream: impl Read + Send + 'static,
    shared: Arc<Shared>,
    prefix: String,
    is_console: bool,
) -> JoinHandle<()> {
    {
        let mut output = shared.lock();
        output.open_streams += 1;
        if is_console {
            output.console_open = true;
        }
    }
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        let mut pending = Vec::new();
        let mut line = String::new();
        loop {
            let count = match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let text = decode_utf8(&mut pending, &buffer[..count]);
            for character in text.chars() {
                if character == '\n' {
                    eprintln!("{prefix}{}", line.trim_end_matches('\r'));
                    line.clear();
                } else {
                    line.push(character);
                }
            }
            let mut output = shared.lock();
            if is_console {
                output.console.push_str(&text);
            } else {
                output.messages.push_str(&text);
            }
            drop(output);
            shared.changed.notify_all();
        }
        if !line.is_empty() {
            eprintln!("{prefix}{}", line.trim_end_matches('\r'));
        }
        let mut output = shared.lock();
        if !pending.is_empty() {
            let rest = String::from_utf8_lossy(&pending).into_owned();
            if is_console {
                output.console.push_str(&rest);
            } else {
                output.messages.push_str(&rest);
            }
        }
        if is_console {
            output.console_open = false;
        }
        output.open_streams -= 1;
        drop(output);
        shared.changed.notify_all();
    })
}

/// Decodes bytes as UTF-8, keeping an incomplete character at the end in `pending` for the
/// next call and replacing invalid bytes with U+FFFD.
fn decode_utf8(pending: &mut Vec<u8>, bytes: &[u8]) -> String {
    pending.extend_from_slice(bytes);
    let mut text = String::new();
    loop {
        match std::str::from_utf8(pending) {
            Ok(valid) => {
                text.push_str(valid);
                pending.clear();
                return text;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                text.push_str(&String::from_utf8_lossy(&pending[..valid]));
                match error.error_len() {
                    Some(length) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        pending.drain(..valid + length);
                    }
                    None => {
                        pending.drain(..valid);
                        return text;
                    }
                }
            }
        }
    }
}

/// The last `count` lines of `text`.
/// What console source `name` wrote, without its tags: the lines tagged
/// `[name] `, with each line tagged `[name+] ` (the hypervisor's mark of a
/// line another source cut off) joined to the one before it.
pub fn source_text(console: &str, name: &str) -> String {
    let (tag, continued) = (format!("[{name}] "), format!("[{name}+] "));
    let mut text = String::new();
    for line in console.lines() {
        if let Some(rest) = line.strip_prefix(&tag) {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(rest);
        } else if let Some(rest) = line.strip_prefix(&continued) {
            text.push_str(rest);
        }
    }
    text
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// A running QEMU. Dropping it kills QEMU and its process group and reaps it.
#[derive(Debug)]
pub struct Qemu {
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    socket_path: PathBuf,
    command_line: Vec<String>,
    /// Holds the socket's directory until QEMU is gone; removed on drop.
    _directory: TempDir,
}

impl Qemu {
    /// The full command line QEMU was started with, program first.
    pub fn command_line(&self) -> &[String] {
        &self.command_line
    }

    /// The path of the gdbstub's Unix socket.
    pub fn gdb_socket(&self) -> &Path {
        &self.socket_path
    }

    /// Everything the serial console printed so far (QEMU's standard output), as printed,
    /// including any `\r`.
    pub fn console(&self) -> String {
        self.shared.lock().console.clone()
    }

    /// Everything QEMU itself printed so far on its standard error.
    pub fn messages(&self) -> String {
        self.shared.lock().messages.clone()
    }

    /// How many times `needle` occurs in the console so far (non-overlapping).
    pub fn count_in_console(&self, needle: &str) -> usize {
        self.shared.lock().console.matches(needle).count()
    }

    /// Waits until the console shows `needle`, and returns the console text.
    pub fn wait_for_console(&self, needle: &str, timeout: Duration) -> Result<String, QemuError> {
        self.wait_for_console_count(needle, 1, timeout)
    }

    /// Waits until the console shows `needle` at least `count` times, and returns the console
    /// text; useful when the same prompt appears again after each command typed.
    pub fn wait_for_console_count(
        &self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<String, QemuError> {
        self.wait_for_text(needle, count, timeout, |console| console.to_owned())
    }

    /// Waits until the text of console source `name` (its lines, with the
    /// pieces of a line other sources cut off joined again: see
    /// [`source_text`]) shows `needle` at least `count` times; returns that
    /// text.
    pub fn wait_for_source(
        &self,
        name: &str,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<String, QemuError> {
        self.wait_for_text(needle, count, timeout, |console| source_text(console, name))
    }

    /// Waits until `view` of the console shows `needle` at least `count`
    /// times, and returns that view.
    fn wait_for_text(
        &self,
        needle: &str,
        count: usize,
        timeout: Duration,
        view: impl Fn(&str) -> String,
    ) -> Result<String, QemuError> {
        let deadline = Instant::now() + timeout;
        let mut output = self.shared.lock();
        loop {
            let text = view(&output.console);
            if text.matches(needle).count() >= count {
                return Ok(text);
            }
            let tail = || last_lines(&output.console, TAIL_LINES);
            if !output.console_open {
                return Err(QemuError::ExitedBeforeOutput {
                    needle: needle.to_owned(),
                    tail: tail(),
                    messages: output.messages.clone(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(QemuError::ConsoleTimeout {
                    needle: needle.to_owned(),
                    timeout,
                    tail: tail(),
                    messages: output.messages.clone(),
                });
            }
            output = self
                .shared
                .changed
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Sends bytes to QEMU's standard input, which the serial console reads, as if typed.
    pub fn write_console(&self, bytes: &[u8]) -> Result<(), QemuError> {
        let mut stdin = self.stdin.lock().unwrap_or_else(PoisonError::into_inner);
        let stdin = stdin.as_mut().ok_or_else(|| QemuError::Io {
            action: "write to QEMU's standard input",
            source: io::Error::new(io::ErrorKind::BrokenPipe, "standard input is closed"),
        })?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|source| QemuError::Io { action: "write to QEMU's standard input", source })
    }

    /// QEMU's exit status if it has exited, without waiting.
    pub fn exit_status(&self) -> Result<Option<ExitStatus>, QemuError> {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        child.try_wait().map_err(|source| QemuError::Io { action: "check on QEMU", source })
    }

    /// Waits for QEMU to exit and returns its status; by then the console holds all QEMU
    /// printed.
    pub fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus, QemuError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status()? {
                self.wait_for_readers(DRAIN_TIMEOUT);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let output = self.shared.lock();
                return Err(QemuError::ExitTimeout {
                    timeout,
                    tail: last_lines(&output.console, TAIL_LINES),
                    messages: output.messages.clone(),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn wait_for_readers(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut output = self.shared.lock();
        while output.open_streams > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            output = self
                .shared
                .changed
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Connects a debugger to QEMU's gdbstub, waiting for QEMU to create the socket. QEMU
    /// stops the machine when a debugger connects.
    pub fn gdb(&self) -> Result<GdbClient, QemuError> {
        let deadline = Instant::now() + GDB_CONNECT_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status()? {
                self.wait_for_readers(DRAIN_TIMEOUT);
                let output = self.shared.lock();
                return Err(QemuError::ExitedBeforeGdb {
                    status,
                    tail: last_lines(&output.console, TAIL_LINES),
                    messages: output.messages.clone(),
                });
            }
            let now = Instant::now();
            if self.socket_path.exists() || now >= deadline {
                let remaining = deadline.saturating_duration_since(now);
                return Ok(GdbClient::connect(&self.socket_path, remaining.max(POLL_INTERVAL))?);
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Kills QEMU and its process group now and reaps it; dropping the handle does the same.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        // QEMU leads its own process group (see `spawn`), whose identifier is its process
        // identifier; while QEMU is not reaped, that identifier cannot be reused. Kill the group
        // so that any helper QEMU started dies too, then QEMU itself in case `kill` is missing.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Errors here mean QEMU is already dead, which is the goal.
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
        // Closing standard input lets nothing block on it; the readers end when the pipes close.
        self.stdin.lock().unwrap_or_else(PoisonError::into_inner).take();
        for reader in self.readers.drain(..) {
            // A reader that panicked has nothing left to clean up.
            let _ = reader.join();
        }
    }
}

#[cfg(test)]
mod source_tests {
    use super::source_text;

    #[test]
    fn pieces_of_a_cut_line_are_joined() {
        let console = "[linux] BEGIN3.\n[linux] END\n[intruder] attack\n[linux+] 3.\n\
                       [hv cpu2] fault\n[linux] next\n";
        assert_eq!(source_text(console, "linux"), "BEGIN3.\nEND3.\nnext");
        assert_eq!(source_text(console, "intruder"), "attack");
        assert_eq!(source_text(console, "nobody"), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn the_harness_adds_what_is_missing() {
        let builder = QemuBuilder::from_command(&strings(&[
            "qemu-system-aarch64",
            "-M",
            "virt,virtualization=on",
            "-kernel",
            "hypervisor.elf",
        ]))
        .unwrap()
        .start_paused(true);
        let arguments = builder.command_arguments(Path::new("/tmp/a,b/gdb.sock")).unwrap();
        assert_eq!(
            arguments,
            strings(&[
                "-M",
                "virt,virtualization=on",
                "-kernel",
                "hypervisor.elf",
                "-S",
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-no-reboot",
                "-chardev",
                "socket,id=gdb0,path=/tmp/a,,b/gdb.sock,server=on,wait=off",
                "-gdb",
                "chardev:gdb0",
            ])
        );
    }

    #[test]
    fn the_harness_keeps_what_is_there() {
        let builder = QemuBuilder::new(DEFAULT_PROGRAM).arguments([
            "-nographic",
            "--monitor",
            "none",
            "-serial",
            "mon:stdio",
            "-no-reboot",
            "-S",
        ]);
        let arguments = builder.start_paused(true).command_arguments(Path::new("/s")).unwrap();
        assert_eq!(
            arguments,
            strings(&[
                "-nographic",
                "--monitor",
                "none",
                "-serial",
                "mon:stdio",
                "-no-reboot",
                "-S",
                "-chardev",
                "socket,id=gdb0,path=/s,server=on,wait=off",
                "-gdb",
                "chardev:gdb0",
            ])
        );
    }

    #[test]
    fn a_gdbstub_of_the_caller_conflicts() {
        for argument in ["-s", "-gdb", "--gdb"] {
            let builder = QemuBuilder::new(DEFAULT_PROGRAM).arguments([argument, "tcp::1234"]);
            assert!(matches!(
                builder.command_arguments(Path::new("/s")),
                Err(QemuError::ConflictingArgument { .. })
            ));
        }
        assert!(matches!(QemuBuilder::from_command(&[]), Err(QemuError::EmptyCommand)));
    }

    #[test]
    fn utf8_split_across_reads_is_decoded() {
        let mut pending = Vec::new();
        let bytes = "é€".as_bytes();
        assert_eq!(decode_utf8(&mut pending, &bytes[..1]), "");
        assert_eq!(decode_utf8(&mut pending, &bytes[1..3]), "é");
        assert_eq!(decode_utf8(&mut pending, &bytes[3..]), "€");
        assert!(pending.is_empty());
        assert_eq!(decode_utf8(&mut pending, b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn the_tail_is_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }

    #[test]
    fn a_missing_program_is_reported() {
        let error = QemuBuilder::new("/nonexistent/qemu-system-aarch64").spawn().unwrap_err();
        assert!(matches!(error, QemuError::Spawn { .. }), "{error}");
    }

    #[test]
    fn a_shell_stands_in_for_qemu() {
        // `sh` ignores QEMU's arguments after the script; the script echoes its input and exits.
        let qemu = QemuBuilder::new("sh")
            .arguments(["-c", "echo ready; read line; echo \"got $line\"; exit 3", "sh"])
            .name("stand-in")
            .spawn()
            .unwrap();
        qemu.wait_for_console("ready", Duration::from_secs(10)).unwrap();
        qemu.write_console(b"hello\n").unwrap();
        let console = qemu.wait_for_console("got hello", Duration::from_secs(10)).unwrap();
        assert!(console.starts_with("ready\n"));
        let status = qemu.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(qemu.count_in_console("o"), 2);
        let error = qemu.wait_for_console("never", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(error, QemuError::ExitedBeforeOutput { .. }), "{error}");
        assert!(error.to_string().contains("got hello"));
    }

    #[test]
    fn a_console_timeout_shows_the_tail_and_drop_kills() {
        let qemu = QemuBuilder::new("sh")
            .arguments(["-c", "echo first; echo oops >&2; sleep 600", "sh"])
            .spawn()
            .unwrap();
        qemu.wait_for_console("first", Duration::from_secs(10)).unwrap();
        let error = qemu.wait_for_console("never", Duration::from_millis(200)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("first"), "{message}");
        let error = qemu.wait_exit(Duration::from_millis(100)).unwrap_err();
        assert!(matches!(error, QemuError::ExitTimeout { .. }));
        let started = Instant::now();
        drop(qemu);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
