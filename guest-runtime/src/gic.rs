//! The GICv3 driver: the distributor and vCPU 0's redistributor the
//! hypervisor emulates, the CPU interface through the `ICC_*` system
//! registers, and the virtual timer as a deadline.
//!
//! The runtime never takes an interrupt exception: PSTATE.I stays masked and
//! [`Gic::wait_for_interrupt`] waits with WFI, which wakes for a pending
//! interrupt whatever PSTATE says, then acknowledges and ends every pending
//! interrupt itself (`ICC_IAR1_EL1`, `ICC_EOIR1_EL1` with `EOImode` 0).
//! Nothing runs behind the program's back.
//!
//! The distributor and redistributor are trapped and emulated by the
//! hypervisor, which can replay only loads and stores that report a valid
//! instruction syndrome: a single `ldr`/`str` of one register without
//! writeback. Volatile accesses through `tock-registers` leave the choice of
//! addressing mode to the compiler (which may pick a post-indexed store), so
//! this driver makes each access with one explicit instruction instead.

use hypercall_abi::{DOORBELL_INTERRUPT_BASE, MAX_CHANNELS_PER_MACHINE};

#[cfg(target_os = "none")]
pub use hardware::Gic;

/// The virtual timer's interrupt, PPI 11.
pub const VIRTUAL_TIMER_INTERRUPT: u32 = 27;

/// Why an interrupt could not be enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// Not a shared peripheral interrupt (32 to 1019).
    NotShared(u32),
}

impl core::fmt::Display for GicError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::NotShared(intid) => write!(formatter, "INTID {intid} is not an SPI"),
        }
    }
}

/// The channel doorbells that fired: bit `n` for the channel with index `n`
/// (its doorbell is SPI `DOORBELL_INTERRUPT_BASE + n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Doorbells(pub u32);

impl Doorbells {
    /// Whether the doorbell of the channel with index `index` fired.
    pub const fn contains(self, index: usize) -> bool {
        index < MAX_CHANNELS_PER_MACHINE && self.0 & (1 << index) != 0
    }

    /// Whether none fired.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Notes the doorbell SPI `intid`; false if it is not a doorbell.
    #[cfg_attr(
        not(target_os = "none"),
        allow(dead_code, reason = "only the bare-metal driver acknowledges interrupts")
    )]
    fn insert(&mut self, intid: u32) -> bool {
        match intid.checked_sub(DOORBELL_INTERRUPT_BASE) {
            Some(index) if (index as usize) < MAX_CHANNELS_PER_MACHINE => {
                self.0 |= 1 << index;
                true
            }
            _ => false,
        }
    }
}

/// What ended a [`Gic::wait_for_interrupt`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wakeup {
    /// The doorbells that fired.
    pub doorbells: Doorbells,
    /// The deadline passed.
    pub deadline_passed: bool,
    /// Other interrupts acknowledged (enabled by nobody; counted, then ended).
    pub other_interrupts: u32,
}

/// The interrupts one wait has acknowledged, by INTID (0 to 1019).
#[derive(Clone, Copy, Debug, Default)]
struct TakenInterrupts([u64; 16]);

#[cfg_attr(
    not(target_os = "none"),
    allow(dead_code, reason = "only the bare-metal driver acknowledges interrupts")
)]
impl TakenInterrupts {
    /// Notes `intid`; false if it was already noted.
    fn insert(&mut self, intid: u32) -> bool {
        let (word, bit) = ((intid / 64) as usize % 16, 1u64 << (intid % 64));
        let first = self.0[word] & bit == 0;
        self.0[word] |= bit;
        first
    }
}

