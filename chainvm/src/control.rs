//! What the `elastos` command in Linux can ask of the Elastos side, answered
//! from the registry of installed dapps and the supervisor of the app VMs
//! (the `elastos-control` crate's [`ControlService`]).

use crate::keys::NodeKey;
use crate::registry::{Registry, RegistryError};
use crate::signing::SigningService;
use crate::supervisor::{Assignment, Outbox, Supervisor};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use chain_verify::did_key::DidKey;
use elastos_control::{
    AuditEntry, ControlError, ControlService, DappInfo, DappState, ErrorKind, NodeIdentity,
    NodeStatus, PendingRequest, Reply, Ticket, VmStatus,
};
use elastos_package::{Capabilities, Limits, Manifest, Package, SignKeys, SystemPolicy};
use elastos_store::BlockDevice;
use guest_runtime::identity::NoKey;

/// What this system lets dapps have: every capability, and limits that fit
/// an app VM (64 MiB of RAM: at most 32 MiB of linear memory).
pub const SYSTEM_POLICY: SystemPolicy = SystemPolicy {
    capabilities: Capabilities::ALL,
    limits: Limits { memory_pages: 512, ..Limits::MAXIMUM },
    sign_keys: SignKeys { node: true, dapp: true },
    sign_per_minute: 600,
    unattended_signing: true,
};

/// The Elastos side's state that the control service reads and changes.
pub struct Node<D: BlockDevice> {
    /// The installed dapps and their storage.
    pub registry: Registry<D>,
    /// The app VMs and what runs in them.
    pub supervisor: Supervisor,
    /// The node's identity, a `did:key` (empty until chainvm holds keys).
    pub identity: String,
    /// The other VMs' states, for `elastos status`.
    pub vms: Vec<VmStatus>,
    /// The node key's signing service, its approvals and audit log.
    pub signing: SigningService,
}

impl<D: BlockDevice> Node<D> {
    /// What `elastos list` says of `name`, if installed.
    pub fn info(&mut self, name: &str) -> Result<DappInfo, ControlError> {
        let manifest = self.registry.manifest(name).map_err(internal)?.ok_or_else(|| {
            ControlError::new(ErrorKind::NotFound, format!("no dapp {name} is installed"))
        })?;
        Ok(self.info_of(&manifest))
    }

    fn info_of(&self, manifest: &Manifest) -> DappInfo {
        let state = self.supervisor.state(&manifest.name).unwrap_or(DappState::Installed);
        DappInfo {
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            publisher: manifest.publisher.did_key(),
            state,
            slot: self.supervisor.slot_of(&manifest.name).map(|slot| slot as u32 + 1),
            capabilities: manifest.capabilities.iter().map(|cap| cap.name().to_string()).collect(),
        }
    }

    /// Starts `name` in a free app VM; `ticket` is answered once it runs.
    pub fn start_dapp(
        &mut self,
        name: &str,
        ticket: Option<Ticket<DappInfo>>,
        outbox: &mut impl Outbox,
        seed: [u8; 32],
        wall_clock_ns: u64,
    ) -> Result<(), ControlError> {
        if self.supervisor.is_active(name) {
            return Err(ControlError::new(
                ErrorKind::InvalidState,
                format!("{name} is already running"),
            ));
        }
        let Some(bytes) = self.registry.package(name).map_err(internal)? else {
            return Err(ControlError::new(
                ErrorKind::NotFound,
                format!("no dapp {name} is installed"),
            ));
        };
        let Some(slot) = self.supervisor.idle_slot() else {
            return Err(ControlError::new(
                ErrorKind::Busy,
                format!("every app VM slot is busy ({} slots)", self.supervisor.slot_count()),
            ));
        };
        // Verified at install; checked again, since the disk is not trusted.
        let package = Package::parse(&bytes).map_err(|error| {
            ControlError::new(
                ErrorKind::Internal,
                format!("the stored package is damaged: {error}"),
            )
        })?;
        let assignment = Assignment {
            manifest: package.manifest(),
            manifest_bytes: package.manifest_bytes(),
            module: package.module(),
            module_digest: package.module_digest(),
            wall_clock_ns,
            seed,
        };
        self.supervisor.start(slot, &assignment, ticket, outbox)?;
        self.registry.set_wanted_running(name, true).map_err(internal)
    }

    /// Turns a supervisor's answer into the command's.
    pub fn completion(
        &mut self,
        name: &str,
        result: Result<DappState, ControlError>,
    ) -> Result<DappInfo, ControlError> {
        result?;
        self.info(name)
    }
}

/// What `elastos identity` says of the node key: its `did:key` and the DID
/// document it resolves to.
pub fn identity_of(key: Result<&NodeKey, NoKey>) -> Result<NodeIdentity, ControlError> {
    let key =
        key.map_err(|_| ControlError::new(ErrorKind::NotFound, "the node has no identity"))?;
    let did_key = DidKey::from_public_key(&key.public_key()).map_err(|error| {
        ControlError::new(
            ErrorKind::Internal,
            format!("the node key is not a usable ed25519 key ({error:?})"),
        )
    })?;
    Ok(NodeIdentity { did: did_key.did(), document: did_key.document().to_json().to_literal() })
}

/// A registry failure, as the command shows it.
pub fn internal(error: RegistryError) -> ControlError {
    ControlError::new(ErrorKind::Internal, error.to_string())
}

/// One pass of the control service: the node, where records to app VMs go,
/// and what a start needs from outside (a seed, the time).
pub struct Service<'a, D: BlockDevice, O: Outbox> {
    /// The node.
    pub node: &'a mut Node<D>,
    /// The app VMs' channels.
    pub outbox: &'a mut O,
    /// Gives a fresh seed for each dapp started.
    pub seed: &'a mut dyn FnMut() -> [u8; 32],
    /// Wall time now, nanoseconds since the Unix epoch (0 if unknown).
    pub wall_clock_ns: u64,
}

