//! Parsing of GDB target descriptions: the XML annexes (`target.xml` and the files it includes)
//! that tell which registers a target has, how wide they are and which number the `p` and `P`
//! packets use for each.
//!
//! Numbers follow GDB's rule: a `<reg>` without `regnum` gets the number after the previous
//! register's, across features and included files in document order, and the first register
//! defaults to 0. Only the few XML constructs target descriptions use are understood: elements,
//! attributes in single or double quotes, the five predefined entities, comments, processing
//! instructions and a `DOCTYPE` declaration.

use std::collections::HashSet;

use super::GdbError;

/// How deep `xi:include` may nest before the description is taken to be cyclic.
const MAXIMUM_INCLUDE_DEPTH: usize = 8;

/// One register of the target, as its description declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterDescription {
    /// The register's name as the stub spells it, for instance `x0`, `cpsr` or `HCR_EL2`.
    pub name: String,
    /// The register's width in bits.
    pub bit_size: u32,
    /// The number the `p` and `P` packets use for this register.
    pub number: u32,
    /// The name of the feature that declares it, for instance `org.gnu.gdb.aarch64.core`.
    pub feature: String,
}

impl RegisterDescription {
    /// The register's width in bytes, as its value travels in `p` and `P` packets.
    pub fn byte_size(&self) -> usize {
        (self.bit_size as usize).div_ceil(8)
    }
}

/// Reads a target description starting from the annex `root` (normally `target.xml`), calling
/// `fetch` for each annex's text, and returns its registers in document order.
pub fn parse_target_description(
    root: &str,
    fetch: &mut dyn FnMut(&str) -> Result<String, GdbError>,
) -> Result<Vec<RegisterDescription>, GdbError> {
    let mut parser = Parser {
        fetch,
        registers: Vec::new(),
        next_number: 0,
        feature: String::new(),
        open_annexes: HashSet::new(),
    };
    parser.parse_annex(root, 0)?;
    Ok(parser.registers)
}

/// Finds a register by name: an exact match first, then one that differs only in letter case.
pub fn find_register<'a>(
    registers: &'a [RegisterDescription],
    name: &str,
) -> Option<&'a RegisterDescription> {
    registers
        .iter()
        .find(|register| register.name == name)
        .or_else(|| registers.iter().find(|register| register.name.eq_ignore_ascii_case(name)))
}

struct Parser<'a> {
    fetch: &'a mut dyn FnMut(&str) -> Result<String, GdbError>,
    registers: Vec<RegisterDescription>,
    next_number: u32,
    feature: String,
    open_annexes: HashSet<String>,
}

impl Parser<'_> {
    fn parse_annex(&mut self, annex: &str, depth: usize) -> Result<(), GdbError> {
        let error =
            |message: String| GdbError::TargetDescription { annex: annex.to_owned(), message };
        if depth > MAXIMUM_INCLUDE_DEPTH || !self.open_annexes.insert(annex.to_owned()) {
            return Err(error("the annex includes itself, directly or through others".to_owned()));
        }
        let text = (self.fetch)(annex)?;
        for tag in tags(&text).map_err(error)? {
            match (tag.name, tag.kind) {
                ("feature", TagKind::Open | TagKind::Empty) => {
                    self.feature = tag.attribute("name").unwrap_or_default().to_owned();
                }
                ("feature", TagKind::Close) => self.feature.clear(),
                ("reg", TagKind::Open | TagKind::Empty) => {
                    let register = self.register(&tag).map_err(error)?;
                    self.registers.push(register);
                }
                ("xi:include" | "include", TagKind::Open | TagKind::Empty) => {
                    let href = tag
                        .attribute("href")
                        .ok_or_else(|| error("an `xi:include` has no `href`".to_owned()))?;
                    let feature = std::mem::take(&mut self.feature);
                    self.parse_annex(href, depth + 1)?;
                    self.feature = feature;
                }
                _ => {}
            }
        }
        self.open_annexes.remove(annex);
        Ok(())
    }

    fn register(&mut self, tag: &Tag<'_>) -> Result<RegisterDescription, String> {
        let name = tag.attribute("name").ok_or("a `<reg>` has no `name`")?;
        let number_attribute = |attribute: &str| -> Result<Option<u32>, String> {
            tag.attribute(attribute)
                .map(|value| {
                    value.trim().parse::<u32>().map_err(|_| {
                        format!("register `{name}` has {attribute}=\"{value}\", not a number")
                    })
                })
                .transpose()
        };
        let bit_size = number_attribute("bitsize")?
            .ok_or_else(|| format!("register `{name}` has no bitsize"))?;
        let number = number_attribute("regnum")?.unwrap_or(self.next_number);
        self.next_number = number + 1;
        Ok(RegisterDescription {
            name: name.to_owned(),
            bit_size,
            number,
            feature: self.feature.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    /// `<name ...>`
    Open,
    /// `</name>`
    Close,
    /// `<name .../>`
    Empty,
}

#[derive(Debug)]
struct Tag<'a> {
    name: &'a str,
    kind: TagKind,
    attributes: Vec<(&'a str, String)>,
}

impl Tag<'_> {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(attribute, _)| *attribute == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Lists the element tags of an XML text in order, skipping text, comments, processing
/// instructions and declarations.
fn tags(text: &str) -> Result<Vec<Tag<'_>>, String> {
    let mut tags = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let skip_to = |terminator: &str| -> Result<usize, String> {
            rest.find(terminator)
                .map(|end| end + terminator.len())
                .ok_or_else(|| format!("`{terminator}` missing after `{}`", excerpt(rest)))
        };
        if rest.starts_with("<!--") {
            rest = &rest[skip_to("-->")?..];
        } else if rest.starts_with("<?") {
            rest = &rest[skip_to("?>")?..];
        } else if rest.starts_with("<!") {
            // A declaration such as `<!DOCTYPE target SYSTEM "gdb-target.dtd">`, possibly with an
            // internal subset in brackets.
            let end = match (rest.find('['), rest.find('>')) {
                (Some(bracket), Some(close)) if bracket < close => skip_to("]>")?,
                _ => skip_to(">")?,
            };
            rest = &rest[end..];
        } else {
            let end =
                tag_end(rest).ok_or_else(|| format!("unterminated tag `{}`", excerpt(rest)))?;
            tags.push(parse_tag(&rest[1..end])?);
            rest = &rest[end + 1..];
        }
    }
    Ok(tags)
}

