//! The chat example dapp: answers every message with `echo: ` and its body,
//! sent back to the sender's app on the sender's node; a message
//! `send <peer> <app> <text>` makes it send `<text>` to that app on that
//! node instead. It logs its start, what it sends and every receipt.
#![deny(unsafe_code)]

use elastos_sdk::{info, warn, Event, Message};

/// What a message asks chat to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `send <peer> <app> <text>`: send `text` to `app` on `peer`.
    Send {
        /// The PeerId, in base58 text.
        peer: &'a str,
        /// The application there.
        app: &'a str,
        /// What to send (the rest of the line, spaces and all).
        text: &'a str,
    },
    /// Anything else: echo it.
    Echo,
}

/// Reads a message body.
pub fn parse(body: &[u8]) -> Command<'_> {
    let Ok(text) = core::str::from_utf8(body) else { return Command::Echo };
    let Some(rest) = text.strip_prefix("send ") else { return Command::Echo };
    let mut parts = rest.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(peer), Some(app), Some(text)) if !peer.is_empty() && !app.is_empty() => {
            Command::Send { peer, app, text }
        }
        _ => Command::Echo,
    }
}

/// The answer to `body`: `echo: ` and the body, cut to the longest body a
/// message may have.
pub fn echo(body: &[u8]) -> Vec<u8> {
    let mut reply = b"echo: ".to_vec();
    reply.extend_from_slice(body);
    reply.truncate(elastos_sdk::BODY_MAX);
    reply
}

/// Serves one message.
fn handle(message: &Message) {
    info!("chat: {} bytes from {} on {}", message.body.len(), message.app, message.peer);
    let (peer, app, body) = match parse(&message.body) {
        Command::Send { peer, app, text } => (peer, app, text.as_bytes().to_vec()),
        Command::Echo => (message.peer.as_str(), message.app.as_str(), echo(&message.body)),
    };
    match elastos_sdk::send(peer, app, &body) {
        Ok(id) => info!("chat: sent message {} to {app} on {peer}", id.0),
        Err(status) => warn!("chat: sending to {app} on {peer} failed: {status}"),
    }
}

/// Waits for one event (at most `timeout`) and serves it; false once asked
/// to stop.
pub fn step(timeout: Option<std::time::Duration>) -> bool {
    match elastos_sdk::wait(timeout) {
        Some(Event::Message(message)) => handle(&message),
        Some(Event::Receipt { id, status }) => {
            info!("chat: receipt for message {}: {status}", id.0)
        }
        Some(Event::Stop) => {
            info!("chat: stopping");
            return false;
        }
        None => {}
    }
    true
}

fn main() {
    info!("chat: started");
    while step(None) {}
}

elastos_sdk::main!(main);

#[cfg(test)]
mod tests {
    use super::*;
    use elastos_sdk::{testing, MessageStatus};

    #[test]
    fn send_commands_are_parsed_and_the_rest_echoed() {
        assert_eq!(
            parse(b"send 12D3KooWAbc notes add milk and eggs"),
            Command::Send { peer: "12D3KooWAbc", app: "notes", text: "add milk and eggs" }
        );
        assert_eq!(parse(b"send 12D3KooWAbc notes"), Command::Echo);
        assert_eq!(parse(b"hello"), Command::Echo);
        assert_eq!(parse(&[0xff, 0xfe]), Command::Echo);
        assert_eq!(echo(b"hi"), b"echo: hi");
        assert_eq!(echo(&[b'x'; 4000]).len(), 4000);
    }

    #[test]
    fn messages_are_echoed_to_the_sender_and_receipts_logged() {
        testing::reset();
        testing::push_message(1, "12D3KooWSender", "talk", b"hello");
        assert!(step(None));
        assert_eq!(
            testing::take_sent(),
            vec![("12D3KooWSender".into(), "talk".into(), b"echo: hello".to_vec())]
        );
        testing::push_message(2, "12D3KooWSender", "talk", b"send 12D3KooWOther notes list");
        assert!(step(None));
        assert_eq!(
            testing::take_sent(),
            vec![("12D3KooWOther".into(), "notes".into(), b"list".to_vec())]
        );
        testing::push_receipt(2, MessageStatus::Unreachable);
        assert!(step(None));
        let logs = testing::take_logs();
        assert_eq!(logs.last().unwrap().1, "chat: receipt for message 2: unreachable");
        testing::push_stop();
        assert!(!step(None));
    }
}
