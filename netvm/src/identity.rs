//! netvm's side of the node identity: chainvm holds the node's ed25519 key,
//! and netvm, whose libp2p PeerId is that key, never sees its secret. At
//! start netvm asks chainvm for the public key (its PeerId follows), makes
//! its own Noise static X25519 key, and asks chainvm to sign libp2p's
//! statement over it. The signed static key then proves the identity in
//! every handshake, each with its own ephemeral key. The records are
//! `guest_runtime::identity`'s, on the `netvm-chainvm` channel.
//!
//! The exchange is asynchronous: requests go again every [`RETRY`] until
//! answered (chainvm may start later, restart, or find its ring full), and
//! the node listens and dials only once it holds both answers; a TCP
//! connection that arrives in between waits, unaccepted, for them.

use alloc::format;
use alloc::string::String;
use elastos_p2p::identity::PublicKey;
use elastos_p2p::noise::Credentials;
use guest_runtime::identity::{NoKey, Record};

/// The channel to chainvm.
pub const CHAINVM_CHANNEL: &str = "netvm-chainvm";
/// How long to wait for an answer before asking again (microseconds).
pub const RETRY: u64 = 1_000_000;

/// What netvm knows of the node identity, and what it still asks for.
pub struct IdentityClient {
    /// The Noise static secret chainvm is asked to vouch for.
    static_secret: [u8; 32],
    /// The node's public key, once chainvm gave it.
    public_key: Option<PublicKey>,
    /// The signed static key, once chainvm signed it.
    credentials: Option<Credentials>,
    /// The number of the latest handshake request.
    request: u32,
    /// When the next request may go (microseconds).
    next_request: u64,
    /// The last refusal reported, so that a repeated one is not.
    reported: Option<NoKey>,
}

impl IdentityClient {
    /// A client that will have chainvm sign the static key of
    /// `static_secret` (fresh random bytes).
    pub fn new(static_secret: [u8; 32]) -> Self {
        Self {
            static_secret,
            public_key: None,
            credentials: None,
            request: 0,
            next_request: 0,
            reported: None,
        }
    }

