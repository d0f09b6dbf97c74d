//! Inter-VM channels: shared-memory regions mapped into their two VMs only,
//! with a doorbell each way.
//!
//! A channel's region (layout in `boards::system` and the `channel-ring`
//! crate) starts with a status page that only the hypervisor writes: the
//! channel is up while both its VMs run, and its epoch goes up at every
//! change, so a VM sees its peer go down and come back. Each ring's pages are
//! mapped writable only into the VM that writes them: the sender owns the
//! producer page and the data, the receiver the consumer page. The hypervisor
//! never reads the rings; it only zeroes their control pages when a VM
//! (re)starts, so both ends begin from empty rings.

use crate::arch::Mutex;
use crate::system::SYSTEM;
use crate::vm::{self, Machine, State};
use crate::{interrupts, log};
use boards::system::{ring_offset, CHANNEL_STATUS_SIZE, RING_CONTROL_SIZE};
use boards::{Channel, Direction, VirtualMachine};
use channel_ring::{ChannelState, StatusPageWriter};
use core::sync::atomic::{AtomicU64, Ordering};
use hypercall_abi::{
    ChannelInfo, Status, CHANNEL_MAY_RECEIVE, CHANNEL_MAY_SEND, CHANNEL_NAME_MAX,
    CHANNEL_SECOND_END, DOORBELL_INTERRUPT_BASE,
};
use hypervisor_core::address::{GuestPhysicalAddress, PhysicalAddress};
use hypervisor_core::page_table::{Access, MemoryKind, Stage2Attributes, Stage2Table};

/// Channel calls each VM made that the manifest does not allow (a channel it
/// is not an end of, or that does not exist). Read by the tests.
#[no_mangle]
pub static VM_CHANNEL_DENIALS: [AtomicU64; vm::MACHINE_COUNT] =
    [const { AtomicU64::new(0) }; vm::MACHINE_COUNT];

/// Doorbells each VM rang successfully.
#[no_mangle]
pub static VM_DOORBELLS: [AtomicU64; vm::MACHINE_COUNT] =
    [const { AtomicU64::new(0) }; vm::MACHINE_COUNT];

/// Serialises changes of channel state (a VM starting while its peer stops).
static STATE_LOCK: Mutex<()> = Mutex::new(());

/// Shared memory as the VMs map it: normal memory, never executable.
const fn shared(access: Access) -> Stage2Attributes {
    Stage2Attributes { memory: MemoryKind::Normal, access, executable: false }
}

/// Zeroes every channel region and marks every channel down. Called once
/// before any VM starts.
pub fn init_all() {
    for channel in SYSTEM.channels {
        // SAFETY: the manifest gives each channel region its own RAM, apart
        // from every VM, the hypervisor and the staging region; no VM runs yet.
        unsafe { zero(channel.memory.base, channel.memory.size) };
        status(channel).initialize();
    }
}

/// Maps `machine`'s ends of its channels into its stage-2 tables. A Linux
/// VM's ends are served by the hypervisor (as virtio-net devices): Linux
/// maps none of its channels.
pub fn map(machine: &VirtualMachine, stage2: &mut Stage2Table) {
    if machine.kind == boards::VirtualMachineKind::Linux {
        return;
    }
    let mut tables = crate::memory::PoolTables;
    for end in machine.channels {
        let channel = &SYSTEM.channels[end.channel];
        let mut map = |offset: u64, size: u64, access: Access| {
            stage2
                .map(
                    &mut tables,
                    GuestPhysicalAddress::new(end.guest_address + offset),
                    PhysicalAddress::new(channel.memory.base + offset),
                    size,
                    shared(access),
                )
                .expect("the manifest's channel regions are page-aligned and fit the frame pool");
        };
        map(0, CHANNEL_STATUS_SIZE, Access::ReadOnly);
        for &sender in senders(channel) {
            let ring = ring_offset(sender, channel.ring_size);
            let (consumer, producer) = if end.end == sender {
                (Access::ReadOnly, Access::ReadWrite)
            } else {
                (Access::ReadWrite, Access::ReadOnly)
            };
            let page = RING_CONTROL_SIZE / 2;
            map(ring, page, consumer);
            map(ring + page, page + channel.ring_size, producer);
        }
    }
}

/// The ends that send on a channel.
fn senders(channel: &Channel) -> &'static [u8] {
    match channel.direction {
        Direction::Both => &[0, 1],
        Direction::FirstToSecond => &[0],
    }
}

/// `machine` has (re)started: its channels start from empty rings, and come
/// up where the peer runs.
pub fn machine_started(machine: &Machine) {
    let _guard = STATE_LOCK.lock();
    for end in machine.description.channels {
        let channel = &SYSTEM.channels[end.channel];
        for &sender in senders(channel) {
            // SAFETY: the control pages of this ring lie inside the channel's
            // own region. The VM starting is not running yet; its peer may
            // write its own page concurrently, which the ring format tolerates
            // (the peer resets its view when it sees the new epoch).
            unsafe {
                zero(
                    channel.memory.base + ring_offset(sender, channel.ring_size),
                    RING_CONTROL_SIZE,
                )
            };
        }
        let peer = channel.ends[1 - end.end as usize];
        let peer_running = vm::machine(peer).is_some_and(|peer| peer.state() == State::Running);
        if peer_running {
            let status = status(channel).set_state(ChannelState::Up);
            log!("channel {} up (epoch {})", channel.name, status.epoch);
            ring(end.channel, peer);
        }
    }
}

