//! Linux's network through netvm: Linux's virtio-net device, whose backend is netvm's
//! bridge to the NIC, gets a DHCP lease of its own from QEMU's user-mode network, reaches
//! the gateway and netvm with ping, downloads a file from an HTTP server on the host and
//! asks QEMU's DNS forwarder, all while netvm keeps its own address on the same NIC.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use elastos_tests::qemu::source_text;
use elastos_tests::shell::{wait_for_shell, COMMAND_TIMEOUT};
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, Error, Qemu, SystemOptions};
use file_server::{generated_file, FileServer};
use sha2::{Digest, Sha256};

/// Bytes of the file Linux downloads.
const FILE_SIZE: usize = 6 << 20;
/// How long Linux may take to get its lease once its shell is up.
const LEASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the download may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);
/// QEMU's user-mode gateway, which is also the host's loopback interface.
const GATEWAY: &str = "10.0.2.2";
/// QEMU's user-mode DNS forwarder.
const DNS_SERVER: &str = "10.0.2.3";
/// The MAC address the hypervisor gives Linux's first network device.
const LINUX_MAC: &str = "02:45:4c:53:00:00";
/// What Linux's DHCP script prints when it applied a lease.
const LEASE_LINE: &str = "elastos: eth0 has ";
/// What netvm prints when it has an address.
const NETVM_ADDRESS_LINE: &str = "address ";

/// Runs `command` in Linux's shell and returns what it printed, waiting up to `timeout`.
/// The output is read from Linux's console text with cut-off lines joined, between two
/// markers split in the typed text so that the echo of the command never matches.
fn run(qemu: &Qemu, command: &str, timeout: Duration) -> Result<String, Error> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let (begin, end) = (format!("NETBEGIN{number}."), format!("NETEND{number}."));
    let typed = format!("echo NETBEGIN''{number}.; {command}; echo NETEND''{number}.\n");
    qemu.write_console(typed.as_bytes())?;
    let text = qemu.wait_for_source("linux", &end, 1, timeout)?;
    let stop = text.rfind(&end).expect("waited for it");
    let start = text[..stop].rfind(&begin).expect("the begin marker precedes the end marker");
    Ok(text[start + begin.len()..stop].trim().to_string())
}

/// What follows `marker` on the last line of `text` that holds it (the line may start
/// with something else: the DHCP client's line follows the shell's prompt).
fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    text.lines().rev().find_map(|line| {
        let start = line.find(marker)? + marker.len();
        Some(line[start..].trim_end())
    })
}

/// The default system with Linux and the Elastos VMs, named `name` on the
/// console echo; verbose, for netvm's lines about the network.
fn default_system(name: &str) -> SystemOptions {
    SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: name.into(),
        verbose: true,
        ..SystemOptions::default()
    }
}