/// Finds the `>` that ends the tag at the start of `text`, ignoring any inside quotes.
fn tag_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (index, character) in text.char_indices() {
        match (quote, character) {
            (None, '"' | '\'') => quote = Some(character),
            (Some(open), _) if open == character => quote = None,
            (None, '>') => return Some(index),
            _ => {}
        }
    }
    None
}

/// Parses the inside of a tag, between `<` and `>`.
fn parse_tag(inside: &str) -> Result<Tag<'_>, String> {
    let (kind, inside) = if let Some(rest) = inside.strip_prefix('/') {
        (TagKind::Close, rest)
    } else if let Some(rest) = inside.strip_suffix('/') {
        (TagKind::Empty, rest)
    } else {
        (TagKind::Open, inside)
    };
    let inside = inside.trim();
    let name_end = inside.find(char::is_whitespace).unwrap_or(inside.len());
    let name = &inside[..name_end];
    if name.is_empty() {
        return Err(format!("a tag has no name: `<{inside}>`"));
    }
    let mut attributes = Vec::new();
    let mut rest = inside[name_end..].trim_start();
    while !rest.is_empty() {
        let malformed = || format!("malformed attributes in `<{inside}>`");
        let (attribute, after) = rest.split_once('=').ok_or_else(malformed)?;
        let after = after.trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|quote| matches!(quote, '"' | '\''))
            .ok_or_else(malformed)?;
        let value_end = after[1..].find(quote).ok_or_else(malformed)? + 1;
        attributes.push((attribute.trim(), decode_entities(&after[1..value_end])));
        rest = after[value_end + 1..].trim_start();
    }
    Ok(Tag { name, kind, attributes })
}