impl<D: BlockDevice, O: Outbox> Service<'_, D, O> {
    /// A person's answer to signing request `id`: the app VM gets its
    /// signature or refusal.
    fn decide(&mut self, id: u64, approve: bool) -> Result<PendingRequest, ControlError> {
        let wall_seconds = self.wall_clock_ns / 1_000_000_000;
        let (listed, (origin, status, value)) =
            self.node.signing.decide_waiting(id, approve, wall_seconds).ok_or_else(|| {
                ControlError::new(
                    ErrorKind::NotFound,
                    format!("no request {id} waits for approval"),
                )
            })?;
        self.node.supervisor.answer(&origin, status, &value, self.outbox);
        Ok(listed)
    }
}

impl<D: BlockDevice, O: Outbox> ControlService for Service<'_, D, O> {
    fn requests(&mut self, _ticket: Ticket<Vec<PendingRequest>>) -> Reply<Vec<PendingRequest>> {
        Reply::Now(Ok(self.node.signing.pending()))
    }

    fn approve(&mut self, id: u64, _ticket: Ticket<PendingRequest>) -> Reply<PendingRequest> {
        Reply::Now(self.decide(id, true))
    }

    fn deny(&mut self, id: u64, _ticket: Ticket<PendingRequest>) -> Reply<PendingRequest> {
        Reply::Now(self.decide(id, false))
    }

    fn audit(&mut self, _ticket: Ticket<Vec<AuditEntry>>) -> Reply<Vec<AuditEntry>> {
        Reply::Now(
            self.node
                .signing
                .audit_entries(self.node.registry.store())
                .map_err(|error| ControlError::new(ErrorKind::Internal, error.to_string())),
        )
    }

    fn install(&mut self, package: &[u8], _ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        let result = match self.node.registry.install(package, &SYSTEM_POLICY) {
            Ok(manifest) => Ok(self.node.info_of(&manifest)),
            Err(error @ (RegistryError::Package(_) | RegistryError::Refused(_))) => {
                Err(ControlError::new(ErrorKind::PackageRefused, error.to_string()))
            }
            Err(error) => Err(internal(error)),
        };
        Reply::Now(result)
    }

    fn list(&mut self, _ticket: Ticket<Vec<DappInfo>>) -> Reply<Vec<DappInfo>> {
        let names = self.node.registry.names();
        Reply::Now(names.iter().map(|name| self.node.info(name)).collect())
    }

    fn start(&mut self, name: &str, ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        let seed = (self.seed)();
        // The ticket goes with the start; a start refused at once answers now.
        match self.node.start_dapp(name, Some(ticket), self.outbox, seed, self.wall_clock_ns) {
            Ok(()) => Reply::Later,
            Err(error) => Reply::Now(Err(error)),
        }
    }

    fn stop(&mut self, name: &str, ticket: Ticket<DappInfo>) -> Reply<DappInfo> {
        if let Err(error) = self.node.info(name) {
            return Reply::Now(Err(error));
        }
        if let Err(error) = self.node.registry.set_wanted_running(name, false) {
            return Reply::Now(Err(internal(error)));
        }
        match self.node.supervisor.stop(name, ticket, self.outbox) {
            Ok(()) => Reply::Later,
            Err((_ticket, error)) => {
                Reply::Now(Err(ControlError::new(error.kind, format!("{name}: {}", error.reason))))
            }
        }
    }

    fn remove(&mut self, name: &str, _ticket: Ticket<String>) -> Reply<String> {
        if self.node.supervisor.is_active(name) {
            return Reply::Now(Err(ControlError::new(
                ErrorKind::InvalidState,
                format!("{name} is running: stop it first"),
            )));
        }
        let result = match self.node.registry.remove(name) {
            Ok(()) => Ok(format!("{name} and its storage")),
            Err(RegistryError::NotInstalled) => {
                Err(ControlError::new(ErrorKind::NotFound, format!("no dapp {name} is installed")))
            }
            Err(error) => Err(internal(error)),
        };
        Reply::Now(result)
    }

    fn logs(&mut self, name: &str, _ticket: Ticket<Vec<String>>) -> Reply<Vec<String>> {
        Reply::Now(self.node.info(name).map(|_| self.node.supervisor.logs(name)))
    }

    fn status(&mut self, _ticket: Ticket<NodeStatus>) -> Reply<NodeStatus> {
        let mut vms = self.node.vms.clone();
        vms.extend(self.node.supervisor.status());
        Reply::Now(Ok(NodeStatus {
            identity: self.node.identity.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            vms,
        }))
    }

    fn identity(&mut self, _ticket: Ticket<NodeIdentity>) -> Reply<NodeIdentity> {
        Reply::Now(identity_of(self.node.signing.node_key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_the_node_keys_did_and_its_document() {
        let key = NodeKey::from_secret([7; 32]);
        let identity = identity_of(Ok(&key)).expect("a node key has an identity");
        assert_eq!(identity.did, key.did());
        let document = chain_verify::json::parse(&identity.document).expect("the document is JSON");
        assert_eq!(document.get_str("id"), Some(key.did().as_str()));
        let methods = document.get("verificationMethod").and_then(|value| value.as_array());
        assert_eq!(methods.map(<[_]>::len), Some(2));
    }

    #[test]
    fn without_a_key_there_is_no_identity() {
        let error = identity_of(Err(NoKey::Damaged)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(error.reason, "the node has no identity");
    }
}