/// `machine` has stopped: its channels go down, and the peers hear of it.
pub fn machine_stopped(machine: &Machine) {
    let _guard = STATE_LOCK.lock();
    for end in machine.description.channels {
        let channel = &SYSTEM.channels[end.channel];
        let writer = status(channel);
        if writer.page().read().is_ok_and(|status| status.state == ChannelState::Up) {
            let status = writer.set_state(ChannelState::Down);
            log!("channel {} down (epoch {})", channel.name, status.epoch);
        }
        ring(end.channel, channel.ends[1 - end.end as usize]);
    }
}

/// The description `CHANNEL_INFO` gives `machine` of its channel number `index`.
pub fn info(machine: &Machine, index: usize) -> Option<ChannelInfo> {
    let end = machine.description.channels.get(index)?;
    let channel = &SYSTEM.channels[end.channel];
    let mut name = [0u8; CHANNEL_NAME_MAX];
    let length = channel.name.len().min(CHANNEL_NAME_MAX);
    name[..length].copy_from_slice(&channel.name.as_bytes()[..length]);
    let sends = senders(channel).contains(&end.end);
    let receives = senders(channel).iter().any(|&sender| sender != end.end);
    let mut flags = 0;
    if end.end == 1 {
        flags |= CHANNEL_SECOND_END;
    }
    if sends {
        flags |= CHANNEL_MAY_SEND;
    }
    if receives {
        flags |= CHANNEL_MAY_RECEIVE;
    }
    Some(ChannelInfo {
        id: end.channel as u32,
        flags,
        address: end.guest_address,
        size: channel.memory.size,
        ring_size: channel.ring_size,
        doorbell: DOORBELL_INTERRUPT_BASE + index as u32,
        peer: channel.ends[1 - end.end as usize] as u32,
        name,
    })
}

/// `CHANNEL_NOTIFY` from `machine`: rings the doorbell of the other end of
/// channel `id`, if `machine` is an end of it.
pub fn notify(machine: &Machine, id: u64) -> Status {
    let Some(channel) = usize::try_from(id).ok().and_then(|id| SYSTEM.channels.get(id)) else {
        VM_CHANNEL_DENIALS[machine.index].fetch_add(1, Ordering::Relaxed);
        return Status::InvalidParameter;
    };
    let Some(end) = channel.ends.iter().position(|&end| end == machine.index) else {
        VM_CHANNEL_DENIALS[machine.index].fetch_add(1, Ordering::Relaxed);
        return Status::Denied;
    };
    let peer = channel.ends[1 - end];
    if !vm::machine(peer).is_some_and(|peer| peer.state() == State::Running) {
        return Status::Unavailable;
    }
    ring(id as usize, peer);
    VM_DOORBELLS[machine.index].fetch_add(1, Ordering::Relaxed);
    Status::Success
}

/// Raises the doorbell interrupt of channel `channel` in VM `target`; for a
/// Linux VM, whose channels are virtio devices the hypervisor serves,
/// brings the device up to date instead.
pub fn ring(channel: usize, target: usize) {
    let Some(machine) = vm::machine(target) else { return };
    if machine.state() != State::Running {
        return;
    }
    let Some(position) = machine.description.channels.iter().position(|end| end.channel == channel)
    else {
        return;
    };
    if machine.description.kind == boards::VirtualMachineKind::Linux {
        crate::virtio_devices::peer_rang(machine, position);
        return;
    }
    let intid = DOORBELL_INTERRUPT_BASE + position as u32;
    let kick = machine.devices.lock().gic.raise_edge(intid, 0);
    interrupts::kick(machine, kick);
}

/// The writer of a channel's status page.
fn status(channel: &Channel) -> StatusPageWriter {
    // SAFETY: the status page is the first page of the channel's region: RAM
    // the identity map covers, apart from every Rust object of the hypervisor.
    // VMs map it read-only, so only the hypervisor writes it, through this
    // crate (under `STATE_LOCK`, or before any VM runs).
    unsafe { StatusPageWriter::new(channel.memory.base as *mut u8) }
        .expect("channel regions are page-aligned")
}

/// Zeroes `size` bytes of RAM at physical `base`.
///
/// # Safety
///
/// The range must be RAM the identity map covers that no Rust object of the
/// hypervisor lives in (a channel region).
unsafe fn zero(base: u64, size: u64) {
    for offset in (0..size).step_by(8) {
        // SAFETY: the caller guarantees the range is such RAM; words are
        // written volatile because the VMs sharing the region may read it at
        // any time.
        unsafe { core::ptr::write_volatile((base + offset) as *mut u64, 0) };
    }
}
