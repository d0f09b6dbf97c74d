//! Wall time from the real-time clock: the PL031 (ARM PrimeCell RTC, DDI
//! 0224), whose data register counts seconds since the Unix epoch on QEMU's
//! `virt` machine (QEMU starts it at the host's time).
//!
//! The manifest gives chainvm the clock's page (`clock`), mapped at its
//! physical address; reading the data register is all that is needed.

/// Offset of RTCDR, the data register (seconds).
const DATA_REGISTER: u64 = 0x000;
/// Offset of the first PrimeCell identification register, RTCPeriphID0.
const PERIPHERAL_ID0: u64 = 0xfe0;
/// RTCPeriphID0 of a PL031.
const PL031_ID0: u32 = 0x31;

/// The real-time clock at `base` (its page mapped in this VM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealTimeClock {
    base: u64,
}

impl RealTimeClock {
    /// The clock in `device`'s window, if a PL031 answers there.
    #[cfg(target_os = "none")]
    pub fn probe(device: &boards::Device) -> Option<Self> {
        let clock = Self { base: device.mmio.base };
        (device.mmio.size >= 0x1000 && clock.read(PERIPHERAL_ID0) & 0xff == PL031_ID0)
            .then_some(clock)
    }

    /// Seconds since the Unix epoch.
    #[cfg(target_os = "none")]
    pub fn seconds(&self) -> u64 {
        u64::from(self.read(DATA_REGISTER))
    }

    #[cfg(target_os = "none")]
    #[allow(unsafe_code, reason = "a device register is read by its address")]
    fn read(&self, offset: u64) -> u32 {
        // SAFETY: `base` is the PL031's page, which the manifest gives this
        // VM and the runtime maps as device memory; `offset` is one of the
        // PL031's 32-bit registers inside it, and reading them has no side
        // effect.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }
}

#[cfg(not(target_os = "none"))]
const _: (u64, u64, u32) = (DATA_REGISTER, PERIPHERAL_ID0, PL031_ID0);
