//! The checks of a manifest against its board, and the placement of memory.
//!
//! Checking goes in two rounds. The first reads every table and reports all
//! it finds wrong with names, kinds, CPUs, sizes, devices, interrupts and
//! channels. Only a manifest that passes it is placed: VMs with a
//! `physical_base` first, the others first-fit from the lowest free address,
//! then the channel regions from the top of what is left.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use crate::board::{Board, Region};
use crate::error::{Diagnostic, Diagnostics, Position, Problem, Subject};
use crate::model::{
    align_up, channel_region_size, Channel, ChannelEnd, CheckedSystem, Device, Direction,
    LinuxDevice, Machine, MachineKind, P2pSettings, RestartPolicy, CHANNEL_NAME_MAX,
    CHANNEL_WINDOW_ALIGNMENT, CHANNEL_WINDOW_BASE, GUEST_MEMORY_BASE, MAX_CHANNELS_PER_MACHINE,
    MAX_MACHINES, MAX_VCPUS_PER_CPU, MEMORY_ALIGNMENT, PAGE_SIZE, RING_SIZE_MAX, RING_SIZE_MIN,
};
use crate::multiaddr::check_bootstrap_address;
use crate::raw::{ChannelTable, DeviceTable, MachineTable, Manifest, Size};

/// Checks the manifest `text`, read from `path`, against `board`, and places
/// its memory. `path` names the file in messages, and its stem names the
/// system. Every problem found is returned, ordered by position.
pub fn check(path: &Path, text: &str, board: &Board) -> Result<CheckedSystem, Diagnostics> {
    let mut checker = Checker { path: path.display().to_string(), text, found: Vec::new() };
    let manifest: Manifest = match toml::from_str(text) {
        Ok(manifest) => manifest,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            checker.report(span, Subject::System, Problem::Syntax(error.message().trim().into()));
            return Err(checker.finish());
        }
    };
    let name = checker.system_name(path);
    let mut machines = checker.machines(&manifest.machines, board);
    let channels = checker.channels(&manifest.channels, &machines);
    if !checker.found.is_empty() {
        return Err(checker.finish());
    }
    checker.assign_channel_windows(&mut machines, &channels);
    let free = checker.place_machines(&mut machines, board);
    let channels = checker.place_channels(channels, free);
    if !checker.found.is_empty() {
        return Err(checker.finish());
    }
    Ok(CheckedSystem {
        name,
        description: manifest.system.description,
        source: checker.path,
        machines: machines.into_iter().map(|draft| draft.machine).collect(),
        channels: channels.into_iter().map(|draft| draft.channel).collect(),
    })
}

/// Whether `name` is non-empty and only has lowercase ASCII letters, digits
/// and '-'.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// A VM between the checks and the placement.
struct MachineDraft {
    /// The VM, its memory not yet placed (only its size is set).
    machine: Machine,
    /// Where its memory size is.
    memory_span: Range<usize>,
    /// Its `physical_base` and where that is.
    physical_base: Option<(u64, Range<usize>)>,
    /// Where each device's `mmio` is.
    mmio_spans: Vec<Range<usize>>,
}

/// A channel between the checks and the placement.
struct ChannelDraft {
    /// The channel, its memory not yet placed (only its size is set).
    channel: Channel,
    /// Where the manifest names it.
    name_span: Range<usize>,
}

/// The names used so far for one sort of item, with the line of each.
#[derive(Default)]
struct Names(HashMap<String, usize>);

