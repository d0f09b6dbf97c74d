//! A small JSON reader and writer that keeps what signatures depend on.
//!
//! Signed JSON (Elastos DID objects) is hashed as text, so this reader keeps
//! each object's members in the order written and each string and number in
//! the exact form written ([`Text::raw`], [`Value::Number`]). Two writers turn a
//! value back into compact text: [`Value::to_literal`] repeats every token as
//! written (the text of a compact file, or of a pretty one without its
//! whitespace), and [`Value::to_canonical`] escapes strings as the Elastos
//! SDKs' JSON library (Jackson) does: `"`, `\` and control characters only,
//! with `\u00XX` in upper case, and `/` and non-ASCII text left as they are.
//!
//! The reader is strict: one value, no duplicate keys in an object (a signed
//! object must mean one thing), nesting at most [`MAXIMUM_DEPTH`] deep.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// How deeply arrays and objects may nest.
pub const MAXIMUM_DEPTH: usize = 64;

/// Why a text is not accepted as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The text ends inside a value.
    UnexpectedEnd,
    /// A character that cannot start or continue a value here (its byte offset).
    UnexpectedCharacter(usize),
    /// A malformed escape sequence or an unpaired surrogate (its byte offset).
    InvalidEscape(usize),
    /// A raw control character inside a string (its byte offset).
    ControlCharacter(usize),
    /// A malformed number (its byte offset).
    InvalidNumber(usize),
    /// An object has the same key twice (the offset of the second).
    DuplicateKey(usize),
    /// Arrays and objects nest deeper than [`MAXIMUM_DEPTH`].
    TooDeep,
    /// Something other than white space follows the value (its byte offset).
    TrailingCharacters(usize),
}

/// A string as decoded, and as written in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The decoded string.
    pub value: String,
    /// The token as written, quotes included.
    pub raw: String,
}

impl Text {
    /// A string whose written form is the canonical one.
    pub fn new(value: &str) -> Self {
        let mut raw = String::new();
        write_canonical_string(value, &mut raw);
        Self { value: value.into(), raw }
    }
}

/// One `"key": value` member of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key.
    pub key: Text,
    /// The value.
    pub value: Value,
}

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string.
    String(Text),
    /// An array.
    Array(Vec<Value>),
    /// An object, its members in the order written.
    Object(Vec<Member>),
}

impl Value {
    /// A string value.
    pub fn string(value: &str) -> Self {
        Value::String(Text::new(value))
    }

    /// An object of `members`, keys given as plain strings.
    pub fn object<'a>(members: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Value::Object(
            members.into_iter().map(|(key, value)| Member { key: Text::new(key), value }).collect(),
        )
    }

    /// The value of `key` if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.members()?.iter().find(|member| member.key.value == key).map(|member| &member.value)
    }

    /// The string of `key` if this is an object where it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The members if this is an object.
    pub fn members(&self) -> Option<&[Member]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The elements if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(elements) => Some(elements),
            _ => None,
        }
    }

    /// The string if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(&text.value),
            _ => None,
        }
    }

    /// This object without its member `key` (other values are unchanged).
    pub fn without(&self, key: &str) -> Value {
        match self {
            Value::Object(members) => Value::Object(
                members.iter().filter(|member| member.key.value != key).cloned().collect(),
            ),
            other => other.clone(),
        }
    }

    /// The compact text of this value with every token as written.
    pub fn to_literal(&self) -> String {
        let mut text = String::new();
        self.write(&mut text, false);
        text
    }

    /// The compact text of this value with strings escaped canonically.
    pub fn to_canonical(&self) -> String {
        let mut text = String::new();
        self.write(&mut text, true);
        text
    }

    /// Whether two values mean the same: objects compare as sets of members,
    /// strings by their decoded text, numbers as written.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::String(left), Value::String(right)) => left.value == right.value,
            (Value::Array(left), Value::Array(right)) => {
                left.len() == right.len() && left.iter().zip(right).all(|(l, r)| l.same_as(r))
            }
            (Value::Object(left), Value::Object(right)) => {
                left.len() == right.len()
                    && left.iter().all(|member| {
                        other
                            .get(&member.key.value)
                            .is_some_and(|value| member.value.same_as(value))
                    })
            }
            (left, right) => left == right,
        }
    }

    fn write(&self, text: &mut String, canonical: bool) {
        match self {
            Value::Null => text.push_str("null"),
            Value::Bool(true) => text.push_str("true"),
            Value::Bool(false) => text.push_str("false"),
            Value::Number(number) => text.push_str(number),
            Value::String(string) => write_text(string, text, canonical),
            Value::Array(elements) => {
                text.push('[');
                for (index, element) in elements.iter().enumerate() {
                    if index > 0 {
                        text.push(',');
                    }
                    element.write(text, canonical);
                }
                text.push(']');
            }
            Value::Object(members) => {
                text.push('{');
                for (index, member) in members.iter().enumerate() {
                    if index > 0 {
                        text.push(',');
                    }
                    write_text(&member.key, text, canonical);
                    text.push(':');
                    member.value.write(text, canonical);
                }
                text.push('}');
            }
        }
    }
}

