//! The network VM: it boots on the guest runtime, sets up its NIC and the
//! TCP/IP stack on it (DHCP, answers to ping, a check that the gateway
//! answers), bridges Linux's `linux-net` channel to the NIC under the
//! traffic policy, and serves its other inter-VM channels, answering every
//! ping with a pong, in one loop that also wakes for the NIC's interrupt.
//! On the stack runs the libp2p node ([`netvm::node`]), which carries the
//! app VMs' messages to and from peers.
//!
//! Without a working NIC (no device, no entropy for the stack's seed) it
//! says why, drops Linux's frames and goes on serving its channels.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

/// netvm's RAM: 32 MiB, as the system manifests give it.
#[cfg(target_os = "none")]
const MEMORY_SIZE: u64 = 32 << 20;

#[cfg(target_os = "none")]
guest_runtime::entry!(main, memory_size = MEMORY_SIZE);

#[cfg(target_os = "none")]
use guest_devices::virtio;

#[cfg(target_os = "none")]
fn main() -> ! {
    // First of all, stop the devices: one left running by netvm's previous
    // life may still write where that life's buffers were, the heap among
    // them.
    let devices = virtio::window("netvm", "nic").map(|window| virtio::probe(virtio::slots(window)));
    guest_runtime::heap::init();
    netvm::logger::init();
    let mut handler = network::NetworkHandler::default();
    if let Err(error) = handler.start(devices) {
        guest_runtime::warn!("network off: {error}");
    }
    guest_runtime::service::run(&mut handler)
}

/// The NIC, the stack and the bridge to Linux, served from the runtime's
/// loop.
#[cfg(target_os = "none")]
mod network {
    use core::fmt;
    use core::time::Duration;
    use guest_devices::entropy::{self, Entropy, EntropyError};
    use guest_devices::hal::{self, DmaHal, HalError};
    use guest_devices::virtio::{Found, Slot, Transport};
    use guest_runtime::channel::{Change, Channel, Channels};
    use guest_runtime::service::Handler;
    use guest_runtime::time::{self, Instant};
    use guest_runtime::{println, warn};
    use netvm::bridge::{self, Bridge, LinuxPort};
    use netvm::local::LocalPort;
    use netvm::nic::Nic;
    use netvm::node::Node;
    use netvm::settings::Settings;
    use netvm::stack::{Event, Network, StackError};
    use netvm::{clock, config};

    /// The shortest time between two console lines about dropped frames.
    const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

    /// Why the network could not start.
    #[derive(Debug)]
    pub enum SetupError {
        /// netvm's RAM could not be described for DMA.
        Memory(HalError),
        /// The manifest gives netvm no device window.
        NoWindow,
        /// No virtio entropy device, so no random seed for the stack.
        NoEntropyDevice,
        /// The entropy device failed.
        Entropy(EntropyError),
        /// No virtio network device.
        NoNetworkDevice,
        /// The network device could not be set up.
        NetworkDevice(virtio_drivers::Error),
        /// The stack could not be set up.
        Stack(StackError),
    }