/// Collects the problems of one manifest.
struct Checker<'a> {
    /// The manifest's path, for messages.
    path: String,
    /// Its text, to turn spans into positions.
    text: &'a str,
    /// The problems found so far.
    found: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Records a problem at the start of `span`.
    fn report(&mut self, span: Range<usize>, subject: Subject, problem: Problem) {
        self.found.push(Diagnostic {
            path: self.path.clone(),
            position: Position::of(self.text, span.start),
            subject,
            problem,
        });
    }

    /// Every problem found, ordered by position.
    fn finish(&mut self) -> Diagnostics {
        let mut found = std::mem::take(&mut self.found);
        found.sort_by_key(|diagnostic| (diagnostic.position.line, diagnostic.position.column));
        Diagnostics(found)
    }

    /// The system's name: the stem of the manifest's file name.
    fn system_name(&mut self, path: &Path) -> String {
        let stem = path.file_stem().map(|stem| stem.to_string_lossy().into_owned());
        let stem = stem.unwrap_or_default();
        if !is_valid_name(&stem) || !stem.starts_with(|first: char| first.is_ascii_lowercase()) {
            self.report(0..0, Subject::System, Problem::MalformedSystemName(stem.clone()));
        }
        stem
    }

    /// Checks the format of `name` and that `names` does not have it yet.
    fn name(&mut self, name: &Spanned<String>, subject: &Subject, names: &mut Names) {
        if !is_valid_name(name.get_ref()) {
            self.report(
                name.span(),
                subject.clone(),
                Problem::MalformedName(name.get_ref().clone()),
            );
        }
        let line = Position::of(self.text, name.span().start).line;
        if let Some(&first_line) = names.0.get(name.get_ref()) {
            let problem = Problem::DuplicateName { name: name.get_ref().clone(), first_line };
            self.report(name.span(), subject.clone(), problem);
        } else {
            names.0.insert(name.get_ref().clone(), line);
        }
    }

    /// The number of bytes `size` stands for, or `None` after reporting it.
    fn size(&mut self, size: &Spanned<Size>, subject: &Subject) -> Option<u64> {
        let bytes = size.get_ref().bytes();
        if bytes.is_none() {
            self.report(size.span(), subject.clone(), Problem::InvalidSize(size.get_ref().text()));
        }
        bytes
    }

    /// Checks every `[[vm]]` table on its own and against the others.
    fn machines(&mut self, tables: &[MachineTable], board: &Board) -> Vec<MachineDraft> {
        let mut names = Names::default();
        let mut vcpus_per_cpu = vec![0usize; board.cpu_count];
        let mut primary: Option<String> = None;
        let mut devices = DeviceOwners::default();
        let mut drafts = Vec::new();
        for (index, table) in tables.iter().enumerate() {
            let subject = Subject::Machine(table.name.get_ref().clone());
            if index == MAX_MACHINES {
                let problem = Problem::TooManyMachines { max: MAX_MACHINES };
                self.report(table.name.span(), subject.clone(), problem);
            }
            self.name(&table.name, &subject, &mut names);
            let kind = MachineKind::from_name(table.kind.get_ref());
            if kind.is_none() {
                let problem = Problem::UnknownKind(table.kind.get_ref().clone());
                self.report(table.kind.span(), subject.clone(), problem);
            }
            let image = match &table.image {
                Some(image) => {
                    if !is_valid_name(image.get_ref()) {
                        let problem = Problem::MalformedName(image.get_ref().clone());
                        self.report(image.span(), subject.clone(), problem);
                    }
                    image.get_ref().clone()
                }
                None => kind.map_or("", MachineKind::default_image).to_owned(),
            };
            let memory_size = self.memory_size(table, &subject);
            let physical_base = table.physical_base.as_ref().map(|base| {
                if !base.get_ref().is_multiple_of(MEMORY_ALIGNMENT) {
                    let problem = Problem::PhysicalBaseNotAligned(*base.get_ref());
                    self.report(base.span(), subject.clone(), problem);
                }
                (*base.get_ref(), base.span())
            });
            let cpus = self.cpus(table, &subject, board, &mut vcpus_per_cpu);
            let is_primary = table.primary.as_ref().is_some_and(|primary| *primary.get_ref());
            if let (true, Some(first), Some(flag)) = (is_primary, &primary, &table.primary) {
                self.report(flag.span(), subject.clone(), Problem::SecondPrimary(first.clone()));
            } else if is_primary {
                primary = Some(table.name.get_ref().clone());
            }
            let restart = self.restart(table, &subject);
            let mut device_names = Names::default();
            let mut machine_devices = Vec::new();
            let mut mmio_spans = Vec::new();
            for device in &table.devices {
                let machine = table.name.get_ref();
                let checked = self.device(machine, device, &mut device_names, board, &mut devices);
                machine_devices.push(checked);
                mmio_spans.push(device.mmio.span());
            }
            let p2p = self.p2p(table, kind, &subject);
            drafts.push(MachineDraft {
                machine: Machine {
                    name: table.name.get_ref().clone(),
                    kind: kind.unwrap_or(MachineKind::Test),
                    image,
                    cpus,
                    memory: Region { base: 0, size: memory_size },
                    guest_memory_base: GUEST_MEMORY_BASE,
                    primary: is_primary,
                    restart,
                    devices: machine_devices,
                    channels: Vec::new(),
                    p2p,
                },
                memory_span: table.memory.span(),
                physical_base,
                mmio_spans,
            });
        }
        drafts
    }

    /// The VM's memory size, checked to be a positive multiple of 2 MiB.
    fn memory_size(&mut self, table: &MachineTable, subject: &Subject) -> u64 {
        let Some(size) = self.size(&table.memory, subject) else { return 0 };
        if size == 0 {
            self.report(table.memory.span(), subject.clone(), Problem::MemoryZero);
        } else if !size.is_multiple_of(MEMORY_ALIGNMENT) {
            self.report(table.memory.span(), subject.clone(), Problem::MemoryNotAligned(size));
        }
        size
    }

    /// The VM's CPUs, each checked to be on the board, listed once, and not
    /// given too many vCPUs over all VMs.
    fn cpus(
        &mut self,
        table: &MachineTable,
        subject: &Subject,
        board: &Board,
        vcpus_per_cpu: &mut [usize],
    ) -> Vec<usize> {
        if table.cpus.get_ref().is_empty() {
            self.report(table.cpus.span(), subject.clone(), Problem::NoCpus);
        }
        let mut cpus = Vec::new();
        for cpu in table.cpus.get_ref() {
            let number = *cpu.get_ref();
            let on_board = usize::try_from(number).ok().filter(|&index| index < board.cpu_count);
            let Some(index) = on_board else {
                let last = board.cpu_count.saturating_sub(1);
                self.report(
                    cpu.span(),
                    subject.clone(),
                    Problem::CpuNotOnBoard { cpu: number, last },
                );
                continue;
            };
            if cpus.contains(&index) {
                self.report(cpu.span(), subject.clone(), Problem::CpuListedTwice(number));
                continue;
            }
            cpus.push(index);
            vcpus_per_cpu[index] += 1;
            if vcpus_per_cpu[index] == MAX_VCPUS_PER_CPU + 1 {
                let problem = Problem::TooManyVcpus { cpu: number, max: MAX_VCPUS_PER_CPU };
                self.report(cpu.span(), subject.clone(), problem);
            }
        }
        cpus
    }

    /// The VM's restart policy.
    fn restart(&mut self, table: &MachineTable, subject: &Subject) -> RestartPolicy {
        let policy = table.restart.as_ref().map_or("stop", |restart| restart.get_ref().as_str());
        match policy {
            "stop" => {
                if let Some(limit) = &table.restart_limit {
                    let problem = Problem::RestartLimitWithoutRestart;
                    self.report(limit.span(), subject.clone(), problem);
                }
                RestartPolicy::Stop
            }
            "restart" => RestartPolicy::Restart {
                limit: table.restart_limit.as_ref().map_or(u32::MAX, |limit| *limit.get_ref()),
            },
            unknown => {
                if let Some(restart) = &table.restart {
                    let problem = Problem::UnknownRestart(unknown.to_owned());
                    self.report(restart.span(), subject.clone(), problem);
                }
                RestartPolicy::Stop
            }
        }
    }

    /// The VM's libp2p settings: its `[vm.p2p]` table, checked, or the
    /// defaults for a netvm without one; `None` for the other kinds.
    fn p2p(
        &mut self,
        table: &MachineTable,
        kind: Option<MachineKind>,
        subject: &Subject,
    ) -> Option<P2pSettings> {
        let is_netvm = kind == Some(MachineKind::NetVm);
        let Some(p2p) = &table.p2p else {
            return is_netvm.then(P2pSettings::default);
        };
        // An unknown kind has been reported already.
        if let Some(kind) = kind.filter(|_| !is_netvm) {
            let problem = Problem::P2pNotNetVm(kind.name().to_owned());
            self.report(p2p.span(), subject.clone(), problem);
        }
        let mut settings = P2pSettings::default();
        if let Some(port) = &p2p.get_ref().listen_port {
            match u16::try_from(*port.get_ref()) {
                Ok(number) if number != 0 => settings.listen_port = number,
                _ => {
                    let problem = Problem::ListenPortOutOfRange(*port.get_ref());
                    self.report(port.span(), subject.clone(), problem);
                }
            }
        }
        for address in &p2p.get_ref().bootstrap {
            match check_bootstrap_address(address.get_ref()) {
                Ok(()) => settings.bootstrap.push(address.get_ref().clone()),
                Err(reason) => {
                    let problem =
                        Problem::MalformedBootstrap { address: address.get_ref().clone(), reason };
                    self.report(address.span(), subject.clone(), problem);
                }
            }
        }
        is_netvm.then_some(settings)
    }

    /// Checks one device of VM `machine`: its name, MMIO window and
    /// interrupts, against the board and every device before it.
    fn device(
        &mut self,
        machine: &str,
        table: &DeviceTable,
        names: &mut Names,
        board: &Board,
        owners: &mut DeviceOwners,
    ) -> Device {
        let name = table.name.get_ref();
        let subject = Subject::Device { machine: machine.to_owned(), device: name.clone() };
        self.name(&table.name, &subject, names);
        let mmio = table.mmio.get_ref();
        let size = self.size(&mmio.size, &subject);
        let region = Region { base: *mmio.base.get_ref(), size: size.unwrap_or(0) };
        // An unreadable size has been reported; the window is not checked.
        if size.is_some() {
            match Self::mmio_problem(region, board, owners) {
                Some(Problem::MmioEmpty) => {
                    self.report(mmio.size.span(), subject.clone(), Problem::MmioEmpty);
                }
                Some(problem) => self.report(table.mmio.span(), subject.clone(), problem),
                None => owners.windows.push((machine.to_owned(), name.clone(), region)),
            }
        }
        let mut interrupts = Vec::new();
        for interrupt in &table.interrupts {
            let number = *interrupt.get_ref();
            match Self::interrupt_problem(number, board, owners) {
                Some(problem) => self.report(interrupt.span(), subject.clone(), problem),
                None => {
                    owners.interrupts.insert(number, (machine.to_owned(), name.clone()));
                    interrupts.push(number);
                }
            }
        }
        Device { name: name.clone(), mmio: region, interrupts }
    }

    /// What is wrong with a device's MMIO window, if anything.
    fn mmio_problem(region: Region, board: &Board, owners: &DeviceOwners) -> Option<Problem> {
        if region.size == 0 {
            return Some(Problem::MmioEmpty);
        }
        if !region.base.is_multiple_of(PAGE_SIZE) || !region.size.is_multiple_of(PAGE_SIZE) {
            return Some(Problem::MmioNotAligned(region));
        }
        if !board.device_space.encloses(&region) {
            let device_space = board.device_space;
            return Some(Problem::MmioOutsideDeviceSpace { region, device_space });
        }
        if let Some(owned) =
            board.hypervisor_devices.iter().find(|owned| owned.region.overlaps(&region))
        {
            return Some(Problem::MmioOverlapsHypervisorDevice {
                region,
                device: owned.name,
                device_region: owned.region,
            });
        }
        let (machine, device, _) =
            owners.windows.iter().find(|(_, _, other)| other.overlaps(&region))?;
        Some(Problem::MmioOverlapsDevice {
            region,
            machine: machine.clone(),
            device: device.clone(),
        })
    }

    /// What is wrong with giving interrupt `number` to a device, if anything.
    fn interrupt_problem(number: u32, board: &Board, owners: &DeviceOwners) -> Option<Problem> {
        if let Some(reserved) =
            board.reserved_interrupts.iter().find(|owned| owned.interrupt == number)
        {
            return Some(Problem::InterruptReserved { interrupt: number, owner: reserved.name });
        }
        if !board.device_interrupts.contains(&number) {
            return Some(Problem::InterruptOutOfRange {
                interrupt: number,
                first: *board.device_interrupts.start(),
                last: *board.device_interrupts.end(),
            });
        }
        let (machine, device) = owners.interrupts.get(&number)?;
        Some(Problem::InterruptOwnedTwice {
            interrupt: number,
            machine: machine.clone(),
            device: device.clone(),
        })
    }

    /// Checks every `[[channel]]` table against the VMs.
    fn channels(
        &mut self,
        tables: &[ChannelTable],
        machines: &[MachineDraft],
    ) -> Vec<ChannelDraft> {
        let mut names = Names::default();
        let mut channels_per_machine = vec![0usize; machines.len()];
        let mut vsock_per_machine = vec![0usize; machines.len()];
        let mut drafts = Vec::new();
        for table in tables {
            let subject = Subject::Channel(table.name.get_ref().clone());
            self.name(&table.name, &subject, &mut names);
            let length = table.name.get_ref().len();
            if length > CHANNEL_NAME_MAX {
                let problem = Problem::ChannelNameTooLong { length, max: CHANNEL_NAME_MAX };
                self.report(table.name.span(), subject.clone(), problem);
            }
            let ends = self.ends(table, &subject, machines);
            if let Some(ends) = ends {
                for (end, &machine) in table.ends.get_ref().iter().zip(&ends) {
                    channels_per_machine[machine] += 1;
                    if channels_per_machine[machine] == MAX_CHANNELS_PER_MACHINE + 1 {
                        let problem = Problem::TooManyChannels {
                            machine: machines[machine].machine.name.clone(),
                            max: MAX_CHANNELS_PER_MACHINE,
                        };
                        self.report(end.span(), subject.clone(), problem);
                    }
                }
            }
            let ring_size = self.ring_size(table, &subject);
            let direction = match table.direction.as_ref().map(|direction| direction.get_ref()) {
                None => Direction::Both,
                Some(text) if text == "both" => Direction::Both,
                Some(text) if text == "one-way" => Direction::FirstToSecond,
                Some(text) => {
                    let problem = Problem::UnknownDirection(text.clone());
                    let span = table.direction.as_ref().map_or(0..0, Spanned::span);
                    self.report(span, subject.clone(), problem);
                    Direction::Both
                }
            };
            let linux_device =
                self.linux_device(table, &subject, ends, machines, &mut vsock_per_machine);
            let size = channel_region_size(direction, ring_size);
            drafts.push(ChannelDraft {
                channel: Channel {
                    name: table.name.get_ref().clone(),
                    // A channel without two valid ends has been reported,
                    // so the checks stop before its placeholder is read.
                    ends: ends.unwrap_or([0, 0]),
                    direction,
                    ring_size,
                    linux_device,
                    memory: Region { base: 0, size },
                },
                name_span: table.name.span(),
            });
        }
        drafts
    }

    /// A channel's `linux-device`: only on a channel with a Linux end, and
    /// at most one `"vsock"` per Linux VM (`vsock_per_machine` counts them).
    fn linux_device(
        &mut self,
        table: &ChannelTable,
        subject: &Subject,
        ends: Option<[usize; 2]>,
        machines: &[MachineDraft],
        vsock_per_machine: &mut [usize],
    ) -> LinuxDevice {
        let Some(written) = &table.linux_device else { return LinuxDevice::Net };
        let device = match written.get_ref().as_str() {
            "net" => LinuxDevice::Net,
            "vsock" => LinuxDevice::Vsock,
            text => {
                let problem = Problem::UnknownLinuxDevice(text.to_owned());
                self.report(written.span(), subject.clone(), problem);
                return LinuxDevice::Net;
            }
        };
        // Ends that name no VM have been reported already.
        let Some(ends) = ends else { return device };
        let linux_ends: Vec<usize> = ends
            .into_iter()
            .filter(|&end| machines[end].machine.kind == MachineKind::Linux)
            .collect();
        if linux_ends.is_empty() {
            self.report(written.span(), subject.clone(), Problem::LinuxDeviceWithoutLinux);
            return device;
        }
        if device == LinuxDevice::Vsock {
            for end in linux_ends {
                vsock_per_machine[end] += 1;
                if vsock_per_machine[end] == 2 {
                    let problem = Problem::SecondVsock(machines[end].machine.name.clone());
                    self.report(written.span(), subject.clone(), problem);
                }
            }
        }
        device
    }

    /// The indices of a channel's two ends, if both name distinct VMs.
    fn ends(
        &mut self,
        table: &ChannelTable,
        subject: &Subject,
        machines: &[MachineDraft],
    ) -> Option<[usize; 2]> {
        let ends = table.ends.get_ref();
        if ends.len() != 2 {
            self.report(table.ends.span(), subject.clone(), Problem::EndCount(ends.len()));
            return None;
        }
        let mut indices = [0; 2];
        let mut known = true;
        for (slot, end) in indices.iter_mut().zip(ends) {
            match machines.iter().position(|draft| &draft.machine.name == end.get_ref()) {
                Some(index) => *slot = index,
                None => {
                    let problem = Problem::UnknownEnd(end.get_ref().clone());
                    self.report(end.span(), subject.clone(), problem);
                    known = false;
                }
            }
        }
        if !known {
            return None;
        }
        if indices[0] == indices[1] {
            self.report(
                ends[1].span(),
                subject.clone(),
                Problem::SameEnds(ends[1].get_ref().clone()),
            );
            return None;
        }
        Some(indices)
    }

    /// A channel's ring size, checked to be a power of two in range.
    fn ring_size(&mut self, table: &ChannelTable, subject: &Subject) -> u64 {
        let Some(size) = self.size(&table.size, subject) else { return RING_SIZE_MIN };
        if !size.is_power_of_two() {
            self.report(table.size.span(), subject.clone(), Problem::RingSizeNotPowerOfTwo(size));
        } else if !(RING_SIZE_MIN..=RING_SIZE_MAX).contains(&size) {
            let problem =
                Problem::RingSizeOutOfRange { size, min: RING_SIZE_MIN, max: RING_SIZE_MAX };
            self.report(table.size.span(), subject.clone(), problem);
        }
        size
    }

    /// Gives each VM its channel ends, in manifest order, at the
    /// guest-physical addresses of its channel window, and checks that no
    /// device of the VM lies in that window.
    fn assign_channel_windows(&mut self, machines: &mut [MachineDraft], channels: &[ChannelDraft]) {
        for (index, draft) in machines.iter_mut().enumerate() {
            let mut next = CHANNEL_WINDOW_BASE;
            for (channel_index, channel) in channels.iter().enumerate() {
                let Some(end) = channel.channel.ends.iter().position(|&end| end == index) else {
                    continue;
                };
                draft.machine.channels.push(ChannelEnd {
                    channel: channel_index,
                    end: end as u8,
                    guest_address: next,
                });
                next += align_up(channel.channel.memory.size, CHANNEL_WINDOW_ALIGNMENT);
            }
            let window = Region { base: CHANNEL_WINDOW_BASE, size: next - CHANNEL_WINDOW_BASE };
            if window.size == 0 {
                continue;
            }
            for (device, span) in draft.machine.devices.iter().zip(&draft.mmio_spans) {
                if device.mmio.overlaps(&window) {
                    let subject = Subject::Device {
                        machine: draft.machine.name.clone(),
                        device: device.name.clone(),
                    };
                    let problem =
                        Problem::MmioOverlapsChannelWindow { region: device.mmio, window };
                    self.report(span.clone(), subject, problem);
                }
            }
        }
    }

    /// Places every VM's memory: those with a `physical_base` where they ask,
    /// then the others first-fit from the bottom of the free RAM.
    fn place_machines(&mut self, machines: &mut [MachineDraft], board: &Board) -> FreeMemory {
        let mut free = FreeMemory::new(board);
        let mut placed: Vec<(String, Region)> = Vec::new();
        for draft in machines.iter_mut() {
            let Some((base, span)) = draft.physical_base.clone() else { continue };
            let region = Region { base, size: draft.machine.memory.size };
            let subject = Subject::Machine(draft.machine.name.clone());
            let problem = if !board.ram.encloses(&region) {
                Some(Problem::MemoryOutsideRam { region, ram: board.ram })
            } else if let Some(reserved) =
                board.reserved_memory.iter().find(|reserved| reserved.region.overlaps(&region))
            {
                Some(Problem::MemoryOverlapsReserved {
                    region,
                    reserved: reserved.name,
                    reserved_region: reserved.region,
                })
            } else if let Some((other, _)) =
                placed.iter().find(|(_, other)| other.overlaps(&region))
            {
                Some(Problem::MemoryOverlapsMachine { region, other: other.clone() })
            } else {
                None
            };
            match problem {
                Some(problem) => self.report(span, subject, problem),
                None => {
                    free.remove(region);
                    placed.push((draft.machine.name.clone(), region));
                    draft.machine.memory = region;
                }
            }
        }
        for draft in machines.iter_mut().filter(|draft| draft.physical_base.is_none()) {
            let size = draft.machine.memory.size;
            match free.lowest_fit(size, MEMORY_ALIGNMENT) {
                Some(region) => {
                    free.remove(region);
                    draft.machine.memory = region;
                }
                None => {
                    let largest = free.largest(MEMORY_ALIGNMENT);
                    let subject = Subject::Machine(draft.machine.name.clone());
                    let problem = Problem::MemoryExhausted { size, largest };
                    self.report(draft.memory_span.clone(), subject, problem);
                }
            }
        }
        free
    }

    /// Places every channel's region, in manifest order, each as high in the
    /// free RAM as it fits.
    fn place_channels(
        &mut self,
        channels: Vec<ChannelDraft>,
        mut free: FreeMemory,
    ) -> Vec<ChannelDraft> {
        let mut placed = Vec::new();
        for mut draft in channels {
            let size = draft.channel.memory.size;
            match free.highest_fit(size, PAGE_SIZE) {
                Some(region) => {
                    free.remove(region);
                    draft.channel.memory = region;
                }
                None => {
                    let largest = free.largest(PAGE_SIZE);
                    let subject = Subject::Channel(draft.channel.name.clone());
                    let problem = Problem::ChannelMemoryExhausted { size, largest };
                    self.report(draft.name_span.clone(), subject, problem);
                }
            }
            placed.push(draft);
        }
        placed
    }
}