/// The driver proper: register accesses, for the bare-metal target only.
#[cfg(target_os = "none")]
mod hardware {
    use super::{GicError, TakenInterrupts, Wakeup, VIRTUAL_TIMER_INTERRUPT};
    use crate::time::Instant;
    use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0};
    use core::sync::atomic::{AtomicBool, Ordering};

    /// The first shared peripheral interrupt.
    const FIRST_SHARED_INTERRUPT: u32 = 32;
    /// The first special INTID: 1020 to 1023 are not interrupts (1023: none
    /// pending).
    const FIRST_SPECIAL_INTERRUPT: u32 = 1020;
    /// The priority of every interrupt the runtime enables (5 bits implemented;
    /// lower is more urgent). Any value below the priority mask works.
    const PRIORITY: u8 = 0xa0;
    /// The priority mask: let every implemented priority through.
    const PRIORITY_MASK_OPEN: u64 = 0xff;
    /// How many times to poll a register that the GIC updates in the background
    /// before giving up.
    const POLL_LIMIT: u32 = 1_000_000;

    /// Distributor registers (GICv3 architecture specification, IHI 0069, 12.9).
    mod distributor {
        /// Guest-physical base of the distributor.
        pub const BASE: u64 = boards::qemu_virt::GIC_DISTRIBUTOR.base;
        /// `GICD_CTLR`.
        pub const CONTROL: u64 = 0x0000;
        /// `GICD_CTLR.EnableGrp1` (single Security state).
        pub const CONTROL_ENABLE_GROUP1: u32 = 1 << 1;
        /// `GICD_CTLR.ARE`: affinity routing.
        pub const CONTROL_AFFINITY_ROUTING: u32 = 1 << 4;
        /// `GICD_CTLR.RWP`: a register write is still taking effect.
        pub const CONTROL_WRITE_PENDING: u32 = 1 << 31;
        /// `GICD_IGROUPR<n>`.
        pub const GROUP: u64 = 0x0080;
        /// `GICD_ISENABLER<n>`.
        pub const SET_ENABLE: u64 = 0x0100;
        /// `GICD_IPRIORITYR<n>`, one byte per INTID.
        pub const PRIORITY: u64 = 0x0400;
        /// `GICD_ICFGR<n>`, two bits per INTID.
        pub const CONFIGURATION: u64 = 0x0c00;
        /// `GICD_IROUTER<n>`, eight bytes per INTID.
        pub const ROUTER: u64 = 0x6000;
    }

    /// Redistributor registers of vCPU 0 (IHI 0069, 12.10 and 12.11).
    mod redistributor {
        /// Guest-physical base of vCPU 0's RD_base frame.
        pub const BASE: u64 = boards::qemu_virt::GIC_REDISTRIBUTORS.base;
        /// `GICR_WAKER`.
        pub const WAKER: u64 = 0x0014;
        /// `GICR_WAKER.ProcessorSleep`.
        pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
        /// `GICR_WAKER.ChildrenAsleep`.
        pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
        /// The SGI_base frame, after the RD_base frame.
        pub const SGI_FRAME: u64 = 0x1_0000;
        /// `GICR_IGROUPR0` in the SGI_base frame.
        pub const GROUP: u64 = SGI_FRAME + 0x0080;
        /// `GICR_ISENABLER0` in the SGI_base frame.
        pub const SET_ENABLE: u64 = SGI_FRAME + 0x0100;
        /// `GICR_IPRIORITYR<n>` in the SGI_base frame, one byte per INTID.
        pub const PRIORITY: u64 = SGI_FRAME + 0x0400;
    }

    /// The interrupt controller, set up. There is one: [`Gic::take`] gives it out
    /// once.
    pub struct Gic {
        _private: (),
    }

    /// Set once the GIC has been given out.
    static TAKEN: AtomicBool = AtomicBool::new(false);

    impl Gic {
        /// Sets up the GIC and gives it out, the first time; `None` afterwards.
        /// The distributor forwards group 1, vCPU 0's redistributor is awake, the
        /// CPU interface takes every priority, and the virtual timer's interrupt
        /// is enabled (the timer itself stays off until a wait arms it).
        pub fn take() -> Option<Self> {
            if TAKEN.swap(true, Ordering::SeqCst) {
                return None;
            }
            CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
            enable_system_register_interface();
            wake_redistributor();
            write32(
                distributor::BASE + distributor::CONTROL,
                distributor::CONTROL_AFFINITY_ROUTING | distributor::CONTROL_ENABLE_GROUP1,
            );
            wait_for_distributor_writes();
            let bit = 1 << VIRTUAL_TIMER_INTERRUPT;
            let group = read32(redistributor::BASE + redistributor::GROUP);
            write32(redistributor::BASE + redistributor::GROUP, group | bit);
            write8(
                redistributor::BASE + redistributor::PRIORITY + u64::from(VIRTUAL_TIMER_INTERRUPT),
                PRIORITY,
            );
            write32(redistributor::BASE + redistributor::SET_ENABLE, bit);
            open_cpu_interface();
            Some(Self { _private: () })
        }

        /// Enables SPI `intid` as an edge-triggered group 1 interrupt routed to
        /// vCPU 0 (affinity 0.0.0.0), as doorbells are.
        pub fn enable_shared_interrupt(&mut self, intid: u32) -> Result<(), GicError> {
            if !(FIRST_SHARED_INTERRUPT..FIRST_SPECIAL_INTERRUPT).contains(&intid) {
                return Err(GicError::NotShared(intid));
            }
            let word = u64::from(intid / 32) * 4;
            let bit = 1u32 << (intid % 32);
            let group = read32(distributor::BASE + distributor::GROUP + word);
            write32(distributor::BASE + distributor::GROUP + word, group | bit);
            // Two configuration bits per INTID; the upper one set means edge.
            let configuration_register =
                distributor::BASE + distributor::CONFIGURATION + u64::from(intid / 16) * 4;
            let configuration = read32(configuration_register);
            write32(configuration_register, configuration | 0b10 << ((intid % 16) * 2));
            write8(distributor::BASE + distributor::PRIORITY + u64::from(intid), PRIORITY);
            write64(distributor::BASE + distributor::ROUTER + u64::from(intid) * 8, 0);
            write32(distributor::BASE + distributor::SET_ENABLE + word, bit);
            wait_for_distributor_writes();
            Ok(())
        }

        /// Waits until an interrupt is pending or `deadline` passes, then
        /// acknowledges and ends every pending interrupt and says which they
        /// were. PSTATE.I stays masked throughout. May return early, with
        /// nothing noted, if the hypervisor wakes the vCPU for its own reasons.
        /// An interrupt pending again once ended (a level-sensitive device
        /// interrupt, until the program serves its device) is taken once and
        /// left pending for the next wait.
        pub fn wait_for_interrupt(&mut self, deadline: Instant) -> Wakeup {
            CNTV_CVAL_EL0.set(deadline.ticks());
            CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
            aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
            aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
            aarch64_cpu::asm::wfi();
            let mut wakeup = Wakeup::default();
            let mut taken = TakenInterrupts::default();
            loop {
                let intid = acknowledge();
                if intid >= FIRST_SPECIAL_INTERRUPT {
                    break;
                }
                if !taken.insert(intid) {
                    // A level-sensitive device interrupt fires again as soon as
                    // it is ended while its device still asserts it, which it
                    // does until the program serves it after this wait; taking
                    // it again here would never end. It stays pending for the
                    // next wait.
                    end_of_interrupt(intid);
                    break;
                }
                if intid == VIRTUAL_TIMER_INTERRUPT {
                    // Turn the timer off before ending its interrupt, or the still
                    // expired timer would raise it again at once.
                    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
                    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
                    wakeup.deadline_passed = true;
                } else if !wakeup.doorbells.insert(intid) {
                    wakeup.other_interrupts += 1;
                }
                end_of_interrupt(intid);
            }
            CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::SET);
            if Instant::now() >= deadline {
                wakeup.deadline_passed = true;
            }
            wakeup
        }
    }

    /// Selects the system-register interface of the CPU interface
    /// (`ICC_SRE_EL1.SRE`, with FIQ and IRQ bypass disabled).
    fn enable_system_register_interface() {
        // SAFETY: ICC_SRE_EL1 configures only this vCPU's CPU interface; the
        // hypervisor allows EL1 to access it (ICC_SRE_EL2.Enable).
        unsafe {
            core::arch::asm!("msr ICC_SRE_EL1, {}", "isb", in(reg) 0b111u64, options(nostack))
        };
    }

    /// Takes vCPU 0's redistributor out of sleep.
    fn wake_redistributor() {
        let waker = redistributor::BASE + redistributor::WAKER;
        write32(waker, read32(waker) & !redistributor::WAKER_PROCESSOR_SLEEP);
        for _ in 0..POLL_LIMIT {
            if read32(waker) & redistributor::WAKER_CHILDREN_ASLEEP == 0 {
                return;
            }
            core::hint::spin_loop();
        }
        crate::warn!("gic: the redistributor did not wake; interrupts may not arrive");
    }

    /// Waits for distributor register writes to take effect (`GICD_CTLR.RWP`).
    fn wait_for_distributor_writes() {
        for _ in 0..POLL_LIMIT {
            if read32(distributor::BASE + distributor::CONTROL) & distributor::CONTROL_WRITE_PENDING
                == 0
            {
                return;
            }
            core::hint::spin_loop();
        }
        crate::warn!("gic: distributor writes did not complete");
    }

    /// Lets every priority through the CPU interface and enables group 1 with
    /// `EOImode` 0 (ending an interrupt also deactivates it).
    fn open_cpu_interface() {
        // SAFETY: these registers configure only this vCPU's CPU interface; the
        // runtime keeps PSTATE.I masked, so enabling delivery starts no handler.
        unsafe {
            core::arch::asm!(
                "msr ICC_PMR_EL1, {mask}",
                "msr ICC_BPR1_EL1, xzr",
                "msr ICC_CTLR_EL1, xzr",
                "msr ICC_IGRPEN1_EL1, {enable}",
                "isb",
                mask = in(reg) PRIORITY_MASK_OPEN,
                enable = in(reg) 1u64,
                options(nostack),
            );
        }
    }

    /// Acknowledges the highest-priority pending group 1 interrupt; 1023 if none.
    fn acknowledge() -> u32 {
        let intid: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt of this vCPU's
        // CPU interface; it touches no memory. The runtime ends each one.
        unsafe { core::arch::asm!("mrs {}, ICC_IAR1_EL1", out(reg) intid, options(nostack)) };
        (intid & 0xff_ffff) as u32
    }

    /// Ends (and, with `EOImode` 0, deactivates) interrupt `intid`.
    fn end_of_interrupt(intid: u32) {
        // SAFETY: ICC_EOIR1_EL1 ends an interrupt this vCPU acknowledged; it
        // touches no memory.
        unsafe {
            core::arch::asm!("msr ICC_EOIR1_EL1, {}", "isb", in(reg) u64::from(intid), options(nostack))
        };
    }

    /// Reads the 32-bit GIC register at `address`.
    fn read32(address: u64) -> u32 {
        let value: u32;
        // SAFETY: `address` is a register of the distributor or redistributor
        // window, identity-mapped as device memory; reading it has no effect on
        // memory. One `ldr` without writeback, so the hypervisor can replay it.
        unsafe {
            core::arch::asm!("ldr {value:w}, [{address}]", address = in(reg) address,
                value = out(reg) value, options(nostack, readonly))
        };
        value
    }

    /// Writes the 32-bit GIC register at `address`.
    fn write32(address: u64, value: u32) {
        // SAFETY: as in `read32`; writing a GIC register changes only the
        // interrupt controller's state, no memory of this VM.
        unsafe {
            core::arch::asm!("str {value:w}, [{address}]", address = in(reg) address,
                value = in(reg) value, options(nostack))
        };
    }

    /// Writes the 8-bit GIC register (a priority byte) at `address`.
    fn write8(address: u64, value: u8) {
        // SAFETY: as in `write32`.
        unsafe {
            core::arch::asm!("strb {value:w}, [{address}]", address = in(reg) address,
                value = in(reg) u32::from(value), options(nostack))
        };
    }

    /// Writes the 64-bit GIC register (a router) at `address`.
    fn write64(address: u64, value: u64) {
        // SAFETY: as in `write32`.
        unsafe {
            core::arch::asm!("str {value}, [{address}]", address = in(reg) address,
                value = in(reg) value, options(nostack))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doorbells_map_to_channel_indices() {
        let mut doorbells = Doorbells::default();
        assert!(doorbells.is_empty());
        assert!(doorbells.insert(DOORBELL_INTERRUPT_BASE));
        assert!(doorbells.insert(DOORBELL_INTERRUPT_BASE + 31));
        assert!(doorbells.contains(0) && doorbells.contains(31));
        assert!(!doorbells.contains(1) && !doorbells.contains(32));
        assert_eq!(doorbells, Doorbells(1 | 1 << 31));
    }

    #[test]
    fn an_interrupt_is_taken_once_per_wait() {
        let mut taken = TakenInterrupts::default();
        assert!(taken.insert(79));
        assert!(taken.insert(VIRTUAL_TIMER_INTERRUPT));
        assert!(taken.insert(1019));
        assert!(!taken.insert(79), "a level-sensitive interrupt firing again");
        assert!(!taken.insert(1019));
        assert!(taken.insert(78));
    }

    #[test]
    fn other_interrupts_are_not_doorbells() {
        let mut doorbells = Doorbells::default();
        assert!(!doorbells.insert(VIRTUAL_TIMER_INTERRUPT));
        assert!(!doorbells.insert(DOORBELL_INTERRUPT_BASE - 1));
        assert!(!doorbells.insert(DOORBELL_INTERRUPT_BASE + 32));
        assert!(doorbells.is_empty());
    }
}
