//! The notes example dapp: keeps notes in its storage. Message bodies are
//! commands, answered to the sender: `add <text>` stores a note under the
//! next number (the counter is in storage too), `list` answers every note,
//! `count` their number. At start it logs `notes: N notes stored`, N read
//! from storage, so a reboot shows the notes survived.
#![deny(unsafe_code)]

use elastos_sdk::{info, storage, warn, Event, Message, Status, BODY_MAX};

/// The key of the counter: the number of the last note, a little-endian u64.
const COUNTER_KEY: &[u8] = b"count";
/// The prefix of note keys; the number follows in 20 decimal digits, so
/// keys sort in note order.
const NOTE_PREFIX: &[u8] = b"note/";

/// The key of note `number`.
pub fn note_key(number: u64) -> Vec<u8> {
    let mut key = NOTE_PREFIX.to_vec();
    key.extend_from_slice(format!("{number:020}").as_bytes());
    key
}

/// The number of notes stored (the counter).
pub fn count() -> Result<u64, Status> {
    match storage::get(COUNTER_KEY)? {
        None => Ok(0),
        Some(bytes) => {
            let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Status::Failed)?;
            Ok(u64::from_le_bytes(bytes))
        }
    }
}

/// Stores `text` as the next note; its number.
pub fn add(text: &str) -> Result<u64, Status> {
    let number = count()? + 1;
    storage::put(&note_key(number), text.as_bytes())?;
    storage::put(COUNTER_KEY, &number.to_le_bytes())?;
    Ok(number)
}

/// Every note as `number: text` lines, in answers of at most a message's
/// length each.
pub fn list() -> Result<Vec<String>, Status> {
    let mut answers = vec![String::new()];
    for key in storage::list(NOTE_PREFIX)? {
        let number = String::from_utf8_lossy(&key[NOTE_PREFIX.len()..]);
        let number = number.trim_start_matches('0');
        let text = storage::get(&key)?.unwrap_or_default();
        let line = format!("{number}: {}\n", String::from_utf8_lossy(&text));
        let current = answers.last_mut().expect("answers starts with one");
        if !current.is_empty() && current.len() + line.len() > BODY_MAX {
            answers.push(String::new());
        }
        let current = answers.last_mut().expect("answers is not empty");
        current.push_str(&line);
        current.truncate(BODY_MAX);
    }
    if answers[0].is_empty() {
        answers[0] = "no notes".into();
    }
    Ok(answers)
}

/// The answers to a command.
pub fn answer(body: &[u8]) -> Vec<String> {
    let command = String::from_utf8_lossy(body);
    let command = command.trim();
    let result = if let Some(text) = command.strip_prefix("add ") {
        add(text).map(|number| vec![format!("added note {number}")])
    } else if command == "list" {
        list()
    } else if command == "count" {
        count().map(|count| vec![format!("{count} notes")])
    } else {
        Ok(vec!["commands: add <text>, list, count".into()])
    };
    result.unwrap_or_else(|status| vec![format!("error: {status}")])
}

fn handle(message: &Message) {
    for reply in answer(&message.body) {
        if let Err(status) = elastos_sdk::send(&message.peer, &message.app, reply.as_bytes()) {
            warn!("notes: answering {} on {} failed: {status}", message.app, message.peer);
        }
    }
}

fn main() {
    match count() {
        Ok(count) => info!("notes: {count} notes stored"),
        Err(status) => warn!("notes: reading the count failed: {status}"),
    }
    loop {
        match elastos_sdk::wait(None) {
            Some(Event::Message(message)) => handle(&message),
            Some(Event::Receipt { id, status }) => {
                info!("notes: receipt for message {}: {status}", id.0)
            }
            Some(Event::Stop) => return,
            None => {}
        }
    }
}

elastos_sdk::main!(main);

#[cfg(test)]
mod tests {
    use super::*;
    use elastos_sdk::testing;

    #[test]
    fn notes_are_added_counted_and_listed_in_order() {
        testing::reset();
        assert_eq!(answer(b"count"), vec!["0 notes"]);
        assert_eq!(answer(b"list"), vec!["no notes"]);
        for index in 1..=11 {
            assert_eq!(
                answer(format!("add note {index}").as_bytes()),
                vec![format!("added note {index}")]
            );
        }
        assert_eq!(answer(b"count\n"), vec!["11 notes"]);
        let listed = answer(b"list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].starts_with("1: note 1\n2: note 2\n"), "{}", listed[0]);
        assert!(listed[0].ends_with("10: note 10\n11: note 11\n"), "{}", listed[0]);
        assert_eq!(answer(b"hello"), vec!["commands: add <text>, list, count"]);
    }

    #[test]
    fn long_lists_are_split_into_messages() {
        testing::reset();
        let text = "x".repeat(1500);
        for _ in 0..5 {
            add(&text).unwrap();
        }
        let answers = list().unwrap();
        assert_eq!(answers.len(), 3);
        assert!(answers.iter().all(|answer| answer.len() <= BODY_MAX));
    }
}