/// The devices and interrupts given to VMs so far.
#[derive(Default)]
struct DeviceOwners {
    /// Each device's VM, name and MMIO window.
    windows: Vec<(String, String, Region)>,
    /// Each interrupt's VM and device.
    interrupts: HashMap<u32, (String, String)>,
}

/// The RAM no one has yet: sorted, disjoint blocks.
struct FreeMemory {
    /// The blocks, in ascending address order.
    blocks: Vec<Region>,
}

impl FreeMemory {
    /// The board's RAM less its reserved regions.
    fn new(board: &Board) -> Self {
        let mut free = Self { blocks: vec![board.ram] };
        for reserved in board.reserved_memory {
            free.remove(reserved.region);
        }
        free
    }

    /// Takes `region` out of the free blocks.
    fn remove(&mut self, region: Region) {
        let mut blocks = Vec::with_capacity(self.blocks.len() + 1);
        for block in &self.blocks {
            if !block.overlaps(&region) {
                blocks.push(*block);
                continue;
            }
            if block.base < region.base {
                blocks.push(Region { base: block.base, size: region.base - block.base });
            }
            if region.end() < block.end() {
                blocks.push(Region { base: region.end(), size: block.end() - region.end() });
            }
        }
        self.blocks = blocks;
    }

    /// The lowest `alignment`-aligned region of `size` bytes that is free.
    fn lowest_fit(&self, size: u64, alignment: u64) -> Option<Region> {
        self.blocks.iter().find_map(|block| {
            let base = align_up(block.base, alignment);
            let region = Region { base, size };
            block.encloses(&region).then_some(region)
        })
    }

    /// The highest `alignment`-aligned region of `size` bytes that is free.
    fn highest_fit(&self, size: u64, alignment: u64) -> Option<Region> {
        self.blocks.iter().rev().find_map(|block| {
            let base = block.end().checked_sub(size)? & !(alignment - 1);
            let region = Region { base, size };
            block.encloses(&region).then_some(region)
        })
    }

    /// The size of the largest `alignment`-aligned free region.
    fn largest(&self, alignment: u64) -> u64 {
        let usable = |block: &Region| {
            let base = align_up(block.base, alignment);
            let end = block.end() & !(alignment - 1);
            end.saturating_sub(base)
        };
        self.blocks.iter().map(usable).max().unwrap_or(0)
    }
}
