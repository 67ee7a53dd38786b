//! uuid text: PostgreSQL's input forms (hyphens optional after any group
//! of four hex digits, upper or lower case, optional braces) and its one
//! output form.

/// The 16 bytes of a uuid in any of PostgreSQL's input forms.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let mut rest = text.as_bytes();
    let braced = rest.first() == Some(&b'{');
    if braced {
        rest = &rest[1..];
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let [high, low, tail @ ..] = rest else {
            return None;
        };
        *byte = hex(*high)? << 4 | hex(*low)?;
        rest = tail;
        if i % 2 == 1 && i < 15 && rest.first() == Some(&b'-') {
            rest = &rest[1..];
        }
    }
    if braced {
        rest = rest.strip_prefix(b"}")?;
    }
    rest.is_empty().then_some(bytes)
}

/// Appends `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`.
pub fn write_uuid(bytes: &[u8; 16], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`.
pub fn format_uuid(bytes: &[u8; 16]) -> String {
    let mut out = Vec::with_capacity(36);
    write_uuid(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}
