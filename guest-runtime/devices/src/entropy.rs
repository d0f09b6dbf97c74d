//! Entropy: random bytes from the virtio entropy device (virtio-rng, which
//! QEMU feeds from the host's random source).
//!
//! [`Entropy::fill`] is the API the VMs that own one use (the TCP/IP stack's
//! random seed now; keys and nonces later). Each call asks the device, so
//! every byte comes straight from it; nothing ever falls back to a
//! fixed seed.

/// Why random bytes could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyError {
    /// The device refused the request.
    Device,
    /// The device kept answering with no bytes.
    Stalled,
}

impl core::fmt::Display for EntropyError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Device => write!(formatter, "the entropy device refused a request"),
            Self::Stalled => write!(formatter, "the entropy device gives no bytes"),
        }
    }
}

/// Something that hands out random bytes, possibly fewer than asked for.
pub trait EntropySource {
    /// Writes random bytes to the start of `buffer`; returns how many.
    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, EntropyError>;
}

/// Empty answers in a row after which a source counts as stalled.
pub const STALLED_AFTER: u32 = 8;

/// Fills `buffer` from `source`, asking as often as it takes.
pub fn fill_from(source: &mut impl EntropySource, buffer: &mut [u8]) -> Result<(), EntropyError> {
    let mut filled = 0;
    let mut empty_answers = 0;
    while filled < buffer.len() {
        let count = source.read(&mut buffer[filled..])?.min(buffer.len() - filled);
        if count == 0 {
            empty_answers += 1;
            if empty_answers == STALLED_AFTER {
                return Err(EntropyError::Stalled);
            }
        } else {
            empty_answers = 0;
            filled += count;
        }
    }
    Ok(())
}

/// A random `u64` from `source`.
pub fn random_u64(source: &mut impl EntropySource) -> Result<u64, EntropyError> {
    let mut bytes = [0u8; 8];
    fill_from(source, &mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(target_os = "none")]
pub use device::Entropy;

/// The virtio-rng driver, on the VM.
#[cfg(target_os = "none")]
mod device {
    use super::{fill_from, EntropyError, EntropySource};
    use crate::hal::DmaHal;
    use crate::virtio::Transport;
    use virtio_drivers::device::rng::VirtIORng;

    /// The entropy source: the virtio-rng device.
    pub struct Entropy {
        device: VirtIORng<DmaHal, Transport>,
    }

    impl Entropy {
        /// Sets up the device behind `transport`.
        pub fn new(transport: Transport) -> Result<Self, EntropyError> {
            let device = VirtIORng::new(transport).map_err(|_| EntropyError::Device)?;
            Ok(Self { device })
        }

        /// Fills `buffer` with random bytes from the device.
        pub fn fill(&mut self, buffer: &mut [u8]) -> Result<(), EntropyError> {
            fill_from(self, buffer)
        }
    }

    impl EntropySource for Entropy {
        fn read(&mut self, buffer: &mut [u8]) -> Result<usize, EntropyError> {
            // The request waits for the device's answer on the used ring; the
            // interrupt it also raises is acknowledged here, so its line
            // drops (the serving loop ends the virtual one).
            let result = self.device.request_entropy(buffer).map_err(|_| EntropyError::Device);
            self.device.ack_interrupt();
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers with the byte counts of `answers` in turn (then nothing),
    /// writing a running counter.
    struct Script {
        answers: Vec<Result<usize, EntropyError>>,
        next_byte: u8,
        reads: usize,
    }

    impl Script {
        fn new(answers: Vec<Result<usize, EntropyError>>) -> Self {
            Self { answers, next_byte: 1, reads: 0 }
        }
    }

    impl EntropySource for Script {
        fn read(&mut self, buffer: &mut [u8]) -> Result<usize, EntropyError> {
            let answer = self.answers.get(self.reads).copied().unwrap_or(Ok(0));
            self.reads += 1;
            let count = answer?;
            for byte in buffer.iter_mut().take(count) {
                *byte = self.next_byte;
                self.next_byte += 1;
            }
            Ok(count)
        }
    }

    #[test]
    fn short_answers_are_put_together() {
        let mut source = Script::new(vec![Ok(3), Ok(0), Ok(2), Ok(10)]);
        let mut buffer = [0u8; 8];
        fill_from(&mut source, &mut buffer).unwrap();
        assert_eq!(buffer, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(source.reads, 4);
    }

    #[test]
    fn a_source_that_gives_nothing_is_stalled() {
        let mut source = Script::new(vec![Ok(2)]);
        let mut buffer = [0u8; 4];
        assert_eq!(fill_from(&mut source, &mut buffer), Err(EntropyError::Stalled));
        assert_eq!(source.reads, 1 + STALLED_AFTER as usize);
    }

    #[test]
    fn device_errors_are_passed_on() {
        let mut source = Script::new(vec![Ok(1), Err(EntropyError::Device)]);
        assert_eq!(random_u64(&mut source), Err(EntropyError::Device));
    }

    #[test]
    fn a_seed_takes_eight_bytes_little_endian() {
        let mut source = Script::new(vec![Ok(8)]);
        assert_eq!(random_u64(&mut source), Ok(0x0807_0605_0403_0201));
        // Nothing asked, nothing read.
        let mut source = Script::new(vec![]);
        fill_from(&mut source, &mut []).unwrap();
        assert_eq!(source.reads, 0);
    }
}
