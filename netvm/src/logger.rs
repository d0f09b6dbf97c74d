//! Warnings and errors that the drivers log (through the `log` crate) go to
//! the console, tagged with their level and source.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The most detailed level printed.
pub const LEVEL: Level = Level::Warn;

/// Prints log records on the console.
struct ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= LEVEL
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            guest_runtime::warn!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Sends log records to the console from now on. Does nothing if another
/// logger is already in place.
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_warnings_and_errors_are_printed() {
        let logger = ConsoleLogger;
        let metadata = |level| Metadata::builder().level(level).build();
        assert!(logger.enabled(&metadata(Level::Error)));
        assert!(logger.enabled(&metadata(Level::Warn)));
        assert!(!logger.enabled(&metadata(Level::Info)));
        assert!(!logger.enabled(&metadata(Level::Trace)));
    }
}