/// Lower-case hexadecimal digits of `bytes`.
fn hexadecimal(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether busybox's `nslookup` output shows the DNS server answered: with addresses for
/// the name, or with a refusal (no such name, a failure upstream, refused); a timeout is
/// no answer.
fn dns_answered(output: &str) -> bool {
    let answered = output
        .lines()
        .skip_while(|line| !line.starts_with("Name:"))
        .any(|line| line.starts_with("Address") && !line.contains(DNS_SERVER));
    let refused = ["NXDOMAIN", "SERVFAIL", "REFUSED", "can't find"]
        .iter()
        .any(|refusal| output.contains(refusal));
    answered || refused
}

#[test]
fn linux_reaches_the_network_through_netvm() -> Result<(), Error> {
    let file = generated_file(FILE_SIZE, 0x0e1a_5705);
    let digest = hexadecimal(&Sha256::digest(&file));
    let server = FileServer::start([("/file", file)]).expect("the file server starts");
    let artifacts = artifacts()?;
    let options = default_system("network");
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;

    // Linux's lease is its own: another address than netvm's, on the same network.
    qemu.wait_for_source("linux", LEASE_LINE, 1, LEASE_TIMEOUT)?;
    // The lease line is whole once the shell has answered after it.
    let interface = run(qemu, "ip -4 -o addr show dev eth0", COMMAND_TIMEOUT)?;
    let linux = source_text(&qemu.console(), "linux");
    let lease = after(&linux, LEASE_LINE).expect("waited for it").to_string();
    let (linux_address, router) = lease.split_once(" via ").expect("`ADDRESS/MASK via ROUTER`");
    assert_eq!(router, GATEWAY, "{lease}");
    let netvm = qemu.wait_for_source("netvm", NETVM_ADDRESS_LINE, 1, COMMAND_TIMEOUT)?;
    let netvm_address = after(&netvm, NETVM_ADDRESS_LINE)
        .and_then(|rest| rest.split('/').next())
        .expect("`address A.B.C.D/N, gateway G`")
        .to_string();
    let linux_address = linux_address.split('/').next().unwrap_or(linux_address);
    assert!(linux_address.starts_with("10.0.2."), "{lease}");
    assert!(interface.contains(&format!("inet {linux_address}/")), "{interface}");
    assert_ne!(linux_address, netvm_address, "Linux and netvm share the address {linux_address}");
    let bridged = format!("linux-net: Linux is {LINUX_MAC}, bridged to the NIC");
    assert!(source_text(&qemu.console(), "netvm").contains(&bridged), "{netvm}");

    // The gateway answers ping (QEMU answers echo requests to its own address), and so
    // does netvm's stack, reached through the bridge without touching the wire.
    for target in [GATEWAY, netvm_address.as_str()] {
        let ping = run(qemu, &format!("ping -c 3 {target}"), COMMAND_TIMEOUT)?;
        assert!(ping.contains("3 packets transmitted, 3 packets received"), "{ping}");
    }

    // A download from the host, checked end to end.
    let started = Instant::now();
    let download = run(
        qemu,
        &format!(
            "wget -q -O /tmp/file http://{GATEWAY}:{}/file && sha256sum /tmp/file",
            server.port()
        ),
        TRANSFER_TIMEOUT,
    )?;
    let elapsed = started.elapsed();
    assert!(download.contains(&format!("{digest}  /tmp/file")), "{download}");
    assert_eq!(server.files_served(), 1);
    eprintln!(
        "network: {} MiB downloaded in {:.1} s ({:.0} KiB/s)",
        FILE_SIZE >> 20,
        elapsed.as_secs_f64(),
        (FILE_SIZE >> 10) as f64 / elapsed.as_secs_f64()
    );

    // DNS: the lease names QEMU's forwarder, which asks the host's resolver. The host
    // may have no internet, so a refusal is as good as an answer; silence is not.
    let resolver = run(qemu, "cat /etc/resolv.conf", COMMAND_TIMEOUT)?;
    assert!(resolver.lines().any(|line| line.trim() == format!("nameserver {DNS_SERVER}")));
    let lookup = run(qemu, "nslookup example.com", COMMAND_TIMEOUT)?;
    let server_line = |line: &str| line.starts_with("Server:") && line.contains(DNS_SERVER);
    assert!(lookup.lines().any(server_line), "{lookup}");
    assert!(dns_answered(&lookup), "the DNS forwarder did not answer:\n{lookup}");

    qemu.write_console(b"poweroff -f\n")?;
    let status = qemu.wait_exit(COMMAND_TIMEOUT)?;
    assert!(status.success(), "{status}: {}", qemu.console());
    Ok(())
}

#[test]
fn network_lookups_are_read_as_answered_or_not() {
    let answer = "Server:\t\t10.0.2.3\nAddress:\t10.0.2.3:53\n\nNon-authoritative answer:\n\
                  Name:\texample.com\nAddress: 93.184.215.14\n";
    assert!(dns_answered(answer));
    let refusal = "Server:\t\t10.0.2.3\nAddress:\t10.0.2.3:53\n\n\
                   ** server can't find example.com: NXDOMAIN\n";
    assert!(dns_answered(refusal));
    let silence = "Server:\t\t10.0.2.3\nAddress:\t10.0.2.3:53\n\n\
                   ;; connection timed out; no servers could be reached\n";
    assert!(!dns_answered(silence));
}

/// Bytes of the file downloaded across a netvm restart.
const LARGE_FILE_SIZE: usize = 64 << 20;
/// Where the file server holds the download while netvm restarts.
const PAUSE_AT: u64 = 16 << 20;

#[test]
fn a_download_survives_a_netvm_restart() -> Result<(), Error> {
    let file = generated_file(LARGE_FILE_SIZE, 0x5e57_a27e);
    let digest = hexadecimal(&Sha256::digest(&file));
    let server = FileServer::start([("/large", file)]).expect("the file server starts");
    // The server holds the answer after 16 MiB: the download is surely in
    // the middle when netvm goes down, and its connection idle.
    server.pause_after(PAUSE_AT);
    let artifacts = artifacts()?;
    let options = default_system("network-restart");
    let system = boot(&artifacts, &options)?;
    let symbols = system.artifacts.hypervisor_symbols()?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    qemu.wait_for_source("linux", LEASE_LINE, 1, LEASE_TIMEOUT)?;
    run(qemu, "true", COMMAND_TIMEOUT)?;

    // The download runs in the background; once the server holds it, netvm
    // faults.
    let command = format!(
        "(wget -q -O /tmp/large http://{GATEWAY}:{}/large; sha256sum /tmp/large; \
         echo download''-finished) &\n",
        server.port()
    );
    qemu.write_console(command.as_bytes())?;
    let deadline = Instant::now() + TRANSFER_TIMEOUT;
    while server.paused() == 0 {
        assert!(Instant::now() < deadline, "the download never reached the pause");
        std::thread::sleep(Duration::from_millis(50));
    }
    let netvm = boards::qemu_virt::systems::SYSTEM.machine_index("netvm").unwrap();
    let mut gdb = qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    gdb.write_memory(symbols.address("VM_INJECT_FAULT")? + netvm as u64, &[1])?;
    gdb.detach()?;
    qemu.wait_for_console("vm netvm faulted (fault injected by the debugger)", TRANSFER_TIMEOUT)?;
    qemu.wait_for_console("[netvm] started (boot 2)", TRANSFER_TIMEOUT)?;
    server.resume();

    // The transfer resumes through the new netvm and arrives whole.
    let text = qemu.wait_for_source("linux", "download-finished", 1, TRANSFER_TIMEOUT)?;
    let console = qemu.console();
    let restarted = console.find("[netvm] started (boot 2)").expect("waited for it");
    let finished = console.rfind("download-finished").expect("waited for it");
    assert!(restarted < finished, "the download ended before netvm went down");
    assert!(text.contains(&format!("{digest}  /tmp/large")), "{text}");
    assert!(!console.contains("vm linux reset"), "Linux did not reboot");

    qemu.write_console(b"poweroff -f\n")?;
    assert!(qemu.wait_exit(COMMAND_TIMEOUT)?.success());
    Ok(())
}

/// Connections the host opens at once towards Linux in the flood.
const FLOOD_CONNECTIONS: usize = 100;

#[test]
fn a_flood_of_connections_from_the_host_does_not_stop_a_download() -> Result<(), Error> {
    use std::io::Write;
    use std::net::TcpStream;

    let file = generated_file(FILE_SIZE, 0xf100_d000);
    let digest = hexadecimal(&Sha256::digest(&file));
    let server = FileServer::start([("/file", file)]).expect("the file server starts");
    // A host port forwarded to Linux's port 8080 (Linux is the second DHCP
    // client of the user-mode network, after netvm).
    let forwarded = elastos_tests::peer::free_port();
    let artifacts = artifacts()?;
    let options = SystemOptions {
        netdev: Some(format!("user,id=net0,hostfwd=tcp:127.0.0.1:{forwarded}-10.0.2.16:8080")),
        ..default_system("network-flood")
    };
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    qemu.wait_for_source("linux", LEASE_LINE, 1, LEASE_TIMEOUT)?;
    let address = run(qemu, "ip -4 -o addr show dev eth0", COMMAND_TIMEOUT)?;
    assert!(address.contains("inet 10.0.2.16/"), "the forward expects 10.0.2.16: {address}");
    run(qemu, "mkdir -p /tmp/www && echo hello > /tmp/www/index.html", COMMAND_TIMEOUT)?;
    run(qemu, "httpd -p 8080 -h /tmp/www", COMMAND_TIMEOUT)?;

    // The flood: hundreds of connections at once, half of them sending
    // garbage, held open while Linux downloads.
    let flood = std::thread::spawn(move || {
        let mut held = Vec::new();
        for number in 0..FLOOD_CONNECTIONS {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", forwarded)) {
                if number % 2 == 0 {
                    let _ = stream.write_all(&[0xa5; 512]);
                }
                held.push(stream);
            }
        }
        std::thread::sleep(Duration::from_secs(5));
        held.len()
    });
    let download = run(
        qemu,
        &format!(
            "wget -q -O /tmp/file http://{GATEWAY}:{}/file && sha256sum /tmp/file",
            server.port()
        ),
        TRANSFER_TIMEOUT,
    )?;
    assert!(download.contains(&format!("{digest}  /tmp/file")), "{download}");
    let opened = flood.join().expect("the flood thread ends");
    assert!(opened > 0, "the flood reached QEMU's forward");
    // Linux still answers, and netvm never went down.
    assert!(run(qemu, "echo after the flood", COMMAND_TIMEOUT)?.contains("after the flood"));
    let console = qemu.console();
    assert!(!console.contains("vm netvm faulted"), "{console}");
    assert!(!console.contains("vm netvm stopped"), "{console}");
    // netvm's policy turned the excess connection attempts away (it reports
    // its drops on the console every few seconds).
    let netvm = qemu.wait_for_source("netvm", "connection caps ", 1, TRANSFER_TIMEOUT)?;
    let capped = netvm
        .lines()
        .filter_map(|line| after(line, "connection caps "))
        .filter_map(|rest| rest.split(')').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(capped > 0, "no connection was capped:\n{netvm}");
    qemu.write_console(b"poweroff -f\n")?;
    assert!(qemu.wait_exit(COMMAND_TIMEOUT)?.success());
    Ok(())
}
