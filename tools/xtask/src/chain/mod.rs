//! `cargo xtask chain check DIR...`: runs the verification crate
//! (`chain-verify`) over every test-vector file found under the folders given
//! and prints one line per case, then `N passed, M failed`.
//!
//! Each vector format has a reader module. A reader looks at a file and says
//! whether it is of its format ([`Reader`] returns `None` when it is not);
//! the first reader that takes a file turns it into [`Case`]s. A file that no
//! reader takes, or that a reader cannot parse, is a failure: the vector
//! folders hold nothing else besides their READMEs.

mod cometbft;
mod did_key;
mod ecdsa;
mod ed25519;
mod elastos_did;
mod evm;

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The verdict of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The crate's verdict is the expected one.
    Right,
    /// The crate's verdict differs from the expected one.
    Wrong {
        /// The verdict the vector states.
        expected: String,
        /// The verdict the crate reached.
        got: String,
    },
}

/// One case of a vector file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case's name within its file (an id, an index, a description).
    pub name: String,
    /// How it went.
    pub outcome: Outcome,
}

impl Case {
    /// A case whose verdict `got` is compared with `expected`.
    pub fn compare(
        name: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        let (expected, got) = (expected.into(), got.into());
        let outcome =
            if expected == got { Outcome::Right } else { Outcome::Wrong { expected, got } };
        Self { name: name.into(), outcome }
    }
}

/// What a reader makes of a file: `None` when the file is not of its format,
/// otherwise its cases or why it cannot be read.
pub type Reader = fn(path: &Path, text: &str) -> Option<Result<Vec<Case>, String>>;

/// Every reader, in the order they are asked.
const READERS: [Reader; 6] =
    [did_key::read, elastos_did::read, ed25519::read, ecdsa::read, cometbft::read, evm::read];

/// Whether `path` is documentation rather than vectors.
fn is_documentation(path: &Path) -> bool {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
    name.starts_with("README") || name.ends_with(".md") || name.ends_with(".txt")
}

/// Every file under `folder`, sorted, documentation left out.
fn files_under(folder: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(folder)
        .map_err(|source| Error::File { path: folder.display().to_string(), source })?;
    let mut paths: Vec<PathBuf> =
        entries.filter_map(|entry| entry.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            files_under(&path, files)?;
        } else if !is_documentation(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// The cases of one file, or why it cannot be read.
pub fn cases_of(path: &Path) -> Result<Vec<Case>, String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    READERS
        .iter()
        .find_map(|reader| reader(path, &text))
        .unwrap_or_else(|| Err("not a vector file of any known format".into()))
}

/// Checks every vector file under `folders`; prints a line per case and the
/// totals. Returns whether everything passed.
pub fn check(folders: &[PathBuf]) -> Result<bool> {
    let mut files = Vec::new();
    for folder in folders {
        if folder.is_file() {
            files.push(folder.clone());
        } else {
            files_under(folder, &mut files)?;
        }
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let shown = file.display();
        match cases_of(file) {
            Ok(cases) => {
                for case in cases {
                    match case.outcome {
                        Outcome::Right => {
                            passed += 1;
                            println!("ok {shown}#{}", case.name);
                        }
                        Outcome::Wrong { expected, got } => {
                            failed += 1;
                            println!("WRONG {shown}#{} expected={expected} got={got}", case.name);
                        }
                    }
                }
            }
            Err(reason) => {
                failed += 1;
                println!("UNREADABLE {shown}: {reason}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}
