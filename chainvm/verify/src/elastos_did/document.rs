//! DID documents: reading, the default key, and genuineness.

use super::{
    absolute_url, address, check_not_expired, did_of_url, normalize, signed_texts, DidError, Proof,
    Timestamp, MAXIMUM_CONTROLLER_DEPTH, PROOF_TYPE,
};
use crate::encoding;
use crate::json::{self, Value};
use crate::signature::p256;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// A public key of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its absolute DID URL.
    pub id: String,
    /// Its type ([`PROOF_TYPE`] if absent).
    pub kind: String,
    /// Its controller (the document's DID if absent).
    pub controller: String,
    /// The 33-byte compressed point.
    pub bytes: [u8; 33],
}

/// A DID document as read, with the parts verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The document as read.
    pub json: Value,
    /// Its DID.
    pub id: String,
    /// The controllers of a customized DID (empty for a normal DID).
    pub controllers: Vec<String>,
    /// `m` of an `m:n` multisig (1 if absent).
    pub required_signatures: usize,
    /// Every key: from `publicKey` and embedded in `authentication` or
    /// `authorization`.
    pub public_keys: Vec<PublicKey>,
    /// The absolute ids of the authentication keys.
    pub authentication: Vec<String>,
    /// The absolute ids of the authorization keys.
    pub authorization: Vec<String>,
    /// `expires`, as written.
    pub expires: Option<String>,
    /// The proofs.
    pub proofs: Vec<Proof>,
}

impl Document {
    /// Reads a document from its JSON text.
    pub fn parse(text: &str) -> Result<Document, DidError> {
        Document::read(json::parse(text)?)
    }

    /// Reads a document from a JSON value.
    pub fn read(json: Value) -> Result<Document, DidError> {
        let id = String::from(json.get_str("id").ok_or(DidError::Malformed("id"))?);
        if !id.starts_with(address::METHOD_PREFIX) || did_of_url(&id) != id {
            return Err(DidError::InvalidDid);
        }
        let controllers = match json.get("controller") {
            None => Vec::new(),
            Some(Value::String(controller)) => alloc::vec![controller.value.clone()],
            Some(Value::Array(controllers)) => controllers
                .iter()
                .map(|controller| controller.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or(DidError::Malformed("controller"))?,
            Some(_) => return Err(DidError::Malformed("controller")),
        };
        let required_signatures = match json.get("multisig") {
            None => 1,
            Some(value) => {
                let text = value.as_str().ok_or(DidError::InvalidMultisig)?;
                let (m, n) = text.split_once(':').ok_or(DidError::InvalidMultisig)?;
                let (m, n): (usize, usize) = (
                    m.parse().map_err(|_| DidError::InvalidMultisig)?,
                    n.parse().map_err(|_| DidError::InvalidMultisig)?,
                );
                if m == 0 || m > n || n != controllers.len() {
                    return Err(DidError::InvalidMultisig);
                }
                m
            }
        };
        let mut public_keys = Vec::new();
        if let Some(keys) = json.get("publicKey") {
            for key in keys.as_array().ok_or(DidError::Malformed("publicKey"))? {
                public_keys.push(read_key(key, &id)?);
            }
        }
        let mut references = |member: &'static str| -> Result<Vec<String>, DidError> {
            let mut ids = Vec::new();
            if let Some(entries) = json.get(member) {
                for entry in entries.as_array().ok_or(DidError::Malformed(member))? {
                    match entry {
                        Value::String(reference) => ids.push(absolute_url(&reference.value, &id)),
                        Value::Object(_) => {
                            let key = read_key(entry, &id)?;
                            ids.push(key.id.clone());
                            public_keys.push(key);
                        }
                        _ => return Err(DidError::Malformed(member)),
                    }
                }
            }
            Ok(ids)
        };
        let authentication = references("authentication")?;
        let authorization = references("authorization")?;
        let expires = json.get_str("expires").map(String::from);
        let proofs = Proof::read_all(json.get("proof"), &id)?;
        Ok(Document {
            id,
            controllers,
            required_signatures,
            public_keys,
            authentication,
            authorization,
            expires,
            proofs,
            json,
        })
    }

    /// Whether this is a customized DID (it has controllers).
    pub fn is_customized(&self) -> bool {
        !self.controllers.is_empty()
    }

    /// The key with the absolute id `id`.
    pub fn key(&self, id: &str) -> Option<&PublicKey> {
        self.public_keys.iter().find(|key| key.id == id)
    }

    /// The default key of a normal DID: the key it controls that derives to
    /// its DID.
    pub fn default_key(&self) -> Option<&PublicKey> {
        self.public_keys
            .iter()
            .find(|key| key.controller == self.id && address::did_of_key(&key.bytes) == self.id)
    }

    /// Whether `id` is one of this document's own authentication keys (the
    /// default key always is).
    pub fn is_authentication_key(&self, id: &str) -> bool {
        self.key(id).is_some_and(|key| key.controller == self.id)
            && (self.authentication.iter().any(|entry| entry == id)
                || self.default_key().is_some_and(|key| key.id == id))
    }

    /// Checks that the document is genuine (see the module overview).
    pub fn verify(&self, store: &DocumentStore) -> Result<(), DidError> {
        self.verify_within(store, MAXIMUM_CONTROLLER_DEPTH, None)
    }

