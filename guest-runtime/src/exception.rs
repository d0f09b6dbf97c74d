//! Fatal events: exceptions and panics. Each is reported on the console
//! (for an exception: which vector, `ESR_EL1`, `ELR_EL1`, `FAR_EL1`) and
//! stops the VM with `VM_STOP(FAILED)`, so that the hypervisor's restart
//! policy decides what happens next.

use core::fmt;

/// Where an exception came from, by its vector (0 to 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vector(pub u64);

impl Vector {
    /// The kind of exception: synchronous, IRQ, FIQ or SError.
    pub const fn kind(self) -> &'static str {
        match self.0 % 4 {
            0 => "synchronous exception",
            1 => "IRQ",
            2 => "FIQ",
            _ => "SError",
        }
    }

    /// Where it was taken from.
    pub const fn origin(self) -> &'static str {
        match self.0 / 4 {
            0 => "EL1 with SP_EL0",
            1 => "EL1",
            2 => "EL0 (AArch64)",
            _ => "EL0 (AArch32)",
        }
    }
}

impl fmt::Display for Vector {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "{} from {} (vector {})", self.kind(), self.origin(), self.0)
    }
}

/// The exception class, `ESR_EL1.EC`, in words where it is a common one.
pub const fn exception_class_name(syndrome: u64) -> &'static str {
    match (syndrome >> 26) & 0x3f {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "WFI or WFE",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "system register access",
        0x20 | 0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 | 0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2f => "SError",
        0x3c => "BRK",
        _ => "other",
    }
}

/// The report of an exception, as printed.
pub struct ExceptionReport {
    /// The vector taken.
    pub vector: Vector,
    /// `ESR_EL1`.
    pub syndrome: u64,
    /// `ELR_EL1`: where it happened.
    pub link: u64,
    /// `FAR_EL1`: the faulting address, for aborts.
    pub fault_address: u64,
}

impl fmt::Display for ExceptionReport {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(
            formatter,
            "fatal {}: {}, ESR {:#x}, ELR {:#x}, FAR {:#x}",
            self.vector,
            exception_class_name(self.syndrome),
            self.syndrome,
            self.link,
            self.fault_address
        )
    }
}

#[cfg(target_os = "none")]
mod handlers {
    use super::{ExceptionReport, Vector};
    use aarch64_cpu::registers::{Readable, ELR_EL1, ESR_EL1, FAR_EL1};
    use core::sync::atomic::{AtomicBool, Ordering};

    /// Set while a fatal event is being reported: a second one (a fault while
    /// printing) stops the VM at once. Plain loads and stores only, since the
    /// MMU may be off.
    static REPORTING: AtomicBool = AtomicBool::new(false);

    /// Whether this is the first fatal event.
    fn first_report() -> bool {
        let first = !REPORTING.load(Ordering::Relaxed);
        REPORTING.store(true, Ordering::Relaxed);
        first
    }

    /// Every exception vector comes here, on the exception stack.
    #[no_mangle]
    extern "C" fn guest_runtime_exception(vector: u64) -> ! {
        if first_report() {
            let report = ExceptionReport {
                vector: Vector(vector),
                syndrome: ESR_EL1.get(),
                link: ELR_EL1.get(),
                fault_address: FAR_EL1.get(),
            };
            crate::warn!("{report}");
        }
        crate::hypercall::stop_failed()
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        if first_report() {
            crate::warn!("panic: {info}");
        }
        crate::hypercall::stop_failed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_named_by_kind_and_origin() {
        assert_eq!(Vector(4).to_string(), "synchronous exception from EL1 (vector 4)");
        assert_eq!(Vector(5).kind(), "IRQ");
        assert_eq!(Vector(0).origin(), "EL1 with SP_EL0");
        assert_eq!(Vector(11).to_string(), "SError from EL0 (AArch64) (vector 11)");
        assert_eq!(Vector(14).kind(), "FIQ");
    }

    #[test]
    fn a_report_names_the_syndrome_and_addresses() {
        let report = ExceptionReport {
            vector: Vector(4),
            syndrome: 0x9600_0010,
            link: 0x4000_1234,
            fault_address: 0x10,
        };
        assert_eq!(
            report.to_string(),
            "fatal synchronous exception from EL1 (vector 4): data abort, \
             ESR 0x96000010, ELR 0x40001234, FAR 0x10"
        );
        assert_eq!(exception_class_name(0), "unknown reason (undefined instruction)");
        assert_eq!(exception_class_name(0x3c << 26), "BRK");
    }
}
