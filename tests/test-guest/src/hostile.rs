//! The hostile scenario: a VM that tries everything it must not be able to do.
//!
//! An attempt that faults (touching memory or devices outside the partition,
//! writing a read-only channel page) gets the VM restarted by its restart
//! policy, so the scenario makes one such attempt per boot and picks it by
//! the boot count `VM_INFO` reports. After the last one it makes, in one
//! boot, the attempts that do not fault: channels it was not given, EL2
//! system registers, garbage in its own ring, thousands of random hypercalls,
//! and finally a hypercall storm, which must get it stopped and restarted.
//! The boot after the storm reports and stops.

use crate::{check, counter, counter_frequency, firmware_call, hypercall, println, stop};
use boards::qemu_virt::{self, systems::TEST};
use boards::system::CHANNEL_WINDOW_ALIGNMENT;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hypercall_abi::{call, stop_code, ChannelInfo, Status, CHANNEL_INFO_SIZE};

/// Set while the scenario expects its next instruction to be UNDEFINED.
static EXPECT_UNDEFINED: AtomicBool = AtomicBool::new(false);
/// UNDEFINED exceptions taken as expected.
static UNDEFINED_TAKEN: AtomicU64 = AtomicU64::new(0);

/// Called by the exception handler: whether an UNDEFINED instruction was
/// expected (and counts it).
pub fn take_expected_undefined() -> bool {
    if EXPECT_UNDEFINED.swap(false, Ordering::SeqCst) {
        UNDEFINED_TAKEN.fetch_add(1, Ordering::SeqCst);
        true
    } else {
        false
    }
}

/// One attempt that must fault at stage 2.
#[derive(Clone, Copy)]
struct Probe {
    what: &'static str,
    address: u64,
    write: bool,
}

/// The most probes (the list is built without a heap).
const MAX_PROBES: usize = 64;

/// Every probe, in order.
fn probes(me: usize, own_channel: Option<&ChannelInfo>) -> ([Option<Probe>; MAX_PROBES], usize) {
    let mut list = [None; MAX_PROBES];
    let mut count = 0;
    let ram = TEST.machines[me].guest_memory();
    let mut add = |what, address: u64, write| {
        // A physical address that falls inside this VM's own guest-physical
        // RAM window names this VM's own RAM here (the hypervisor's image and
        // the firmware's device tree on QEMU virt): nothing to attack at that
        // IPA. The tests check that no stage-2 entry reaches those.
        if ram.contains(address) {
            return;
        }
        if count < MAX_PROBES {
            list[count] = Some(Probe { what, address, write });
            count += 1;
        }
    };
    for (index, machine) in TEST.machines.iter().enumerate() {
        if index != me {
            add(machine.name, machine.memory.base, false);
            add(machine.name, machine.memory.end() - 8, true);
        }
    }
    add("the guest-physical page past my RAM", ram.end(), false);
    add("the hypervisor", qemu_virt::HYPERVISOR.base, false);
    add("the hypervisor", qemu_virt::HYPERVISOR.base + 0x1000, true);
    add("the staging region", qemu_virt::STAGING.base, false);
    add("the firmware device tree", qemu_virt::FIRMWARE_DEVICE_TREE.base, false);
    for channel in TEST.channels {
        if !channel.ends.contains(&me) {
            add(channel.name, channel.memory.base, false);
        }
    }
    if let Some(own) = own_channel {
        // Where other VMs see their second channel: nothing here.
        add("the channel window past my channel", own.address + CHANNEL_WINDOW_ALIGNMENT, false);
        add("my channel's status page (read-only)", own.address, true);
        // The consumer page of the ring this VM sends on: the receiver's.
        add("my channel's consumer page (the peer's)", own.address + 0x1000, true);
    }
    for device in TEST.machines.iter().flat_map(|machine| machine.devices) {
        add(device.name, device.mmio.base, false);
    }
    add("virtio-mmio slot 0", qemu_virt::VIRTIO_MMIO.base, false);
    add("the GIC distributor", qemu_virt::GIC_DISTRIBUTOR.base, false);
    add("the GIC distributor", qemu_virt::GIC_DISTRIBUTOR.base, true);
    add("the GIC redistributors", qemu_virt::GIC_REDISTRIBUTORS.base, false);
    add("the UART", qemu_virt::UART.base, true);
    add("the UART", qemu_virt::UART.base + 0x18, false);
    (list, count)
}