fn write_text(string: &Text, text: &mut String, canonical: bool) {
    if canonical {
        write_canonical_string(&string.value, text);
    } else {
        text.push_str(&string.raw);
    }
}

/// Appends `value` as a JSON string escaped as Jackson does.
fn write_canonical_string(value: &str, text: &mut String) {
    text.push('"');
    for character in value.chars() {
        match character {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            '\t' => text.push_str("\\t"),
            '\u{8}' => text.push_str("\\b"),
            '\u{c}' => text.push_str("\\f"),
            control if u32::from(control) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(text, "\\u{:04X}", u32::from(control));
            }
            other => text.push(other),
        }
    }
    text.push('"');
}

/// Parses `source` as exactly one JSON value.
pub fn parse(source: &str) -> Result<Value, JsonError> {
    let mut parser = Parser { source, bytes: source.as_bytes(), position: 0 };
    parser.skip_white_space();
    let value = parser.value(0)?;
    parser.skip_white_space();
    if parser.position != parser.bytes.len() {
        return Err(JsonError::TrailingCharacters(parser.position));
    }
    Ok(value)
}

struct Parser<'a> {
    source: &'a str,
    bytes: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip_white_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        match self.peek() {
            Some(found) if found == byte => {
                self.position += 1;
                Ok(())
            }
            Some(_) => Err(JsonError::UnexpectedCharacter(self.position)),
            None => Err(JsonError::UnexpectedEnd),
        }
    }

    fn keyword(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.position..].starts_with(word.as_bytes()) {
            self.position += word.len();
            Ok(value)
        } else {
            Err(JsonError::UnexpectedCharacter(self.position))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(JsonError::UnexpectedEnd),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.keyword("true", Value::Bool(true)),
            Some(b'f') => self.keyword("false", Value::Bool(false)),
            Some(b'n') => self.keyword("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(JsonError::UnexpectedCharacter(self.position)),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAXIMUM_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.expect(b'{')?;
        let mut members: Vec<Member> = Vec::new();
        self.skip_white_space();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_white_space();
            let key_position = self.position;
            if self.peek() != Some(b'"') {
                return Err(self.unexpected());
            }
            let key = self.string()?;
            if members.iter().any(|member| member.key.value == key.value) {
                return Err(JsonError::DuplicateKey(key_position));
            }
            self.skip_white_space();
            self.expect(b':')?;
            self.skip_white_space();
            let value = self.value(depth)?;
            members.push(Member { key, value });
            self.skip_white_space();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAXIMUM_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.expect(b'[')?;
        let mut elements = Vec::new();
        self.skip_white_space();
        if self.peek() == Some(b']') {
            self.position += 1;
            return Ok(Value::Array(elements));
        }
        loop {
            self.skip_white_space();
            elements.push(self.value(depth)?);
            self.skip_white_space();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(Value::Array(elements));
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn unexpected(&self) -> JsonError {
        if self.position >= self.bytes.len() {
            JsonError::UnexpectedEnd
        } else {
            JsonError::UnexpectedCharacter(self.position)
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.position;
        let invalid = JsonError::InvalidNumber(start);
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek() {
            Some(b'0') => self.position += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(invalid),
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(invalid);
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.position += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(invalid);
            }
            self.digits();
        }
        Ok(Value::Number(self.source[start..self.position].into()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.position += 1;
        }
    }

    fn hex_quad(&mut self) -> Result<u32, JsonError> {
        let start = self.position;
        let quad = self.bytes.get(start..start + 4).ok_or(JsonError::UnexpectedEnd)?;
        let mut value = 0u32;
        for digit in quad {
            let nibble = (*digit as char).to_digit(16).ok_or(JsonError::InvalidEscape(start))?;
            value = value << 4 | nibble;
        }
        self.position += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<Text, JsonError> {
        let start = self.position;
        self.expect(b'"')?;
        let mut value = String::new();
        loop {
            // Copy the run of plain characters up to the next quote or escape.
            let run_start = self.position;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' {
                    break;
                }
                if byte < 0x20 {
                    return Err(JsonError::ControlCharacter(self.position));
                }
                self.position += 1;
            }
            // The run ends before an ASCII byte or at the end, so it is whole
            // UTF-8 characters of the (valid UTF-8) source.
            value.push_str(&self.source[run_start..self.position]);
            match self.peek() {
                None => return Err(JsonError::UnexpectedEnd),
                Some(b'"') => {
                    self.position += 1;
                    let raw = self.source[start..self.position].into();
                    return Ok(Text { value, raw });
                }
                Some(_) => {
                    let escape_position = self.position;
                    self.position += 1;
                    let escaped = self.peek().ok_or(JsonError::UnexpectedEnd)?;
                    self.position += 1;
                    let character = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape(escape_position)?,
                        _ => return Err(JsonError::InvalidEscape(escape_position)),
                    };
                    value.push(character);
                }
            }
        }
    }

    /// The character of a `\uXXXX` escape (and its low surrogate's, if any).
    fn unicode_escape(&mut self, escape_position: usize) -> Result<char, JsonError> {
        let invalid = JsonError::InvalidEscape(escape_position);
        let first = self.hex_quad()?;
        let code = if (0xd800..0xdc00).contains(&first) {
            if !self.bytes[self.position..].starts_with(b"\\u") {
                return Err(invalid);
            }
            self.position += 2;
            let second = self.hex_quad()?;
            if !(0xdc00..0xe000).contains(&second) {
                return Err(invalid);
            }
            0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
        } else {
            first
        };
        char::from_u32(code).ok_or(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_order_and_tokens() {
        let source = r#"{ "b" : 1.50, "a":["x\/y", "\u00e9", null, true, false, -0e+1], "c": {} }"#;
        let value = parse(source).expect("valid JSON");
        assert_eq!(
            value.to_literal(),
            r#"{"b":1.50,"a":["x\/y","\u00e9",null,true,false,-0e+1],"c":{}}"#
        );
        assert_eq!(
            value.to_canonical(),
            r#"{"b":1.50,"a":["x/y","é",null,true,false,-0e+1],"c":{}}"#
        );
        assert_eq!(value.get("a").and_then(|a| a.as_array()).map(<[Value]>::len), Some(6));
        assert_eq!(value.without("a").to_literal(), r#"{"b":1.50,"c":{}}"#);
    }

    #[test]
    fn escapes_like_jackson() {
        assert_eq!(Value::string("a\"b\\c\n\u{1}é/").to_canonical(), "\"a\\\"b\\\\c\\n\\u0001é/\"");
    }

    #[test]
    fn decodes_surrogate_pairs() {
        assert_eq!(
            parse(r#""\ud83d\ude00""#).map(|v| v.as_str().map(String::from)),
            Ok(Some("😀".into()))
        );
        assert_eq!(parse(r#""\ud83d""#), Err(JsonError::InvalidEscape(1)));
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!(parse(r#"{"a":1,"a":2}"#), Err(JsonError::DuplicateKey(7)));
        assert_eq!(parse("[1,]"), Err(JsonError::UnexpectedCharacter(3)));
        assert_eq!(parse("01"), Err(JsonError::TrailingCharacters(1)));
        assert_eq!(parse("1."), Err(JsonError::InvalidNumber(0)));
        assert_eq!(parse("\"a\nb\""), Err(JsonError::ControlCharacter(2)));
        assert_eq!(parse("[1"), Err(JsonError::UnexpectedEnd));
        assert_eq!(parse("{} x"), Err(JsonError::TrailingCharacters(3)));
        let deep = "[".repeat(MAXIMUM_DEPTH + 1) + &"]".repeat(MAXIMUM_DEPTH + 1);
        assert_eq!(parse(&deep), Err(JsonError::TooDeep));
        let deep_enough = "[".repeat(MAXIMUM_DEPTH) + &"]".repeat(MAXIMUM_DEPTH);
        assert!(parse(&deep_enough).is_ok());
    }

    #[test]
    fn compares_objects_as_sets() {
        let left = parse(r#"{"a":[1,{"x":"y","z":null}],"b":"\u0041"}"#).expect("valid");
        let right = parse(r#"{"b":"A","a":[1,{"z":null,"x":"y"}]}"#).expect("valid");
        assert!(left.same_as(&right));
        let different = parse(r#"{"b":"A","a":[{"z":null,"x":"y"},1]}"#).expect("valid");
        assert!(!left.same_as(&different));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(alloc::format!("{n}"))),
            "\\PC{0,12}".prop_map(|s| Value::string(&s)),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,6}", inner, 0..5).prop_map(|map| {
                    Value::object(map.iter().map(|(k, v)| (k.as_str(), v.clone())))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_json_like_text(text in r#"[\[\]{}",:\\u0-9a-fA-Ftrulsen. -]{0,120}"#) {
            let _ = parse(&text);
        }

        #[test]
        fn canonical_text_round_trips(value in any_value()) {
            let text = value.to_canonical();
            let parsed = parse(&text).expect("the writer writes valid JSON");
            prop_assert_eq!(parsed.to_canonical(), text.clone());
            prop_assert_eq!(parsed.to_literal(), text);
        }
    }
}
