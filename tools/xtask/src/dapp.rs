//! `cargo xtask dapp keygen|build`: publisher keys, and signed dapp packages
//! built from a dapp crate and its `dapp.toml` (see `docs/packages.md`).
//!
//! A publisher key file is TOML, mode 0600:
//!
//! ```toml
//! # Elastos dapp publisher key. ...
//! format = "elastos-dapp-key/1"
//! publisher = "did:key:z6Mk..."
//! secret-key = "<64 hex digits: the ed25519 secret key (seed)>"
//! ```

use crate::environment::{run_checked, step};
use crate::{build::workspace_root, Error, Result};
use elastos_package::{
    Approval, Capabilities, Capability, Limits, Manifest, ManifestError, Package, PackageError,
    PublisherKey, RestartPolicy, SignKey, SignKeys, SignPolicy, Version, DEFAULT_ENTRY,
};
use serde::Deserialize;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target dapps are built for.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The `format` line of a key file.
const KEY_FORMAT: &str = "elastos-dapp-key/1";

/// `cargo xtask dapp ...`.
#[derive(clap::Subcommand)]
pub enum DappCommand {
    /// Write a new ed25519 publisher key (mode 0600) and print its did:key.
    Keygen {
        /// The key file to create; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Build the dapp crate in DIRECTORY for WebAssembly, pack it with its
    /// dapp.toml and sign it.
    Build {
        /// The dapp's folder: Cargo.toml (a cdylib) and dapp.toml.
        directory: PathBuf,
        /// The publisher key file (`cargo xtask dapp keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The package file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a package as chainvm does and print what it holds.
    Inspect {
        /// The package file.
        file: PathBuf,
    },
    /// Build and sign the example dapps into target/elastos/dapps/ with the
    /// workspace's own example publisher key.
    Examples,
}

/// What can go wrong making keys and packages.
#[derive(Debug, thiserror::Error)]
pub enum DappError {
    /// `dapp.toml` is not TOML of the expected shape (a type, an unknown key).
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A `dapp.toml` value is not one the format knows.
    #[error("dapp.toml: {field}: {message}")]
    Value {
        /// The field, as `dapp.toml` names it.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A `dapp.toml` value breaks a rule of the manifest.
    #[error("dapp.toml: {0}")]
    Manifest(ManifestError),
    /// The key file is unusable.
    #[error("{path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `keygen` was asked to write over a file.
    #[error("{0} already exists; a key file is never overwritten (choose another --out)")]
    KeyExists(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// The dapp's Cargo.toml does not describe a WebAssembly library.
    #[error("{path}: {reason}")]
    Crate {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The package could not be made, or is not valid.
    #[error("{0}")]
    Package(PackageError),
}

/// Runs a `dapp` command.
pub fn run(command: DappCommand) -> Result<()> {
    match command {
        DappCommand::Keygen { out } => {
            let publisher = keygen(&out)?;
            step(&format!("wrote a new publisher key to {} (mode 0600)", out.display()));
            println!("{}", publisher.did_key());
            Ok(())
        }
        DappCommand::Build { directory, key, out } => build(&directory, &key, &out),
        DappCommand::Inspect { file } => inspect(&file),
        DappCommand::Examples => {
            let folder = build_examples()?;
            step(&format!("the example packages are in {}", folder.display()));
            Ok(())
        }
    }
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::File { path: path.display().to_string(), source }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Creates a key file at `path` with a fresh secret key; refuses to replace a file.
/// The example dapps, built and signed with a publisher key of the
/// workspace's own (`target/elastos/example-publisher.key`, made once) into
/// `target/elastos/dapps/NAME.elastos`, for the tests and the benchmarks.
/// Returns the folder.
pub fn build_examples() -> Result<std::path::PathBuf> {
    let root = crate::build::workspace_root();
    let key = root.join("target/elastos/example-publisher.key");
    if !key.exists() {
        keygen(&key)?;
    }
    let folder = root.join("target/elastos/dapps");
    std::fs::create_dir_all(&folder).map_err(file_error(&folder))?;
    for name in EXAMPLES {
        let source = root.join("guest-runtime/examples/dapps").join(name);
        build(&source, &key, &folder.join(format!("{name}.elastos")))?;
    }
    Ok(folder)
}

/// The example dapps under `guest-runtime/examples/dapps/`.
pub const EXAMPLES: [&str; 3] = ["chat", "notes", "compute"];

fn keygen(path: &Path) -> Result<PublisherKey> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|error| DappError::Random(error.to_string()))?;
    let publisher = PublisherKey::from_secret_key(&secret);
    let text = format!(
        "# Elastos dapp publisher key. Keep it secret: whoever holds it can publish\n\
         # packages, and updates of installed dapps, in this publisher's name.\n\
         format = \"{KEY_FORMAT}\"\n\
         publisher = \"{}\"\n\
         secret-key = \"{}\"\n",
        publisher.did_key(),
        hex(&secret)
    );
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(
            |source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    Error::from(DappError::KeyExists(path.display().to_string()))
                }
                _ => file_error(path)(source),
            },
        )?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(file_error(path))?;
    Ok(publisher)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KeyFile {
    format: String,
    publisher: String,
    secret_key: String,
}

/// Reads a key file's secret key, checking it against the publisher it names.
fn read_key(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(file_error(path))?;
    let bad = |reason: String| DappError::KeyFile { path: path.display().to_string(), reason };
    let mode = std::fs::metadata(path).map_err(file_error(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        eprintln!(
            "warning: {} can be read by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        );
    }
    let file: KeyFile = toml::from_str(&text)
        .map_err(|error| bad(format!("not a key file: {}", error.message())))?;
    if file.format != KEY_FORMAT {
        return Err(bad(format!("format {:?} is not {KEY_FORMAT:?}", file.format)).into());
    }
    let digits = file.secret_key.as_bytes();
    let valid = digits.len() == 64 && digits.iter().all(u8::is_ascii_hexdigit);
    if !valid {
        return Err(bad("secret-key is not 64 hexadecimal digits".into()).into());
    }
    let mut secret = [0u8; 32];
    for (byte, pair) in secret.iter_mut().zip(digits.chunks(2)) {
        // Both characters were checked to be hexadecimal digits just above.
        *byte = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0);
    }
    if PublisherKey::from_secret_key(&secret).did_key() != file.publisher {
        return Err(bad("damaged: its publisher is not the one of its secret key".into()).into());
    }
    Ok(secret)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DappToml {
    dapp: DappTable,
    #[serde(default)]
    limits: LimitsTable,
    sign: Option<SignTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DappTable {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    entry: Option<String>,
    restart: Option<String>,
    restart_limit: Option<u32>,
    #[serde(default)]
    capabilities: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LimitsTable {
    memory_pages: Option<u32>,
    fuel_per_slice: Option<u64>,
    cpu_budget: Option<u64>,
    messages_per_minute: Option<u32>,
    storage_quota: Option<u64>,
    storage_writes_per_minute: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SignTable {
    keys: Option<Vec<String>>,
    payload_kinds: Vec<String>,
    per_minute: Option<u32>,
    approval: Option<String>,
}

fn value_error(field: &'static str, message: String) -> DappError {
    DappError::Value { field, message }
}

/// The manifest `dapp.toml` (its text) describes, published by `publisher`,
/// after every check of the format.
pub fn manifest_from_toml(text: &str, publisher: PublisherKey) -> Result<Manifest, DappError> {
    let file: DappToml = toml::from_str(text).map_err(|error| DappError::Syntax {
        path: "dapp.toml".into(),
        message: error.to_string().trim_end().replace('\n', "\n    "),
    })?;
    let dapp = file.dapp;
    let version = Version::parse(&dapp.version).ok_or_else(|| {
        value_error(
            "dapp.version",
            format!("{:?} is not MAJOR.MINOR.PATCH (such as \"1.2.0\")", dapp.version),
        )
    })?;
    let restart = match (dapp.restart.as_deref().unwrap_or("stop"), dapp.restart_limit) {
        ("stop", None) => RestartPolicy::Stop,
        ("stop", Some(_)) => {
            return Err(value_error(
                "dapp.restart-limit",
                "only allowed with restart = \"restart\"".into(),
            ))
        }
        ("restart", limit) => RestartPolicy::Restart { limit },
        (other, _) => {
            return Err(value_error(
                "dapp.restart",
                format!("{other:?} is neither \"stop\" nor \"restart\""),
            ))
        }
    };
    let mut capabilities = Capabilities::NONE;
    for name in &dapp.capabilities {
        let capability = Capability::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Capability::ALL.iter().map(|known| known.name()).collect();
            value_error(
                "dapp.capabilities",
                format!("{name:?} is not a capability (they are: {})", known.join(", ")),
            )
        })?;
        if !capabilities.insert(capability) {
            return Err(value_error("dapp.capabilities", format!("{name:?} is listed twice")));
        }
    }
    let defaults = Limits::DEFAULT;
    let given = file.limits;
    let limits = Limits {
        memory_pages: given.memory_pages.unwrap_or(defaults.memory_pages),
        fuel_per_slice: given.fuel_per_slice.unwrap_or(defaults.fuel_per_slice),
        cpu_budget: given.cpu_budget.unwrap_or(defaults.cpu_budget),
        messages_per_minute: given.messages_per_minute.unwrap_or(defaults.messages_per_minute),
        storage_quota: given.storage_quota.unwrap_or(defaults.storage_quota),
        storage_writes_per_minute: given
            .storage_writes_per_minute
            .unwrap_or(defaults.storage_writes_per_minute),
    };
    let sign = file.sign.map(sign_policy).transpose()?;
    let manifest = Manifest {
        name: dapp.name,
        version,
        description: dapp.description,
        publisher,
        entry: dapp.entry.unwrap_or_else(|| DEFAULT_ENTRY.into()),
        restart,
        capabilities,
        limits,
        sign,
    };
    manifest.validate().map_err(DappError::Manifest)?;
    Ok(manifest)
}

fn sign_policy(table: SignTable) -> Result<SignPolicy, DappError> {
    let mut keys = SignKeys::default();
    for name in table.keys.unwrap_or_else(|| vec!["dapp".into()]) {
        let key = SignKey::from_name(&name).ok_or_else(|| {
            value_error("sign.keys", format!("{name:?} is neither \"node\" nor \"dapp\""))
        })?;
        if !keys.insert(key) {
            return Err(value_error("sign.keys", format!("{name:?} is listed twice")));
        }
    }
    let approval = match table.approval.as_deref().unwrap_or("always") {
        "always" => Approval::Always,
        "never" => Approval::Never,
        other => {
            return Err(value_error(
                "sign.approval",
                format!("{other:?} is neither \"never\" nor \"always\""),
            ))
        }
    };
    Ok(SignPolicy {
        keys,
        payload_kinds: table.payload_kinds,
        per_minute: table.per_minute.unwrap_or(SignPolicy::DEFAULT_PER_MINUTE),
        approval,
    })
}

/// The name of the library a crate's Cargo.toml (its text) builds, which
/// must be a `cdylib`.
fn library_name(text: &str, path: &Path) -> Result<String, DappError> {
    let bad =
        |reason: &str| DappError::Crate { path: path.display().to_string(), reason: reason.into() };
    let table: toml::Table =
        toml::from_str(text).map_err(|error| bad(&format!("not TOML: {}", error.message())))?;
    let package_name = table
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| bad("no [package] name: the folder must hold the dapp's own crate"))?;
    let library = table.get("lib");
    let is_cdylib = library
        .and_then(|library| library.get("crate-type"))
        .and_then(toml::Value::as_array)
        .is_some_and(|types| types.iter().any(|kind| kind.as_str() == Some("cdylib")));
    if !is_cdylib {
        return Err(bad("[lib] crate-type must include \"cdylib\" to build a WebAssembly module"));
    }
    let name = library
        .and_then(|library| library.get("name"))
        .and_then(toml::Value::as_str)
        .unwrap_or(package_name);
    Ok(name.replace('-', "_"))
}

/// `cargo xtask dapp build DIRECTORY --key KEY --out OUT`.
fn build(directory: &Path, key_path: &Path, out: &Path) -> Result<()> {
    let secret = read_key(key_path)?;
    let publisher = PublisherKey::from_secret_key(&secret);
    let manifest_path = directory.join("dapp.toml");
    let text = std::fs::read_to_string(&manifest_path).map_err(file_error(&manifest_path))?;
    let manifest = manifest_from_toml(&text, publisher).map_err(|error| match error {
        DappError::Syntax { message, .. } => {
            DappError::Syntax { path: manifest_path.display().to_string(), message }
        }
        other => other,
    })?;
    let cargo_path = directory.join("Cargo.toml");
    let cargo_text = std::fs::read_to_string(&cargo_path).map_err(file_error(&cargo_path))?;
    let library = library_name(&cargo_text, &cargo_path)?;

    crate::environment::ensure_rust_target(WASM_TARGET)?;
    let target_directory = workspace_root().join("target").join("dapps");
    step(&format!("building {} for {WASM_TARGET}", directory.display()));
    run_checked(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
            .arg(&cargo_path)
            .env("CARGO_TARGET_DIR", &target_directory),
    )?;
    let module_path =
        target_directory.join(WASM_TARGET).join("release").join(format!("{library}.wasm"));
    let module = std::fs::read(&module_path).map_err(file_error(&module_path))?;

    let package = elastos_package::pack(&manifest, &module, &secret).map_err(DappError::Package)?;
    // What chainvm will check, checked before anything is written.
    let parsed = Package::parse(&package).map_err(DappError::Package)?;
    let temporary = out.with_extension("partial");
    std::fs::write(&temporary, &package).map_err(file_error(&temporary))?;
    std::fs::rename(&temporary, out).map_err(file_error(out))?;
    step(&format!("wrote {}", out.display()));
    print_summary(&parsed);
    Ok(())
}

fn print_summary(package: &Package<'_>) {
    let manifest = package.manifest();
    println!("name       {}", manifest.name);
    println!("version    {}", manifest.version);
    println!("publisher  {}", package.publisher().did_key());
    println!(
        "size       {} bytes (module {} bytes)",
        package.bytes().len(),
        package.module().len()
    );
    println!("digest     sha256:{}", hex(&package.digest()));
}

/// `cargo xtask dapp inspect FILE`.
fn inspect(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(file_error(path))?;
    let package = Package::parse(&bytes).map_err(DappError::Package)?;
    print_summary(&package);
    let manifest = package.manifest();
    if !manifest.description.is_empty() {
        println!("about      {}", manifest.description);
    }
    let capabilities: Vec<&str> = manifest.capabilities.iter().map(Capability::name).collect();
    println!("entry      {}", manifest.entry);
    println!("grants     {}", capabilities.join(", "));
    println!("limits     {:?}", manifest.limits);
    println!("restart    {:?}", manifest.restart);
    if let Some(sign) = &manifest.sign {
        println!("sign       {sign:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher() -> PublisherKey {
        PublisherKey::from_secret_key(&[3; 32])
    }

    fn error_of(text: &str) -> String {
        manifest_from_toml(text, publisher()).expect_err("dapp.toml is wrong").to_string()
    }

    const FULL: &str = r#"
        [dapp]
        name = "chat"
        version = "1.2.0"
        description = "Talk to peers"
        entry = "start"
        restart = "restart"
        restart-limit = 5
        capabilities = ["log", "clock", "random", "message", "storage", "identity", "sign"]
        [limits]
        memory-pages = 32
        fuel-per-slice = 200000
        cpu-budget = 60000000
        messages-per-minute = 100
        storage-quota = 4096
        storage-writes-per-minute = 10
        [sign]
        keys = ["dapp", "node"]
        payload-kinds = ["message"]
        per-minute = 30
        approval = "never"
    "#;

    #[test]
    fn every_field_is_read() {
        let manifest = manifest_from_toml(FULL, publisher()).expect("valid");
        assert_eq!(manifest.name, "chat");
        assert_eq!(manifest.version, Version::new(1, 2, 0));
        assert_eq!(manifest.description, "Talk to peers");
        assert_eq!(manifest.entry, "start");
        assert_eq!(manifest.restart, RestartPolicy::Restart { limit: Some(5) });
        assert_eq!(manifest.capabilities, Capabilities::ALL);
        assert_eq!(
            manifest.limits,
            Limits {
                memory_pages: 32,
                fuel_per_slice: 200_000,
                cpu_budget: 60_000_000,
                messages_per_minute: 100,
                storage_quota: 4096,
                storage_writes_per_minute: 10,
            }
        );
        assert_eq!(
            manifest.sign,
            Some(SignPolicy {
                keys: SignKeys { node: true, dapp: true },
                payload_kinds: vec!["message".into()],
                per_minute: 30,
                approval: Approval::Never,
            })
        );
        assert_eq!(manifest.publisher, publisher());
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let text = "[dapp]\nname = \"notes\"\nversion = \"0.1.0\"\n";
        let manifest = manifest_from_toml(text, publisher()).expect("valid");
        assert_eq!(manifest.entry, "elastos_main");
        assert_eq!(manifest.restart, RestartPolicy::Stop);
        assert_eq!(manifest.capabilities, Capabilities::NONE);
        assert_eq!(manifest.limits, Limits::DEFAULT);
        assert_eq!(manifest.description, "");
        assert_eq!(manifest.sign, None);
        let signing = "[dapp]\nname = \"s\"\nversion = \"1.0.0\"\ncapabilities = [\"sign\"]\n\
                       [sign]\npayload-kinds = [\"vote\"]\n";
        let policy = manifest_from_toml(signing, publisher()).expect("valid").sign;
        assert_eq!(
            policy,
            Some(SignPolicy {
                keys: SignKeys { node: false, dapp: true },
                payload_kinds: vec!["vote".into()],
                per_minute: 60,
                approval: Approval::Always,
            })
        );
    }

    #[test]
    fn each_mistake_is_named() {
        let with = |from: &str, to: &str| {
            let changed = FULL.replacen(from, to, 1);
            assert_ne!(changed, FULL, "{from} is in the example");
            error_of(&changed)
        };
        assert_eq!(
            with("memory-pages = 32", "memory-pages = 5000"),
            "dapp.toml: limits.memory-pages: 5000 is over the maximum 1024"
        );
        assert_eq!(
            with("\"1.2.0\"", "\"1.2\""),
            "dapp.toml: dapp.version: \"1.2\" is not MAJOR.MINOR.PATCH (such as \"1.2.0\")"
        );
        assert_eq!(
            with("\"chat\"", "\"Chat\""),
            "dapp.toml: dapp.name: only lowercase letters, digits and '-', starting with a \
             letter are allowed"
        );
        assert!(with("\"clock\"", "\"network\"")
            .starts_with("dapp.toml: dapp.capabilities: \"network\" is not a capability"));
        assert_eq!(
            with("\"clock\"", "\"log\""),
            "dapp.toml: dapp.capabilities: \"log\" is listed twice"
        );
        assert_eq!(
            with("restart = \"restart\"", "restart = \"stop\""),
            "dapp.toml: dapp.restart-limit: only allowed with restart = \"restart\""
        );
        assert_eq!(
            with("restart = \"restart\"", "restart = \"always\""),
            "dapp.toml: dapp.restart: \"always\" is neither \"stop\" nor \"restart\""
        );
        assert_eq!(
            with("[\"dapp\", \"node\"]", "[\"dapp\", \"chain\"]"),
            "dapp.toml: sign.keys: \"chain\" is neither \"node\" nor \"dapp\""
        );
        assert_eq!(
            with("approval = \"never\"", "approval = \"sometimes\""),
            "dapp.toml: sign.approval: \"sometimes\" is neither \"never\" nor \"always\""
        );
        assert_eq!(
            with(", \"sign\"]", "]"),
            "dapp.toml: sign: a [sign] table needs the \"sign\" capability in dapp.capabilities"
        );
        assert_eq!(
            with("cpu-budget = 60000000", "cpu-budget = 1000"),
            "dapp.toml: limits.cpu-budget: must be at least limits.fuel-per-slice"
        );
        assert_eq!(
            with("restart-limit = 5", "restart-limit = 0"),
            "dapp.toml: dapp.restart-limit: 0 is under the minimum 1"
        );
        assert!(
            with("entry = \"start\"", "entry = \"9start\"").starts_with("dapp.toml: dapp.entry:")
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let unknown = error_of(&FULL.replacen("entry =", "entry-point =", 1));
        assert!(unknown.starts_with("dapp.toml: ") && unknown.contains("entry-point"), "{unknown}");
        let unknown_table = error_of(&format!("{FULL}\n[network]\nopen = true\n"));
        assert!(unknown_table.contains("network"), "{unknown_table}");
        let negative = error_of(&FULL.replacen("memory-pages = 32", "memory-pages = -1", 1));
        assert!(negative.contains("memory-pages") || negative.contains("-1"), "{negative}");
        let missing = error_of("[dapp]\nname = \"x\"\n");
        assert!(missing.contains("version"), "{missing}");
    }

    #[test]
    fn a_crate_must_build_a_cdylib() {
        let path = Path::new("Cargo.toml");
        let cdylib = "[package]\nname = \"chat-dapp\"\n[lib]\ncrate-type = [\"cdylib\"]\n";
        assert_eq!(library_name(cdylib, path).expect("a cdylib"), "chat_dapp");
        let renamed = format!("{cdylib}name = \"chat\"\n");
        assert_eq!(library_name(&renamed, path).expect("a cdylib"), "chat");
        assert!(library_name("[package]\nname = \"x\"\n", path).is_err());
        assert!(library_name("[workspace]\nmembers = []\n", path).is_err());
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let folder = std::env::temp_dir().join(format!("xtask-dapp-keys-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("a temporary folder");
        let path = folder.join("publisher.key");
        let _ = std::fs::remove_file(&path);
        let publisher = keygen(&path).expect("a new key");
        let mode = std::fs::metadata(&path).expect("written").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let secret = read_key(&path).expect("a key file");
        assert_eq!(PublisherKey::from_secret_key(&secret), publisher);
        let before = std::fs::read(&path).expect("written");
        let again = keygen(&path).expect_err("an existing file is kept");
        assert!(again.to_string().contains("already exists"), "{again}");
        assert_eq!(std::fs::read(&path).expect("kept"), before);
        // A second key is another key.
        let other = folder.join("other.key");
        let _ = std::fs::remove_file(&other);
        assert_ne!(keygen(&other).expect("a new key"), publisher);
        // A key file whose publisher line does not match its secret.
        let text = String::from_utf8(before).expect("text");
        let damaged = folder.join("damaged.key");
        let other_did = PublisherKey::from_secret_key(&[1; 32]).did_key();
        std::fs::write(&damaged, text.replace(&publisher.did_key(), &other_did)).expect("written");
        let error = read_key(&damaged).expect_err("damaged").to_string();
        assert!(error.contains("damaged"), "{error}");
        std::fs::remove_dir_all(&folder).expect("removed");
    }
}
