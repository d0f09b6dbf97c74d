//! The chain VM: it owns the Elastos disk, keeps the installed dapps and
//! their storage in the store on it, serves the `elastos` command in Linux
//! over the `linux-control` channel (virtio-vsock packets, one per record),
//! and decides which dapp runs in which app VM over the `app-N-chainvm`
//! channels. The other channels get the runtime's ping answers.
//!
//! Without a disk it says so and keeps its store in memory: installed dapps
//! then last until chainvm restarts.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

/// chainvm's RAM, as the system manifests give it.
#[cfg(target_os = "none")]
const MEMORY_SIZE: u64 = 32 << 20;

#[cfg(target_os = "none")]
guest_runtime::entry!(main, memory_size = MEMORY_SIZE);

#[cfg(target_os = "none")]
fn main() -> ! {
    // Reset the devices before anything uses RAM: a disk request of
    // chainvm's previous life may still be in flight.
    let devices = guest_devices::virtio::window("chainvm", "storage")
        .map(|window| guest_devices::virtio::probe(guest_devices::virtio::slots(window)));
    guest_runtime::heap::init();
    let mut handler = vm::ChainHandler::start(devices);
    guest_runtime::service::run(&mut handler)
}

/// Host stand-in: chainvm runs only inside an Elastos VM.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "chainvm is an Elastos VM image: build it with --target aarch64-unknown-none-softfloat"
    );
    std::process::exit(2);
}

#[cfg(target_os = "none")]
mod vm {
    extern crate alloc;

    use alloc::string::String;
    use alloc::vec::Vec;
    use chainvm::control::{Node, Service};
    use chainvm::keys::{self, NodeKey, Origin};
    use chainvm::registry::Registry;
    use chainvm::signing::{self, SigningService};
    use chainvm::storage;
    use chainvm::supervisor::{Outbox, StorageRequest, Supervisor};
    use core::time::Duration;
    use elastos_control::{Endpoint, EndpointConfig, Server, ServerConfig, VmState, VmStatus};
    use elastos_package::Capability;
    use elastos_store::{BlockDevice, DeviceError, MemoryDisk, Store};
    use guest_devices::block::Disk;
    use guest_devices::clock::RealTimeClock;
    use guest_devices::entropy::Entropy;
    use guest_devices::virtio::Found;
    use guest_runtime::channel::{Change, Channel, Channels};
    use guest_runtime::identity::{self as network_identity, NoKey};
    use guest_runtime::message::Message;
    use guest_runtime::service::Handler;
    use guest_runtime::supervision::{Record, RunState, StorageOperation, RECORD_MAX};
    use guest_runtime::time::Instant;
    use guest_runtime::{println, warn};
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    /// The channel Linux's vsock device is served on.
    const CONTROL_CHANNEL: &str = "linux-control";
    /// The channel netvm asks for the node's public key and handshake
    /// signatures on.
    const NETVM_CHANNEL: &str = "netvm-chainvm";
    /// Sectors of the store kept in memory when there is no disk (8 MiB).
    const MEMORY_DISK_SECTORS: u64 = 16 * 1024;
    /// The largest package the control service takes (the format's
    /// maximum is 16 MiB; chainvm holds a package twice while installing).
    const MAX_PACKAGE: usize = 8 << 20;
    /// How soon to look again while something waits for room in a ring.
    const RETRY: Duration = Duration::from_millis(2);
    /// The largest vsock packet: header and 4 KiB of payload.
    const PACKET_MAX: usize = 44 + 4096;

    /// The counter when the latest start request arrived from Linux (0:
    /// none since the last first call), for the first call's line.
    static START_REQUESTED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

    /// The vsock endpoint's settings: a receive buffer of one packet's
    /// payload, since Linux sends as much as the credit allows in one
    /// packet and the hypervisor carries at most 4 KiB of payload each.
    fn endpoint_config() -> EndpointConfig {
        EndpointConfig { receive_buffer: 4096, ..EndpointConfig::default() }
    }