/// Runs the scenario.
pub fn run() -> ! {
    let [status, me, boot, channel_count] = hypercall(call::VM_INFO, [0; 3]);
    check(status == Status::Success.as_register(), "VM_INFO answers");
    let me = me as usize;
    let own = if channel_count > 0 { channel_info(0) } else { None };
    let (list, count) = probes(me, own.as_ref());
    let attempt = boot as usize - 1;
    if boot == 1 {
        wait_for_go();
    }
    // Hold the CPU (shared with netvm) for a while before each attempt: the
    // scheduler must keep the other VMs going meanwhile.
    spin(counter_frequency() / 10);
    if let Some(Some(probe)) = list.get(attempt).filter(|_| attempt < count) {
        println!(
            "hostile attempt {} of {count}: {} {} at {:#x}",
            attempt + 1,
            if probe.write { "writing" } else { "reading" },
            probe.what,
            probe.address
        );
        // SAFETY: deliberately not sound: the access must fault at stage 2
        // and the hypervisor must stop this VM before it completes.
        unsafe {
            if probe.write {
                core::ptr::write_volatile(probe.address as *mut u64, 0x0bad_0bad_0bad_0bad);
            } else {
                core::ptr::read_volatile(probe.address as *const u64);
            }
        }
        println!("ESCAPED: the access to {:#x} completed", probe.address);
        stop(stop_code::FAILED);
    }
    if attempt == count {
        println!("hostile: attempts on memory and devices: {count}, all stopped");
        let denied = misuse_channels(own.as_ref());
        let refused = touch_el2_registers();
        let (random, bad) = random_hypercalls();
        println!(
            "hostile: refused {denied} channel misuses, {refused} EL2 register accesses, {bad} bad of {random} random hypercalls"
        );
        println!("hostile: starting a hypercall storm");
        loop {
            hypercall(0xc600_7777, [0; 3]);
        }
    }
    println!(
        "hostile: the storm got me restarted; boot {boot}, all attempts made, {count} faulted"
    );
    stop(stop_code::DONE)
}

/// Offset in the parameter page of the word that starts the attack.
const GO_WORD: u64 = 8;

/// Waits until the host sets the go word of the parameter page (a test does
/// it through the gdbstub once Linux is up), or at most 10 s.
fn wait_for_go() {
    println!("hostile: waiting for the go word");
    let word = boards::test_guest::parameter_address(crate::GUEST_RAM) + GO_WORD;
    let deadline = counter() + 10 * counter_frequency();
    // SAFETY: the parameter page is the last page of this VM's RAM.
    while unsafe { core::ptr::read_volatile(word as *const u64) } == 0 && counter() < deadline {
        core::hint::spin_loop();
    }
    println!("hostile: starting the attack");
}

/// Busy-waits for `ticks` of the counter.
fn spin(ticks: u64) {
    let end = counter() + ticks;
    while counter() < end {
        core::hint::spin_loop();
    }
}

/// The description of this VM's channel number `index`.
fn channel_info(index: u64) -> Option<ChannelInfo> {
    let mut record = [0u8; CHANNEL_INFO_SIZE];
    let [status, ..] = hypercall(call::CHANNEL_INFO, [index, record.as_mut_ptr() as u64, 0]);
    (status == Status::Success.as_register()).then(|| ChannelInfo::from_bytes(&record))
}

