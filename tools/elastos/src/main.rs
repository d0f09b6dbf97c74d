//! The `elastos` command in Linux (see the library's overview).

use elastos_cli::arguments::{self, Parsed, USAGE};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let invocation = match arguments::parse(&words) {
        Ok(Parsed::Run(invocation)) => invocation,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("elastos {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("elastos: {error} (see elastos --help)");
            return ExitCode::from(2);
        }
    };
    let timeout = invocation.timeout;
    let outcome = elastos_cli::run(&invocation, || connect(timeout));
    // Output that cannot be written (a closed pipe) has nowhere to be reported.
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    ExitCode::from(outcome.code.clamp(0, 255) as u8)
}

fn connect(timeout: Duration) -> std::io::Result<std::os::unix::net::UnixStream> {
    if let Some(path) = std::env::var_os("ELASTOS_CONTROL_SOCKET") {
        let stream = std::os::unix::net::UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        return Ok(stream);
    }
    vsock_connect(timeout)
}

#[cfg(target_os = "linux")]
fn vsock_connect(timeout: Duration) -> std::io::Result<std::os::unix::net::UnixStream> {
    // The connection attempt itself waits at most 5 seconds: an Elastos side
    // that is there answers a connection request at once.
    elastos_cli::vsock::connect(
        elastos_control::HOST_CID as u32,
        elastos_control::CONTROL_PORT,
        timeout.min(Duration::from_secs(5)),
    )
    .and_then(|stream| {
        stream.set_read_timeout(Some(timeout))?;
        Ok(stream)
    })
}

#[cfg(not(target_os = "linux"))]
fn vsock_connect(_timeout: Duration) -> std::io::Result<std::os::unix::net::UnixStream> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "vsock exists only on Linux"))
}