    /// The store's device: the virtio disk, or memory. One lives for the
    /// whole of chainvm's life, so the size of the larger does not matter.
    #[allow(clippy::large_enum_variant, reason = "a single value, made once")]
    enum StoreDisk {
        Virtio(Disk),
        Memory(MemoryDisk),
    }

    impl BlockDevice for StoreDisk {
        fn sector_count(&self) -> u64 {
            match self {
                Self::Virtio(disk) => disk.capacity(),
                Self::Memory(disk) => disk.sector_count(),
            }
        }

        fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
            match self {
                Self::Virtio(disk) => disk.read(sector, buffer).map_err(|_| DeviceError::Io),
                Self::Memory(disk) => disk.read(sector, buffer),
            }
        }

        fn write(&mut self, sector: u64, buffer: &[u8]) -> Result<(), DeviceError> {
            match self {
                Self::Virtio(disk) => disk.write(sector, buffer).map_err(|_| DeviceError::Io),
                Self::Memory(disk) => disk.write(sector, buffer),
            }
        }

        fn flush(&mut self) -> Result<(), DeviceError> {
            match self {
                Self::Virtio(disk) => disk.flush().map_err(|_| DeviceError::Io),
                Self::Memory(disk) => disk.flush(),
            }
        }
    }

    /// The records to app VMs, through their channels.
    struct AppChannels<'a> {
        channels: &'a mut Channels,
        /// Channel index of each slot.
        slots: &'a [usize],
        /// Slots whose doorbell must ring.
        rang: u32,
    }

    impl Outbox for AppChannels<'_> {
        fn send(&mut self, slot: usize, record: &[u8]) -> bool {
            let Some(&index) = self.slots.get(slot) else { return false };
            let Some(channel) = self.channels.get_mut(index) else { return false };
            if !channel.is_up() || channel.send(record).is_err() {
                return false;
            }
            self.rang |= 1 << slot;
            true
        }
    }

    impl AppChannels<'_> {
        fn ring(&mut self) {
            for (slot, &index) in self.slots.iter().enumerate() {
                if self.rang & (1 << slot) != 0 {
                    if let Some(channel) = self.channels.get_mut(index) {
                        let _ = channel.notify();
                    }
                }
            }
            self.rang = 0;
        }
    }

    /// chainvm's additions to the serving loop.
    pub struct ChainHandler {
        node: Node<StoreDisk>,
        endpoint: Endpoint,
        server: Server<elastos_control::ConnectionId>,
        /// A packet to Linux that did not fit the ring yet.
        held_packet: Option<Vec<u8>>,
        random: Option<ChaCha20Rng>,
        clock: Option<RealTimeClock>,
        /// Channel index of each app slot, once found.
        slots: Vec<usize>,
        /// Wanted dapps have been started after boot.
        autostarted: bool,
        record: Vec<u8>,
        /// What each slot's run may sign, read once a run.
        signing_contexts: Vec<Option<SigningContext>>,
    }

    /// What a run's manifest says of identity and signing.
    #[derive(Clone)]
    struct SigningContext {
        run: u32,
        dapp: String,
        policy: Option<elastos_package::SignPolicy>,
        publisher: [u8; 32],
        identity: bool,
    }

    impl ChainHandler {
        /// Sets up the disk, the store and the entropy; says what is missing.
        pub fn start(devices: Option<Found>) -> Self {
            let mut found = devices.unwrap_or_default();
            if let Err(error) = guest_devices::hal::init() {
                warn!("devices off: {error}");
                found = Found::default();
            }
            let random = match found.entropy.take().map(|(_, transport)| Entropy::new(transport)) {
                Some(Ok(mut entropy)) => {
                    let mut seed = [0u8; 32];
                    match entropy.fill(&mut seed) {
                        Ok(()) => Some(ChaCha20Rng::from_seed(seed)),
                        Err(error) => {
                            warn!("no entropy: {error}; dapps cannot be started");
                            None
                        }
                    }
                }
                Some(Err(error)) => {
                    warn!("the entropy device failed: {error}; dapps cannot be started");
                    None
                }
                None => {
                    warn!("no entropy device; dapps cannot be started");
                    None
                }
            };
            let clock =
                guest_devices::virtio::window("chainvm", "clock").and_then(RealTimeClock::probe);
            let store = open_store(found.block.take().map(|(_, transport)| transport));
            let mut registry = Registry::new(store);
            let mut random = random;
            let node_key = load_node_key(&mut registry, random.as_mut());
            let identity = node_key.as_ref().map(NodeKey::did).unwrap_or_default();
            if let (signing::BENCHMARK_MODE, Ok(key)) =
                (guest_runtime::parameters::word(0), node_key.as_ref())
            {
                let (ticks, valid) = signing::benchmark_alone(key, guest_runtime::time::counter);
                println!(
                    "benchmark sign-alone signatures={} ticks={ticks} frequency={} valid={valid}",
                    signing::BENCHMARK_SIGNATURES,
                    guest_runtime::time::frequency()
                );
            }
            Self {
                node: Node {
                    registry,
                    supervisor: Supervisor::new(&[]),
                    identity,
                    vms: Vec::new(),
                    signing: SigningService::new(node_key),
                },
                endpoint: Endpoint::new(endpoint_config()),
                server: Server::new(ServerConfig { max_frame: MAX_PACKAGE + 4096 }),
                held_packet: None,
                random,
                clock,
                slots: Vec::new(),
                autostarted: false,
                record: alloc::vec![0u8; RECORD_MAX.max(PACKET_MAX)],
                signing_contexts: Vec::new(),
            }
        }

        fn wall_clock_ns(&self) -> u64 {
            self.clock.map_or(0, |clock| clock.seconds().saturating_mul(1_000_000_000))
        }

        /// Finds the app slots among the channels, the first time.
        fn find_slots(&mut self, channels: &Channels) {
            if !self.slots.is_empty() {
                return;
            }
            let mut found: Vec<(String, usize)> = channels
                .iter()
                .filter_map(|channel| {
                    let vm = channel.name().strip_suffix("-chainvm")?;
                    vm.starts_with("app").then(|| (String::from(vm), channel.index()))
                })
                .collect();
            found.sort();
            let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
            self.node.supervisor = Supervisor::new(&names);
            self.slots = found.iter().map(|(_, index)| *index).collect();
        }

        fn slot_of_channel(&self, index: usize) -> Option<usize> {
            self.slots.iter().position(|&slot| slot == index)
        }

        /// Takes Linux's packets, serves the control protocol and sends the
        /// answers; returns whether packets wait for room.
        fn serve_linux(&mut self, channels: &mut Channels) -> bool {
            let Some(channel) =
                channels.iter_mut().find(|channel| channel.name() == CONTROL_CHANNEL)
            else {
                return false;
            };
            if !channel.is_up() {
                return false;
            }
            let arrived = guest_runtime::time::counter();
            let mut received = false;
            for _ in 0..64 {
                match channel.receive(&mut self.record) {
                    Ok(Some(length)) => {
                        received = true;
                        let _ = self.endpoint.receive(&self.record[..length]);
                    }
                    _ => break,
                }
            }
            let index = channel.index();
            if received {
                // Ring the hypervisor's side so it takes what the ring freed.
                let _ = channel.notify();
            }
            // A start request puts a slot into loading (`Starting`) at once.
            let starting = |supervisor: &Supervisor| {
                let status = supervisor.status();
                status.iter().filter(|vm| matches!(vm.state, VmState::Starting)).count()
            };
            let before = starting(&self.node.supervisor);
            self.serve_control(channels);
            if received && starting(&self.node.supervisor) > before {
                START_REQUESTED.store(arrived, core::sync::atomic::Ordering::Relaxed);
            }
            self.complete_tickets(channels);
            self.transmit(channels, index)
        }

        fn serve_control(&mut self, channels: &mut Channels) {
            let wall_clock_ns = self.wall_clock_ns();
            let random = &mut self.random;
            let mut seed = || {
                let mut seed = [0u8; 32];
                if let Some(random) = random.as_mut() {
                    random.fill_bytes(&mut seed);
                }
                seed
            };
            let mut outbox = AppChannels { channels, slots: &self.slots, rang: 0 };
            let mut service = Service {
                node: &mut self.node,
                outbox: &mut outbox,
                seed: &mut seed,
                wall_clock_ns,
            };
            self.server.poll(&mut self.endpoint, &mut service);
            outbox.ring();
        }

        /// Answers the requests whose runs have started or stopped.
        fn complete_tickets(&mut self, channels: &mut Channels) {
            let completions = self.node.supervisor.take_completions();
            if completions.is_empty() {
                return;
            }
            for (name, ticket, result) in completions {
                let answer = self.node.completion(&name, result);
                self.server.complete(ticket, answer);
            }
            self.serve_control(channels);
        }

        /// Sends the endpoint's packets to Linux; returns whether one waits
        /// for room.
        fn transmit(&mut self, channels: &mut Channels, index: usize) -> bool {
            let Some(channel) = channels.get_mut(index) else { return false };
            let mut sent = false;
            let mut waiting = false;
            loop {
                let packet = match self.held_packet.take() {
                    Some(packet) => packet,
                    None => {
                        let mut buffer = alloc::vec![0u8; PACKET_MAX];
                        match self.endpoint.poll_transmit(&mut buffer) {
                            Some(length) => {
                                buffer.truncate(length);
                                buffer
                            }
                            None => break,
                        }
                    }
                };
                if channel.send(&packet).is_err() {
                    self.held_packet = Some(packet);
                    waiting = true;
                    break;
                }
                sent = true;
            }
            if sent {
                let _ = channel.notify();
            }
            waiting
        }

        /// Takes the app VMs' records and answers their storage requests.
        fn serve_apps(&mut self, channels: &mut Channels) {
            for slot in 0..self.slots.len() {
                let index = self.slots[slot];
                for _ in 0..64 {
                    let Some(channel) = channels.get_mut(index) else { break };
                    if !channel.is_up() {
                        break;
                    }
                    let length = match channel.receive(&mut self.record) {
                        Ok(Some(length)) => length,
                        _ => break,
                    };
                    // The channel benchmark pings chainvm on these channels too.
                    if let Ok(Message::Ping(payload)) = Message::decode(&self.record[..length]) {
                        let mut pong = alloc::vec![0u8; payload.len() + 1];
                        if let Ok(pong_length) = Message::Pong(payload).encode(&mut pong) {
                            if channel.send(&pong[..pong_length]).is_ok() {
                                let _ = channel.notify();
                            }
                        }
                        continue;
                    }
                    let Ok(record) = Record::decode(&self.record[..length]) else {
                        continue;
                    };
                    if let Record::State { run, state: RunState::FirstCall, .. } = record {
                        let requested =
                            START_REQUESTED.swap(0, core::sync::atomic::Ordering::Relaxed);
                        if requested != 0 {
                            println!(
                                "run {run}: first host call start_to_first_call_ticks={} frequency={}",
                                guest_runtime::time::counter().saturating_sub(requested),
                                guest_runtime::time::frequency()
                            );
                        }
                    }
                    let policies = self.node.registry.restart_policies();
                    let request =
                        self.node.supervisor.record(slot, &record, |name| policy(&policies, name));
                    if let Some(request) = request {
                        // A signature waiting for a person is answered later.
                        let Some((status, value)) = self.answer_request(&request) else {
                            continue;
                        };
                        let mut outbox = AppChannels { channels, slots: &self.slots, rang: 0 };
                        self.node.supervisor.answer(&request, status, &value, &mut outbox);
                        outbox.ring();
                    }
                }
            }
        }

        /// Starts the dapps that should run: those running when the machine
        /// stopped (once, at boot) and those waiting for a restart.
        fn start_waiting(&mut self, channels: &mut Channels) {
            let mut names = self.node.supervisor.restarts_pending();
            if !self.autostarted && self.node.supervisor.idle_slot().is_some() {
                self.autostarted = true;
                for name in self.node.registry.names() {
                    if self.node.registry.wanted_running(&name) && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            for name in names {
                if self.node.supervisor.idle_slot().is_none() || self.random.is_none() {
                    break;
                }
                let mut seed = [0u8; 32];
                if let Some(random) = self.random.as_mut() {
                    random.fill_bytes(&mut seed);
                }
                let wall_clock_ns = self.wall_clock_ns();
                let mut outbox = AppChannels { channels, slots: &self.slots, rang: 0 };
                if let Err(error) =
                    self.node.start_dapp(&name, None, &mut outbox, seed, wall_clock_ns)
                {
                    warn!("could not start {name}: {error}");
                }
                outbox.ring();
            }
        }

        fn update_vm_states(&mut self, channels: &Channels) {
            let netvm_up =
                channels.iter().any(|channel| channel.name() == "netvm-chainvm" && channel.is_up());
            let linux_up =
                channels.iter().any(|channel| channel.name() == CONTROL_CHANNEL && channel.is_up());
            let state = |up: bool| if up { VmState::Running } else { VmState::Stopped };
            self.node.vms = alloc::vec![
                VmStatus {
                    name: "linux".into(),
                    state: state(linux_up),
                    slot: None,
                    dapp: None,
                    restarts: 0
                },
                VmStatus {
                    name: "netvm".into(),
                    state: state(netvm_up),
                    slot: None,
                    dapp: None,
                    restarts: 0
                },
                VmStatus {
                    name: "chainvm".into(),
                    state: VmState::Running,
                    slot: None,
                    dapp: None,
                    restarts: 0
                },
            ];
        }
    }

    impl ChainHandler {
        /// The answer to an app VM's request: storage, the node's DID, or a
        /// signature (`None` while it waits for a person's approval).
        fn answer_request(&mut self, request: &StorageRequest) -> Option<(i32, Vec<u8>)> {
            if !matches!(request.operation, StorageOperation::Identity | StorageOperation::Sign) {
                return Some(storage::answer(&mut self.node.registry, request));
            }
            let context = self.signing_context(request);
            if request.operation == StorageOperation::Identity {
                return Some(if context.identity {
                    self.node.signing.identity()
                } else {
                    (elastos_host_api::Status::Denied.code(), Vec::new())
                });
            }
            let wall_seconds = self.wall_clock_ns() / 1_000_000_000;
            self.node.signing.request(
                request.clone(),
                context.policy.as_ref(),
                context.publisher,
                monotonic_ns(),
                wall_seconds,
            )
        }

        /// What the manifest of `request`'s dapp says of identity and
        /// signing, read from the registry once a run: a run keeps the policy
        /// it started with.
        fn signing_context(&mut self, request: &StorageRequest) -> SigningContext {
            if self.signing_contexts.len() < self.slots.len() {
                self.signing_contexts.resize(self.slots.len(), None);
            }
            let cached = self.signing_contexts.get(request.slot).and_then(Option::as_ref);
            if let Some(context) =
                cached.filter(|context| context.run == request.run && context.dapp == request.dapp)
            {
                return context.clone();
            }
            let manifest = self.node.registry.manifest(&request.dapp).ok().flatten();
            let context = SigningContext {
                run: request.run,
                dapp: request.dapp.clone(),
                // The policy is there exactly when the manifest grants `sign`.
                policy: manifest.as_ref().and_then(|manifest| manifest.sign.clone()),
                publisher: manifest
                    .as_ref()
                    .map_or([0; 32], |manifest| *manifest.publisher.as_bytes()),
                identity: manifest
                    .as_ref()
                    .is_some_and(|manifest| manifest.capabilities.contains(Capability::Identity)),
            };
            if let Some(slot) = self.signing_contexts.get_mut(request.slot) {
                *slot = Some(context.clone());
            }
            context
        }

        /// Refuses the signatures nobody approved in time.
        fn expire_signatures(&mut self, channels: &mut Channels) {
            let wall_seconds = self.wall_clock_ns() / 1_000_000_000;
            let now = monotonic_ns();
            let expired = self.node.signing.expire(now, wall_seconds);
            if let Err(error) =
                self.node.signing.flush_audit(self.node.registry.store(), now, false)
            {
                warn!("the audit log could not be written: {error}");
            }
            let mut outbox = AppChannels { channels, slots: &self.slots, rang: 0 };
            for (request, status, value) in expired {
                self.node.supervisor.answer(&request, status, &value, &mut outbox);
            }
            outbox.ring();
        }

        /// Answers netvm's identity requests, and its pings, on its channel.
        fn serve_netvm(&mut self, channels: &mut Channels) {
            let Some(channel) = channels.iter_mut().find(|channel| channel.name() == NETVM_CHANNEL)
            else {
                return;
            };
            if !channel.is_up() {
                return;
            }
            let mut answered = false;
            for _ in 0..64 {
                let length = match channel.receive(&mut self.record) {
                    Ok(Some(length)) => length,
                    _ => break,
                };
                let received = &self.record[..length];
                let mut answer = alloc::vec![0u8; length.max(network_identity::RECORD_MAX) + 1];
                let answer_length = if let Ok(Message::Ping(payload)) = Message::decode(received) {
                    Message::Pong(payload).encode(&mut answer).ok()
                } else if let Ok(record) = network_identity::Record::decode(received) {
                    keys::answer_netvm(self.node.signing.node_key(), &record)
                        .and_then(|reply| reply.encode(&mut answer).ok())
                } else {
                    None
                };
                if let Some(answer_length) = answer_length {
                    // A full ring drops the answer: netvm asks again.
                    answered |= channel.send(&answer[..answer_length]).is_ok();
                }
            }
            if answered {
                let _ = channel.notify();
            }
        }
    }

    /// Monotonic time in nanoseconds.
    fn monotonic_ns() -> u64 {
        let ticks = guest_runtime::time::counter();
        guest_runtime::time::duration_from_ticks(ticks, guest_runtime::time::frequency()).as_nanos()
            as u64
    }

    /// The node's key from the store, made from `random` on the first start.
    /// A damaged key file is reported and leaves the node without identity.
    fn load_node_key(
        registry: &mut Registry<StoreDisk>,
        random: Option<&mut ChaCha20Rng>,
    ) -> Result<NodeKey, NoKey> {
        let fresh = || {
            random.map(|random| {
                let mut secret = [0u8; 32];
                random.fill_bytes(&mut secret);
                secret
            })
        };
        match NodeKey::load_or_create(registry.store(), fresh) {
            Ok(Some((key, origin))) => {
                let origin = match origin {
                    Origin::Loaded => "loaded from the store",
                    Origin::Created => "made on this first start and kept in the store",
                };
                println!("identity: {} ({origin})", key.did());
                Ok(key)
            }
            Ok(None) => {
                warn!("identity: no entropy to make the node key: the node has no identity");
                Err(NoKey::NoEntropy)
            }
            Err(error @ keys::KeyError::Damaged(_)) => {
                warn!("identity: {error}");
                Err(NoKey::Damaged)
            }
            Err(error) => {
                warn!("identity: {error}");
                Err(NoKey::StoreFailed)
            }
        }
    }

    /// The restart policy of `name` among `policies`.
    fn policy(
        policies: &[(String, elastos_package::RestartPolicy)],
        name: &str,
    ) -> Option<elastos_package::RestartPolicy> {
        policies.iter().find(|(candidate, _)| candidate == name).map(|(_, policy)| *policy)
    }

    /// Opens the store on the disk, formatting a blank one; falls back to
    /// memory without a disk. A damaged store is reported and not formatted.
    fn open_store(transport: Option<guest_devices::virtio::Transport>) -> Store<StoreDisk> {
        let memory = || {
            Store::format(StoreDisk::Memory(MemoryDisk::new(MEMORY_DISK_SECTORS)))
                .expect("a blank memory disk formats")
        };
        let Some(transport) = transport else {
            warn!("no disk: installed dapps last until chainvm restarts");
            return memory();
        };
        let disk = match Disk::new(transport) {
            Ok(disk) => disk,
            Err(error) => {
                warn!("the disk cannot be used ({error}): installed dapps last until chainvm restarts");
                return memory();
            }
        };
        let sectors = disk.capacity();
        let mut disk = StoreDisk::Virtio(disk);
        match Store::open(&mut disk) {
            Ok(_) => {}
            Err(elastos_store::Error::Blank) => {
                println!("a blank disk of {} MiB: formatting the Elastos store", sectors >> 11);
                if let Err(error) = Store::format(&mut disk) {
                    warn!("the disk cannot be formatted ({error}): the store is in memory");
                    return memory();
                }
            }
            Err(error) => {
                warn!("the Elastos disk is not usable: {error}; it is left untouched and the store is in memory");
                return memory();
            }
        }
        match Store::open(disk) {
            Ok(store) => {
                let health = store.health();
                if !health.is_clean() {
                    warn!("the Elastos store was repaired: {health:?}");
                }
                store
            }
            Err(error) => {
                warn!("the Elastos disk is not usable: {error}; the store is in memory");
                memory()
            }
        }
    }

    impl Handler for ChainHandler {
        fn claims(&self, channel: &Channel) -> bool {
            channel.name() == CONTROL_CHANNEL
                || channel.name() == NETVM_CHANNEL
                || channel.name().ends_with("-chainvm") && channel.name().starts_with("app")
        }

        fn channel_changed(&mut self, channel: &Channel, change: Change) {
            if channel.name() == CONTROL_CHANNEL {
                // Linux's transport was reset: its connections are gone.
                self.endpoint = Endpoint::new(endpoint_config());
                self.server = Server::new(ServerConfig { max_frame: MAX_PACKAGE + 4096 });
                self.held_packet = None;
                return;
            }
            let _ = change;
            // Down or up again with a new epoch: whatever the app VM ran is
            // over; it says `idle` when it is ready again.
            if let Some(slot) = self.slot_of_channel(channel.index()) {
                let policies = self.node.registry.restart_policies();
                self.node.supervisor.channel_down(slot, |name| policy(&policies, name));
                self.node.signing.forget_slot(slot);
            }
        }

        fn tick(&mut self, channels: &mut Channels, now: Instant) -> Option<Instant> {
            self.find_slots(channels);
            self.update_vm_states(channels);
            self.serve_netvm(channels);
            self.serve_apps(channels);
            self.expire_signatures(channels);
            self.start_waiting(channels);
            let mut outbox = AppChannels { channels, slots: &self.slots, rang: 0 };
            self.node.supervisor.pump(&mut outbox);
            outbox.ring();
            let waiting = self.serve_linux(channels);
            for notice in self.node.supervisor.take_notices() {
                warn!("{notice}");
            }
            (waiting || self.node.supervisor.is_loading()).then(|| now + RETRY)
        }
    }
}