/// Rings, and asks about, channels this VM was not given; writes garbage
/// into its own ring. Returns how many calls were refused.
fn misuse_channels(own: Option<&ChannelInfo>) -> u64 {
    let mut refused = 0;
    let total = TEST.channels.len() as u64;
    for id in 0..total + 4 {
        if own.is_some_and(|own| own.id as u64 == id) {
            continue;
        }
        let [status, ..] = hypercall(call::CHANNEL_NOTIFY, [id, 0, 0]);
        let expected = if id < total { Status::Denied } else { Status::InvalidParameter };
        check(status == expected.as_register(), "a channel not given is refused");
        refused += 1;
    }
    for index in 1..4 {
        let mut record = [0u8; CHANNEL_INFO_SIZE];
        let [status, ..] = hypercall(call::CHANNEL_INFO, [index, record.as_mut_ptr() as u64, 0]);
        check(status == Status::InvalidParameter.as_register(), "CHANNEL_INFO of a missing index");
        refused += 1;
    }
    let [status, ..] = hypercall(call::CHANNEL_NOTIFY, [u64::MAX, 0, 0]);
    check(status == Status::InvalidParameter.as_register(), "a huge channel id is refused");
    refused += 1;
    let outside = TEST.machines[0].memory.base;
    let [status, ..] = hypercall(call::CHANNEL_INFO, [0, outside, 0]);
    check(status == Status::InvalidParameter.as_register(), "CHANNEL_INFO outside my RAM");
    if let Some(own) = own {
        // Garbage in the pages this VM may write: its producer page and data.
        let mut state = counter() | 1;
        for offset in (0x2000..0x2000 + 0x1000 + own.ring_size).step_by(8) {
            state = next_random(state);
            // SAFETY: the producer page and data of the ring this VM sends on
            // are mapped writable into it; what it writes is its peer's problem.
            unsafe { core::ptr::write_volatile((own.address + offset) as *mut u64, state) };
        }
        let [status, ..] = hypercall(call::CHANNEL_NOTIFY, [own.id as u64, 0, 0]);
        check(
            status == Status::Success.as_register() || status == Status::Unavailable.as_register(),
            "my own channel's doorbell works",
        );
        println!("hostile: wrote garbage into my ring of {}", own.name());
    }
    refused
}

/// Tries EL2 system registers from EL1; each must be UNDEFINED. Returns how
/// many were refused.
fn touch_el2_registers() -> u64 {
    let before = UNDEFINED_TAKEN.load(Ordering::SeqCst);
    macro_rules! attempt {
        ($instruction:literal) => {
            EXPECT_UNDEFINED.store(true, Ordering::SeqCst);
            // SAFETY: the instruction is UNDEFINED at EL1; the exception
            // handler steps over it. Were it to execute, it would be the
            // hypervisor's bug this scenario looks for.
            unsafe { asm!($instruction, out("x9") _, options(nostack)) };
            check(!EXPECT_UNDEFINED.load(Ordering::SeqCst), $instruction);
        };
    }
    attempt!("mrs x9, hcr_el2");
    attempt!("mov x9, xzr\nmsr hcr_el2, x9");
    attempt!("mrs x9, vttbr_el2");
    attempt!("mov x9, xzr\nmsr vttbr_el2, x9");
    attempt!("mrs x9, sctlr_el2");
    attempt!("mrs x9, vbar_el2");
    attempt!("mov x9, xzr\nmsr vbar_el2, x9");
    attempt!("mrs x9, ich_hcr_el2");
    attempt!("mov x9, xzr\nmsr cnthp_ctl_el2, x9");
    attempt!("mrs x9, cntvoff_el2");
    UNDEFINED_TAKEN.load(Ordering::SeqCst) - before
}

/// xorshift64.
fn next_random(mut state: u64) -> u64 {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    state
}

/// Makes thousands of hypercalls (HVC and SMC) with random function
/// identifiers and arguments, skipping the few valid ones that would end
/// the scenario (stopping the VM, PSCI). Returns how many were made and
/// how many the hypervisor answered as bad.
fn random_hypercalls() -> (u64, u64) {
    const CALLS: u64 = 4000;
    let mut state = counter() | 1;
    let mut bad = 0;
    for index in 0..CALLS {
        state = next_random(state);
        let mut function = if state & 1 == 0 {
            (state >> 32) as u32
        } else {
            // The Elastos range, where the real calls are.
            0x8600_0000 | (((state >> 8) & 1) as u32) << 30 | ((state >> 16) & 0xf) as u32
        };
        let owner = hypercall_abi::owner_of(function);
        let number = function & 0xffff;
        // PSCI and the standard secure range: stopping or resetting this
        // VM is allowed to it, and not an attack. In the Elastos range,
        // VM_STOP likewise; the channel calls and the console are attacked
        // above with arguments that are sure to be wrong.
        if owner == hypercall_abi::OWNER_STANDARD_SECURE
            || (owner == hypercall_abi::OWNER_VENDOR_HYPERVISOR && matches!(number, 1 | 2 | 5 | 6))
        {
            function = 0xc600_7777;
        }
        let arguments = [next_random(state), next_random(state ^ 1), next_random(state ^ 2)];
        let status = if index % 8 == 7 {
            firmware_call(function, arguments)
        } else {
            hypercall(function, arguments)[0]
        };
        let refused = [Status::NotSupported, Status::Denied, Status::InvalidParameter]
            .iter()
            .any(|refusal| refusal.as_register() == status);
        if refused {
            bad += 1;
        }
    }
    (CALLS, bad)
}