    impl fmt::Display for SetupError {
        fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            match self {
                Self::Memory(error) => write!(formatter, "{error}"),
                Self::NoWindow => write!(formatter, "the manifest gives netvm no `nic` window"),
                Self::NoEntropyDevice => write!(formatter, "no virtio entropy device for a seed"),
                Self::Entropy(error) => write!(formatter, "{error}"),
                Self::NoNetworkDevice => write!(formatter, "no virtio network device"),
                Self::NetworkDevice(error) => write!(formatter, "virtio-net: {error}"),
                Self::Stack(error) => write!(formatter, "{error}"),
            }
        }
    }

    /// The card, the stack on the bridge's local port, the bridge, and the
    /// libp2p node on the stack.
    struct Running {
        nic: Nic<DmaHal, Transport>,
        network: Network<LocalPort>,
        bridge: Bridge,
        node: Node,
    }

    /// Serves the NIC and Linux's channel from the runtime's loop.
    #[derive(Default)]
    pub struct NetworkHandler {
        running: Option<Running>,
        /// Kept for the parts of netvm that will need random bytes.
        entropy: Option<Entropy>,
        /// The interrupts of the devices in use.
        interrupts: [u32; 2],
        /// How many of `interrupts` are set.
        interrupt_count: usize,
        /// Linux's MAC address, as last printed.
        announced: Option<[u8; 6]>,
        /// Frames dropped on the way to Linux, as last printed.
        drops_reported: u64,
        /// When dropped frames may be reported next.
        next_drop_report: Option<Instant>,
        /// Frames from Linux dropped because the network is off.
        discarded: u64,
    }

    impl NetworkHandler {
        /// Starts the devices `probe` found (`None`: no window to probe),
        /// the stack on them and the bridge.
        pub fn start(&mut self, devices: Option<Found>) -> Result<(), SetupError> {
            let memory = hal::init().map_err(SetupError::Memory)?;
            println!(
                "dma: RAM at guest-physical {:#x} is physical {:#x} ({} MiB)",
                memory.guest_base().as_u64(),
                memory.physical_base().as_u64(),
                memory.size() >> 20
            );
            let found = devices.ok_or(SetupError::NoWindow)?;
            let (slot, transport) = found.entropy.ok_or(SetupError::NoEntropyDevice)?;
            println!("entropy: virtio-rng in {}", Described(slot));
            self.add_interrupt(slot.interrupt);
            let entropy =
                self.entropy.insert(Entropy::new(transport).map_err(SetupError::Entropy)?);
            let seed = entropy::random_u64(entropy).map_err(SetupError::Entropy)?;
            let node = start_node(entropy).map_err(SetupError::Entropy)?;
            let (slot, transport) = found.network.ok_or(SetupError::NoNetworkDevice)?;
            let nic = Nic::new(transport).map_err(SetupError::NetworkDevice)?;
            let mac = nic.mac_address();
            println!("nic: virtio-net in {}, MAC {}", Described(slot), Mac(mac));
            self.add_interrupt(slot.interrupt);
            let now = clock::network_time(Instant::now(), time::frequency());
            let network = Network::new(LocalPort::new(), mac, config::ADDRESSING, seed, now)
                .map_err(SetupError::Stack)?;
            if config::ADDRESSING == config::Addressing::Dhcp {
                println!("network: asking DHCP for an address");
            }
            self.running = Some(Running { nic, network, bridge: Bridge::new(mac), node });
            Ok(())
        }

        fn add_interrupt(&mut self, intid: u32) {
            if let Some(slot) = self.interrupts.get_mut(self.interrupt_count) {
                *slot = intid;
                self.interrupt_count += 1;
            }
        }

        /// Tells the console what the bridge learned, and now and then what
        /// it dropped.
        fn report_bridge(&mut self, now: Instant) {
            let Some(running) = self.running.as_ref() else { return };
            let bridge = &running.bridge;
            if let Some(mac) = bridge.linux_mac() {
                if self.announced != Some(mac) {
                    self.announced = Some(mac);
                    println!(
                        "{}: Linux is {}, bridged to the NIC",
                        bridge::LINUX_CHANNEL,
                        Mac(mac)
                    );
                }
            }
            let counters = bridge.counters();
            let policy = bridge.policy_counters();
            let dropped = counters.dropped_for_linux() + policy.dropped();
            if dropped == self.drops_reported
                || self.next_drop_report.is_some_and(|next| now < next)
            {
                return;
            }
            self.drops_reported = dropped;
            self.next_drop_report = Some(now + DROP_REPORT_INTERVAL);
            println!(
                "{}: {dropped} frames for Linux dropped so far (ring full {}, channel unusable {}, \
                 rate limit {}, connection caps {}), {} delivered",
                bridge::LINUX_CHANNEL,
                counters.linux_full,
                counters.linux_unavailable,
                policy.rate_limited,
                policy.too_many_connections + policy.too_many_connections_from_source,
                counters.to_linux,
            );
        }

        /// Takes Linux's frames and drops them: there is no network to send
        /// them to.
        fn discard(&mut self, linux: &mut Channel) {
            let mut buffer = [0u8; bridge::MAXIMUM_FRAME];
            let mut taken = 0;
            while let Ok(Some(_)) = LinuxPort::receive(linux, &mut buffer) {
                taken += 1;
                if taken == bridge::BATCH {
                    break;
                }
            }
            if taken > 0 {
                if self.discarded == 0 {
                    warn!("{}: no network; Linux's frames are dropped", bridge::LINUX_CHANNEL);
                }
                self.discarded += taken as u64;
                LinuxPort::notify(linux);
            }
        }
    }

    impl Handler for NetworkHandler {
        fn claims(&self, channel: &Channel) -> bool {
            channel.name() == bridge::LINUX_CHANNEL
                || channel.name() == netvm::identity::CHAINVM_CHANNEL
        }

        fn record_received(&mut self, channel: &mut Channel, record: &[u8]) -> bool {
            let Some(running) = self.running.as_mut() else { return false };
            let now = clock::network_time(Instant::now(), time::frequency()).total_micros() as u64;
            let taken = running.node.record_from_app(channel, record, now);
            print_reports(&mut running.node);
            taken
        }

        fn channel_changed(&mut self, channel: &Channel, change: Change) {
            if channel.name() != bridge::LINUX_CHANNEL || matches!(change, Change::Up { .. }) {
                return;
            }
            // Linux stopped: whoever comes back teaches the bridge anew.
            if let Some(running) = self.running.as_mut() {
                running.bridge.linux_down();
            }
            self.announced = None;
        }

        fn tick(&mut self, channels: &mut Channels, now: Instant) -> Option<Instant> {
            let linux = channels
                .iter_mut()
                .find(|channel| channel.name() == bridge::LINUX_CHANNEL)
                .filter(|channel| channel.is_up() && !channel.is_ignored());
            let Some(Running { nic, network, bridge, node }) = self.running.as_mut() else {
                if let Some(linux) = linux {
                    self.discard(linux);
                }
                return None;
            };
            // Acknowledge the card's interrupt before taking what it has: a
            // frame arriving after the queues were drained raises a new one,
            // where acknowledging afterwards could lose it until the next
            // deadline.
            nic.acknowledge_interrupt();
            let frequency = time::frequency();
            let network_now = clock::network_time(now, frequency);
            // Frames from Linux and the wire first, then what the stack
            // makes of those meant for it, then what it sent.
            let mut more_waiting = bridge.pump(network_now, nic, linux, network.device_mut());
            let mut next = network.poll(network_now, report);
            let microseconds = network_now.total_micros() as u64;
            let node_next = node.poll(network, channels, microseconds);
            print_reports(node);
            if let Some(node_next) = node_next {
                let node_next = smoltcp::time::Instant::from_micros(node_next as i64);
                next = Some(next.map_or(node_next, |next| next.min(node_next)));
            }
            // Send what the node wrote.
            let stack_next = network.poll(network_now, report);
            if let Some(stack_next) = stack_next {
                next = Some(next.map_or(stack_next, |next| next.min(stack_next)));
            }
            // The node may have used the channels: find Linux's again.
            let linux = channels
                .iter_mut()
                .find(|channel| channel.name() == bridge::LINUX_CHANNEL)
                .filter(|channel| channel.is_up() && !channel.is_ignored());
            more_waiting |= bridge.pump(network_now, nic, linux, network.device_mut());
            more_waiting |= !network.device_mut().inbound.is_empty();
            self.report_bridge(now);
            if more_waiting {
                return Some(now);
            }
            Some(clock::counter_deadline(now, network_now, next?, frequency))
        }

        fn device_interrupts(&self) -> &[u32] {
            &self.interrupts[..self.interrupt_count]
        }
    }

    /// Reads the settings from the parameter page and makes the node, with
    /// its identity and handshake randomness from `entropy`.
    fn start_node(entropy: &mut Entropy) -> Result<Node, EntropyError> {
        // The text ends before the host's flags word, the page's last.
        let mut page = [0u8; guest_runtime::parameters::OWN_SIZE];
        for (index, chunk) in page.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&guest_runtime::parameters::word(index).to_le_bytes());
        }
        let (settings, errors) = Settings::parse(&page);
        for error in errors {
            warn!("p2p: {error}, skipped");
        }
        let mut seed = [0u8; 64];
        entropy.fill(&mut seed)?;
        let node = Node::new(settings, seed);
        // The PeerId comes from chainvm, which holds the key: the node
        // says who it is and where it listens when chainvm answers.
        Ok(node)
    }

    /// Prints the node's console lines.
    fn print_reports(node: &mut Node) {
        for line in node.take_reports() {
            println!("{line}");
        }
    }

    /// Prints what the stack tells.
    fn report(event: Event) {
        match event {
            Event::Configured(lease) => println!("{lease}"),
            Event::Deconfigured => warn!("address lost: the DHCP lease ended"),
            Event::Gateway(outcome) => println!("{outcome}"),
        }
    }

    /// A slot, as the console shows it.
    struct Described(Slot);

    impl fmt::Display for Described {
        fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            let Slot { number, base, interrupt } = self.0;
            write!(formatter, "slot {number} ({base:#x}, INTID {interrupt})")
        }
    }

    /// A MAC address, as the console shows it.
    struct Mac([u8; 6]);

    impl fmt::Display for Mac {
        fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            let [a, b, c, d, e, f] = self.0;
            write!(formatter, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
        }
    }
}

/// Host stand-in: netvm runs only inside an Elastos VM.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "netvm is an Elastos VM image: build it with --target aarch64-unknown-none-softfloat"
    );
    std::process::exit(2);
}
