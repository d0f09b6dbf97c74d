//! Symbols of an ELF file, such as the hypervisor image, so tests can find the addresses of
//! functions to stop at and of named statics to read.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use object::{Object as _, ObjectSymbol as _};
use thiserror::Error;

/// What went wrong reading symbols.
#[derive(Debug, Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("could not read the ELF file {path}: {source}; build it first (`cargo xtask build`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not an object file `object` understands.
    #[error("{path} is not a readable ELF file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: object::Error,
    },
    /// The symbol table has no such symbol.
    #[error(
        "{path} has no symbol `{name}`; check the spelling and that the item is `#[no_mangle]` \
         and not removed by the linker"
    )]
    MissingSymbol {
        /// The file.
        path: PathBuf,
        /// The symbol asked for.
        name: String,
    },
}

/// One symbol's address and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    /// The symbol's address (its value).
    pub address: u64,
    /// The symbol's size in bytes, 0 when the symbol table does not say.
    pub size: u64,
}

/// The symbol table and entry point of an ELF file.
#[derive(Debug, Clone)]
pub struct Symbols {
    path: PathBuf,
    entry: u64,
    symbols: HashMap<String, Symbol>,
}

impl Symbols {
    /// Reads the symbols (static and dynamic) and the entry point of the ELF file at `path`.
    ///
    /// When several symbols share a name, the first defined one in the table wins.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ElfError> {
        let path = path.as_ref().to_owned();
        let data =
            std::fs::read(&path).map_err(|source| ElfError::Read { path: path.clone(), source })?;
        let file = object::File::parse(&*data)
            .map_err(|source| ElfError::Parse { path: path.clone(), source })?;
        let mut symbols = HashMap::new();
        for symbol in file.symbols().chain(file.dynamic_symbols()) {
            if symbol.is_undefined() {
                continue;
            }
            let Ok(name) = symbol.name() else { continue };
            if name.is_empty() {
                continue;
            }
            symbols
                .entry(name.to_owned())
                .or_insert(Symbol { address: symbol.address(), size: symbol.size() });
        }
        Ok(Self { path, entry: file.entry(), symbols })
    }

    /// The address of the symbol `name`.
    pub fn address(&self, name: &str) -> Result<u64, ElfError> {
        self.symbol(name).map(|symbol| symbol.address)
    }

    /// The address and size of the symbol `name`.
    pub fn symbol(&self, name: &str) -> Result<Symbol, ElfError> {
        self.symbols.get(name).copied().ok_or_else(|| ElfError::MissingSymbol {
            path: self.path.clone(),
            name: name.to_owned(),
        })
    }

    /// The entry point address from the ELF header.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The file the symbols came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All symbol names, for searching when a name is not known exactly (Rust mangles the
    /// names of items that are not `#[no_mangle]`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.symbols.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_has_symbols() {
        // The running test executable is an ELF file with a symbol table.
        let executable = std::env::current_exe().unwrap();
        let symbols = Symbols::load(&executable).unwrap();
        assert_ne!(symbols.entry(), 0);
        assert!(symbols.address("main").is_ok());
        let error = symbols.address("no_such_symbol_in_this_binary").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("no_such_symbol_in_this_binary"), "{message}");
    }

    #[test]
    fn missing_and_malformed_files_are_errors() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("absent.elf");
        assert!(matches!(Symbols::load(&missing), Err(ElfError::Read { .. })));
        let garbage = directory.path().join("garbage.elf");
        std::fs::write(&garbage, b"not an elf file").unwrap();
        assert!(matches!(Symbols::load(&garbage), Err(ElfError::Parse { .. })));
    }
}
