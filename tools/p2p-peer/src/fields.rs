//! How values are written into the `key=value` fields of the output lines: never with a
//! space, so that a line splits into its fields at each space.

use std::fmt::Write;

/// Whether `bytes` print as themselves: printable ASCII, no spaces, and not starting with
/// `hex=` (which would read as the hex form).
fn prints_as_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|byte| byte.is_ascii_graphic()) && !bytes.starts_with(b"hex=")
}

/// The bytes as text if they are printable ASCII without spaces, otherwise `hex=` and their
/// lowercase hexadecimal digits.
pub fn bytes_value(bytes: &[u8]) -> String {
    if prints_as_text(bytes) {
        // The check above allows ASCII only, which is UTF-8.
        return bytes.iter().map(|&byte| char::from(byte)).collect();
    }
    let mut output = String::with_capacity(4 + 2 * bytes.len());
    output.push_str("hex=");
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(output, "{byte:02x}");
    }
    output
}

/// Free text, such as an error message, made into one word: each run of whitespace or
/// control characters becomes `_`.
pub fn word(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    let mut in_gap = false;
    for character in text.chars() {
        if character.is_whitespace() || character.is_control() {
            if !in_gap {
                output.push('_');
            }
            in_gap = true;
        } else {
            output.push(character);
            in_gap = false;
        }
    }
    output
}

/// The items' text joined with commas, each made into a [`word`].
pub fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|item| word(&item.to_string())).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_bytes_print_as_text() {
        assert_eq!(bytes_value(b"hello"), "hello");
        assert_eq!(bytes_value(b"a=b,c/d"), "a=b,c/d");
        assert_eq!(bytes_value(b""), "");
    }

    #[test]
    fn other_bytes_print_as_hex() {
        assert_eq!(bytes_value(b"hello there"), "hex=68656c6c6f207468657265");
        assert_eq!(bytes_value(&[0x00, 0xff, 0x7f]), "hex=00ff7f");
        assert_eq!(bytes_value("é".as_bytes()), "hex=c3a9");
        assert_eq!(bytes_value(b"hex=00"), "hex=6865783d3030");
    }

    #[test]
    fn words_have_no_spaces() {
        assert_eq!(word("Connection reset by peer"), "Connection_reset_by_peer");
        assert_eq!(word(" two  gaps\n"), "_two_gaps_");
        assert_eq!(word("plain"), "plain");
        assert_eq!(list(["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]), "/ipfs/id/1.0.0,/ipfs/ping/1.0.0");
        assert_eq!(list(Vec::<String>::new()), "");
    }
}