    /// The node's public key, once known.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.public_key
    }

    /// The signed static key for handshakes, once chainvm signed it.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// The request due at `now` (microseconds), if one is; the caller sends
    /// it (a request that cannot go is asked again after [`RETRY`]).
    pub fn due(&mut self, now: u64) -> Option<Record> {
        if self.credentials.is_some() || now < self.next_request {
            return None;
        }
        self.next_request = now + RETRY;
        if self.public_key.is_none() {
            return Some(Record::KeyRequest);
        }
        self.request = self.request.wrapping_add(1);
        Some(Record::HandshakeRequest {
            request: self.request,
            static_key: Credentials::static_public(&self.static_secret),
        })
    }

    /// When a request is next due, while answers are missing.
    pub fn next_due(&self) -> Option<u64> {
        self.credentials.is_none().then_some(self.next_request)
    }

    /// Takes chainvm's `record` at `now`; returns a line for the console
    /// when something changed or went wrong.
    pub fn receive(&mut self, record: &Record, now: u64) -> Option<String> {
        match *record {
            Record::Key { public_key } => {
                let Ok(public_key) = PublicKey::from_bytes(public_key) else {
                    return Some(String::from("identity: chainvm's node key is not a valid key"));
                };
                match self.public_key {
                    Some(known) if known == public_key => None,
                    Some(_) => Some(String::from(
                        "identity: chainvm answered another node key; the first one stays",
                    )),
                    None => {
                        self.public_key = Some(public_key);
                        // Ask for the signature at once.
                        self.next_request = now;
                        Some(format!("p2p: PeerId {}", public_key.peer_id()))
                    }
                }
            }
            Record::HandshakeAnswer { request, status, signature } => {
                if request != self.request || self.credentials.is_some() {
                    return None;
                }
                let public_key = self.public_key?;
                if status != 0 {
                    return self.refused(NoKey::from_code(status));
                }
                match Credentials::new(public_key, self.static_secret, signature) {
                    Ok(credentials) => {
                        self.credentials = Some(credentials);
                        Some(String::from("p2p: chainvm signed the handshake key"))
                    }
                    Err(_) => Some(String::from(
                        "identity: chainvm's handshake signature does not verify; asking again",
                    )),
                }
            }
            Record::NoKey { reason } => self.refused(Some(reason)),
            Record::KeyRequest | Record::HandshakeRequest { .. } => None,
        }
    }

    fn refused(&mut self, reason: Option<NoKey>) -> Option<String> {
        let reason = reason.unwrap_or(NoKey::StoreFailed);
        if self.reported == Some(reason) {
            return None;
        }
        self.reported = Some(reason);
        Some(format!("p2p: no identity yet: {reason}; the node waits for one"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use elastos_p2p::identity::Keypair;

    /// chainvm's part, with the key `node`.
    fn chainvm(node: &Keypair, record: &Record) -> Record {
        match *record {
            Record::KeyRequest => Record::Key { public_key: node.public().to_bytes() },
            Record::HandshakeRequest { request, static_key } => Record::HandshakeAnswer {
                request,
                status: 0,
                signature: node.sign(&Credentials::statement(&static_key)),
            },
            _ => panic!("not a request"),
        }
    }

    #[test]
    fn the_key_then_the_signature_make_credentials() {
        let node = Keypair::from_secret([4; 32]);
        let mut client = IdentityClient::new([5; 32]);
        let first = client.due(0).unwrap();
        assert_eq!(first, Record::KeyRequest);
        assert_eq!(client.due(10), None, "not again before the retry");
        let line = client.receive(&chainvm(&node, &first), 20).unwrap();
        assert_eq!(line, format!("p2p: PeerId {}", node.public().peer_id()));
        assert_eq!(client.public_key(), Some(node.public()));
        let second = client.due(20).unwrap();
        assert!(matches!(second, Record::HandshakeRequest { .. }));
        assert!(client.credentials().is_none());
        client.receive(&chainvm(&node, &second), 30).unwrap();
        assert_eq!(client.credentials().unwrap().identity(), node.public());
        assert_eq!(client.due(10 * RETRY), None, "nothing more to ask");
        assert_eq!(client.next_due(), None);
    }

    #[test]
    fn unanswered_requests_go_again() {
        let mut client = IdentityClient::new([5; 32]);
        assert_eq!(client.due(0), Some(Record::KeyRequest));
        assert_eq!(client.due(RETRY - 1), None);
        assert_eq!(client.due(RETRY), Some(Record::KeyRequest));
        assert_eq!(client.next_due(), Some(2 * RETRY));
    }

    #[test]
    fn bad_and_stale_answers_change_nothing() {
        let node = Keypair::from_secret([4; 32]);
        let stranger = Keypair::from_secret([6; 32]);
        let mut client = IdentityClient::new([5; 32]);
        client.due(0);
        client.receive(&chainvm(&node, &Record::KeyRequest), 0);
        // Another key later does not replace the first.
        assert!(client.receive(&chainvm(&stranger, &Record::KeyRequest), 1).is_some());
        assert_eq!(client.public_key(), Some(node.public()));
        let request = client.due(1).unwrap();
        // A signature by another key does not verify.
        client.receive(&chainvm(&stranger, &request), 2).unwrap();
        assert!(client.credentials().is_none());
        // An answer to an older request is dropped.
        let Record::HandshakeRequest { static_key, .. } = request else { panic!() };
        let old = Record::HandshakeRequest { request: 0, static_key };
        assert_eq!(client.receive(&chainvm(&node, &old), 3), None);
        assert!(client.credentials().is_none());
        // A refusal is reported once.
        let refusal = Record::HandshakeAnswer { request: 1, status: 2, signature: [0; 64] };
        assert!(client.receive(&refusal, 4).unwrap().contains("damaged"));
        assert_eq!(client.receive(&refusal, 5), None);
        // The right answer to the current request works.
        let request = client.due(RETRY + 1).unwrap();
        client.receive(&chainvm(&node, &request), RETRY + 2).unwrap();
        assert!(client.credentials().is_some());
    }
}