    /// Checks that the document is genuine and neither it nor its
    /// controllers have expired at `now`.
    pub fn verify_at(&self, store: &DocumentStore, now: Timestamp) -> Result<(), DidError> {
        self.verify_within(store, MAXIMUM_CONTROLLER_DEPTH, Some(now))
    }

    pub(super) fn verify_within(
        &self,
        store: &DocumentStore,
        depth: usize,
        now: Option<Timestamp>,
    ) -> Result<(), DidError> {
        if let Some(now) = now {
            check_not_expired(self.expires.as_deref(), now)?;
        }
        let texts = signed_texts(&self.json, normalize::document(&self.json));
        if !self.is_customized() {
            let default_key = self.default_key().ok_or(DidError::NoDefaultKey)?;
            let [proof] = self.proofs.as_slice() else {
                return Err(DidError::ProofCount);
            };
            if proof.key.as_deref().is_some_and(|key| key != default_key.id) {
                return Err(DidError::ProofKeyNotAllowed);
            }
            return proof.check(&default_key.bytes, &texts, &[]);
        }
        if self.proofs.len() != self.required_signatures {
            return Err(DidError::ProofCount);
        }
        let mut signers: Vec<&str> = Vec::new();
        for proof in &self.proofs {
            let key_id = proof.key.as_deref().ok_or(DidError::ProofKeyNotAllowed)?;
            let controller = self.controller_default_key(key_id, store, depth, now)?;
            if signers.contains(&did_of_url(key_id)) {
                return Err(DidError::DuplicateSigner);
            }
            signers.push(did_of_url(key_id));
            proof.check(&controller, &texts, &[])?;
        }
        Ok(())
    }

    /// The key bytes of `key_id` if it is the default key of one of this
    /// customized DID's controllers, whose document is genuine.
    pub(super) fn controller_default_key(
        &self,
        key_id: &str,
        store: &DocumentStore,
        depth: usize,
        now: Option<Timestamp>,
    ) -> Result<[u8; 33], DidError> {
        let controller_did = did_of_url(key_id);
        if !self.controllers.iter().any(|controller| controller == controller_did) {
            return Err(DidError::ProofKeyNotAllowed);
        }
        let controller = store.genuine(controller_did, depth, now)?;
        let key = controller.default_key().ok_or(DidError::ProofKeyNotAllowed)?;
        if key.id != key_id {
            return Err(DidError::ProofKeyNotAllowed);
        }
        Ok(key.bytes)
    }

    /// The bytes of `key_id` if it may authenticate as this DID: one of its
    /// own authentication keys or, for a customized DID, a controller's
    /// default key.
    pub fn authentication_key(
        &self,
        key_id: &str,
        store: &DocumentStore,
        now: Option<Timestamp>,
    ) -> Result<[u8; 33], DidError> {
        if self.is_authentication_key(key_id) {
            if let Some(key) = self.key(key_id) {
                return Ok(key.bytes);
            }
        }
        if self.is_customized() {
            return self.controller_default_key(key_id, store, MAXIMUM_CONTROLLER_DEPTH, now);
        }
        Err(DidError::ProofKeyNotAllowed)
    }
}

fn read_key(value: &Value, document_id: &str) -> Result<PublicKey, DidError> {
    let id = value.get_str("id").ok_or(DidError::Malformed("publicKey id"))?;
    let base58 = value.get_str("publicKeyBase58").ok_or(DidError::Malformed("publicKeyBase58"))?;
    let bytes = encoding::decode_base58(base58).map_err(|_| DidError::InvalidPublicKey)?;
    let bytes: [u8; 33] = bytes.try_into().map_err(|_| DidError::InvalidPublicKey)?;
    if !p256::is_valid_public_key(&bytes) {
        return Err(DidError::InvalidPublicKey);
    }
    Ok(PublicKey {
        id: absolute_url(id, document_id),
        kind: value.get_str("type").unwrap_or(PROOF_TYPE).into(),
        controller: value.get_str("controller").unwrap_or(document_id).into(),
        bytes,
    })
}

/// The documents that verification may look up by DID.
#[derive(Debug, Clone, Default)]
pub struct DocumentStore {
    documents: BTreeMap<String, Document>,
}

impl DocumentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a document.
    pub fn insert(&mut self, document: Document) {
        self.documents.insert(document.id.clone(), document);
    }

    /// The document of `did`.
    pub fn get(&self, did: &str) -> Option<&Document> {
        self.documents.get(did)
    }

    /// The document of `did`, checked genuine (and unexpired at `now`).
    pub(super) fn genuine(
        &self,
        did: &str,
        depth: usize,
        now: Option<Timestamp>,
    ) -> Result<&Document, DidError> {
        let depth = depth.checked_sub(1).ok_or(DidError::TooDeep)?;
        let document = self.get(did).ok_or(DidError::UnknownDocument)?;
        document.verify_within(self, depth, now).map_err(|error| match error {
            DidError::Expired => DidError::Expired,
            DidError::TooDeep => DidError::TooDeep,
            _ => DidError::ReferencedDocumentNotGenuine,
        })?;
        Ok(document)
    }
}