/// Replaces the five predefined XML entities and numeric character references.
fn decode_entities(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        decoded.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let replacement = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match replacement {
            Some(character) => {
                decoded.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

fn excerpt(text: &str) -> &str {
    let end = text.char_indices().nth(40).map_or(text.len(), |(index, _)| index);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Annexes shaped like those QEMU 7.2 serves for an AArch64 CPU, shortened.
    fn qemu_like_annexes() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            (
                "target.xml",
                r#"<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>aarch64</architecture><xi:include href="aarch64-core.xml"/><xi:include href="aarch64-fpu.xml"/><xi:include href="system-registers.xml"/></target>"#,
            ),
            (
                "aarch64-core.xml",
                r#"<?xml version="1.0"?>
<!-- Copyright (C) 2009-2012 Free Software Foundation, Inc.
     <reg name="commented-out" bitsize="64"/> -->
<!DOCTYPE feature SYSTEM "gdb-target.dtd">
<feature name="org.gnu.gdb.aarch64.core">
  <reg name="x0" bitsize="64"/>
  <reg name="x1" bitsize="64"/>
  <reg name="sp" bitsize="64" type="data_ptr"/>
  <reg name="pc" bitsize="64" type="code_ptr"/>
  <flags id="cpsr_flags" size="4">
    <field name="SP" start="0" end="0"/>
  </flags>
  <reg name="cpsr" bitsize="32" type="cpsr_flags"/>
</feature>"#,
            ),
            (
                "aarch64-fpu.xml",
                r#"<?xml version="1.0"?>
<feature name='org.gnu.gdb.aarch64.fpu'>
  <vector id="v2d" type="ieee_double" count="2"/>
  <reg name="v0" bitsize="128" type="aarch64v" regnum="34"/>
  <reg name="v1" bitsize="128" type="aarch64v"/>
  <reg name="fpsr" bitsize="32"/>
</feature>"#,
            ),
            (
                "system-registers.xml",
                r#"<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><feature name="org.qemu.gdb.arm.sys.regs"><reg name="HCR_EL2" bitsize="64" regnum="68" group="cp_regs"/><reg name="VTTBR_EL2" bitsize="64" group="cp_regs"/><reg name="A&amp;B" bitsize="64" regnum="70" group="cp_regs"/></feature>"#,
            ),
        ])
    }

    fn parse(
        annexes: &HashMap<&'static str, &'static str>,
    ) -> Result<Vec<RegisterDescription>, GdbError> {
        parse_target_description("target.xml", &mut |annex| {
            annexes.get(annex).map(|text| (*text).to_owned()).ok_or_else(|| {
                GdbError::TargetDescription {
                    annex: annex.to_owned(),
                    message: "missing".to_owned(),
                }
            })
        })
    }

    #[test]
    fn includes_are_followed_and_numbers_assigned_in_order() {
        let registers = parse(&qemu_like_annexes()).unwrap();
        let summary: Vec<(&str, u32, u32, &str)> = registers
            .iter()
            .map(|register| {
                (
                    register.name.as_str(),
                    register.number,
                    register.bit_size,
                    register.feature.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("x0", 0, 64, "org.gnu.gdb.aarch64.core"),
                ("x1", 1, 64, "org.gnu.gdb.aarch64.core"),
                ("sp", 2, 64, "org.gnu.gdb.aarch64.core"),
                ("pc", 3, 64, "org.gnu.gdb.aarch64.core"),
                ("cpsr", 4, 32, "org.gnu.gdb.aarch64.core"),
                ("v0", 34, 128, "org.gnu.gdb.aarch64.fpu"),
                ("v1", 35, 128, "org.gnu.gdb.aarch64.fpu"),
                ("fpsr", 36, 32, "org.gnu.gdb.aarch64.fpu"),
                ("HCR_EL2", 68, 64, "org.qemu.gdb.arm.sys.regs"),
                ("VTTBR_EL2", 69, 64, "org.qemu.gdb.arm.sys.regs"),
                ("A&B", 70, 64, "org.qemu.gdb.arm.sys.regs"),
            ]
        );
        assert_eq!(registers[5].byte_size(), 16);
        assert_eq!(registers[4].byte_size(), 4);
    }

    #[test]
    fn registers_are_found_ignoring_case() {
        let registers = parse(&qemu_like_annexes()).unwrap();
        assert_eq!(find_register(&registers, "hcr_el2").unwrap().number, 68);
        assert_eq!(find_register(&registers, "VTTBR_EL2").unwrap().number, 69);
        assert_eq!(find_register(&registers, "PC").unwrap().number, 3);
        assert!(find_register(&registers, "x2").is_none());
    }

    #[test]
    fn a_missing_annex_is_an_error() {
        let mut annexes = qemu_like_annexes();
        annexes.remove("aarch64-fpu.xml");
        let error = parse(&annexes).unwrap_err();
        assert!(
            matches!(error, GdbError::TargetDescription { annex, .. } if annex == "aarch64-fpu.xml")
        );
    }

    #[test]
    fn cyclic_includes_are_an_error() {
        let annexes = HashMap::from([
            ("target.xml", r#"<target><xi:include href="a.xml"/></target>"#),
            ("a.xml", r#"<feature name="a"><xi:include href="target.xml"/></feature>"#),
        ]);
        assert!(matches!(parse(&annexes), Err(GdbError::TargetDescription { .. })));
    }

    #[test]
    fn malformed_registers_are_errors() {
        for text in [
            r#"<target><reg bitsize="64"/></target>"#,
            r#"<target><reg name="x0"/></target>"#,
            r#"<target><reg name="x0" bitsize="wide"/></target>"#,
            r#"<target><reg name="x0" bitsize="64"</target>"#,
        ] {
            let annexes = HashMap::from([("target.xml", text)]);
            assert!(parse(&annexes).is_err(), "{text} parsed");
        }
    }

    #[test]
    fn tags_handle_quotes_and_entities() {
        let tags = tags(r#"<a x='1>2' y="&lt;&#65;&#x42;&bogus;"/>text</a>"#).unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].kind, TagKind::Empty);
        assert_eq!(tags[0].attribute("x"), Some("1>2"));
        assert_eq!(tags[0].attribute("y"), Some("<AB&bogus;"));
        assert_eq!(tags[1].kind, TagKind::Close);
    }
}
