//! PostgreSQL's binary `numeric` format (`numeric_send`/`numeric_recv`):
//!
//! ```text
//!   i16 ndigits  i16 weight  u16 sign (0 or 0x4000)  u16 dscale  ndigits × i16
//! ```
//!
//! Digits are base-10000 groups, most significant first; the value is
//! `Σ digit[k] × 10000^(weight - k)` and `dscale` is the number of decimal
//! digits after the point to display. PostgreSQL applies the column's
//! typmod (`numeric(p,s)`) on receipt, so any scale may be sent.
//! [`decode_numeric`] reads the same format back (lookups, parameters);
//! [`write_text`] prints a decimal as `numeric_out` does.

use crate::put;

/// PostgreSQL's binary numeric: base-10000 digit groups, most significant
/// first, with `weight` = the power of 10000 of the first group.
#[derive(Debug, PartialEq)]
pub struct Numeric {
    digits: [i16; 24],
    ndigits: usize,
    weight: i16,
    negative: bool,
    dscale: u16,
}

const NUMERIC_NEG: u16 = 0x4000;

impl Numeric {
    /// The value `unscaled × 10^-scale`.
    pub fn from_decimal(unscaled: i128, scale: i8) -> Numeric {
        let negative = unscaled < 0;
        let mut magnitude = unscaled.unsigned_abs();
        let mut scale = scale as i32;
        if scale < 0 {
            // Decimal128 of negative scale: at most 38 digits, so the
            // magnitude times 10^-scale still fits in u128 for practical
            // scales; saturate rather than wrap for absurd ones.
            magnitude = magnitude.saturating_mul(10u128.saturating_pow((-scale) as u32));
            scale = 0;
        }
        let scale = scale as u32;
        let pow = 10u128.pow(scale);
        let (mut int_part, mut frac) = (magnitude / pow, magnitude % pow);

        let mut frac_groups = [0i16; 12];
        let nfrac = scale.div_ceil(4) as usize;
        let mut k = nfrac;
        if !scale.is_multiple_of(4) {
            let r = scale % 4;
            k -= 1;
            frac_groups[k] = ((frac % 10u128.pow(r)) * 10u128.pow(4 - r)) as i16;
            frac /= 10u128.pow(r);
        }
        while k > 0 {
            k -= 1;
            frac_groups[k] = (frac % 10_000) as i16;
            frac /= 10_000;
        }
        let mut int_groups = [0i16; 12];
        let mut nint = 0;
        while int_part > 0 {
            int_groups[nint] = (int_part % 10_000) as i16;
            int_part /= 10_000;
            nint += 1;
        }

        let mut digits = [0i16; 24];
        let mut n = 0;
        for &g in int_groups[..nint].iter().rev().chain(&frac_groups[..nfrac]) {
            digits[n] = g;
            n += 1;
        }
        let mut weight = nint as i16 - 1;
        let leading = digits[..n].iter().take_while(|&&d| d == 0).count();
        digits.copy_within(leading..n, 0);
        n -= leading;
        weight -= leading as i16;
        while n > 0 && digits[n - 1] == 0 {
            n -= 1;
        }
        if n == 0 {
            weight = 0;
        }
        Numeric {
            digits,
            ndigits: n,
            weight,
            negative: negative && n > 0,
            dscale: scale as u16,
        }
    }

    pub fn encoded_len(&self) -> usize {
        8 + 2 * self.ndigits
    }

    /// Appends the binary form to `out`.
    pub fn append(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        self.write(out, &mut start.clone());
    }

    pub fn write(&self, out: &mut [u8], cursor: &mut usize) {
        put(out, cursor, &(self.ndigits as i16).to_be_bytes());
        put(out, cursor, &self.weight.to_be_bytes());
        put(
            out,
            cursor,
            &(if self.negative { NUMERIC_NEG } else { 0 }).to_be_bytes(),
        );
        put(out, cursor, &self.dscale.to_be_bytes());
        for d in &self.digits[..self.ndigits] {
            put(out, cursor, &d.to_be_bytes());
        }
    }
}

const NUMERIC_NAN: u16 = 0xC000;

/// Appends `unscaled × 10^-scale` as PostgreSQL prints a numeric: the
/// plain decimal with `scale` fraction digits (`1.50`, `-0.005`, `1200`).
/// Covers all 38 digits of Arrow's Decimal128.
pub fn write_text(unscaled: i128, scale: i8, out: &mut Vec<u8>) {
    if unscaled < 0 {
        out.push(b'-');
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(unscaled.unsigned_abs()).as_bytes();
    if scale <= 0 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', scale.unsigned_abs() as usize));
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

/// Reads `numeric_send`'s bytes as the unscaled value at `scale` (the value
/// times 10^scale), rounding half away from zero like PostgreSQL. Fails on
/// NaN and infinity and on values beyond `i128`.
pub fn decode_numeric(raw: &[u8], scale: i8) -> Result<i128, &'static str> {
    let word = |at: usize| -> Result<u16, &'static str> {
        raw.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or("truncated numeric")
    };
    let ndigits = word(0)? as i16;
    let weight = word(2)? as i16 as i32;
    let sign = word(4)?;
    match sign {
        0 | NUMERIC_NEG => {}
        NUMERIC_NAN => return Err("NaN has no Arrow decimal value"),
        _ => return Err("infinity has no Arrow decimal value"),
    }
    if ndigits < 0 || raw.len() != 8 + 2 * ndigits as usize {
        return Err("malformed numeric");
    }
    let overflow = "numeric value out of range for a 128-bit decimal";
    let scale = scale as i32;
    let mut magnitude: i128 = 0;
    let mut round_up = false;
    for k in 0..ndigits as usize {
        let digit = word(8 + 2 * k)? as i128;
        // The power of ten of this group's last digit, in units of the result.
        let exp = 4 * (weight - k as i32) + scale;
        if exp >= 0 {
            let unit = 10i128.checked_pow(exp as u32).ok_or(overflow)?;
            magnitude = digit
                .checked_mul(unit)
                .and_then(|v| magnitude.checked_add(v))
                .ok_or(overflow)?;
        } else if exp > -4 {
            magnitude = magnitude
                .checked_add(digit / 10i128.pow((-exp) as u32))
                .ok_or(overflow)?;
        }
        if (-4..=-1).contains(&exp) {
            // This group holds the first digit below the result's unit.
            round_up = (digit / 10i128.pow((-1 - exp) as u32)) % 10 >= 5;
        }
    }
    if round_up {
        magnitude = magnitude.checked_add(1).ok_or(overflow)?;
    }
    Ok(if sign == NUMERIC_NEG {
        -magnitude
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(unscaled: i128, scale: i8) -> Vec<u8> {
        let n = Numeric::from_decimal(unscaled, scale);
        let mut out = vec![0; n.encoded_len()];
        n.write(&mut out, &mut 0);
        out
    }

    #[test]
    fn text_like_postgres() {
        let text = |unscaled, scale| {
            let mut out = Vec::new();
            write_text(unscaled, scale, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(150, 2), "1.50");
        assert_eq!(text(-5, 3), "-0.005");
        assert_eq!(text(12, 0), "12");
        assert_eq!(text(12, -2), "1200");
        assert_eq!(text(0, 2), "0.00");
        assert_eq!(
            text(i128::MAX, 10),
            "17014118346046923173168730371.5884105727"
        );
    }

    #[test]
    fn decoding_reads_back_what_encoding_wrote() {
        let max = 10i128.pow(38) - 1;
        for (unscaled, scale) in [
            (12345, 2),
            (1, 4),
            (1, 5),
            (-100_000_000, 0),
            (0, 3),
            (max, 0),
            (-max, 38),
            (123_456_789, 9),
        ] {
            assert_eq!(
                decode_numeric(&encode(unscaled, scale), scale),
                Ok(unscaled),
                "{unscaled}e-{scale}"
            );
        }
        // Rescaling: more digits, and fewer (rounded half away from zero).
        assert_eq!(decode_numeric(&encode(12345, 2), 4), Ok(1_234_500));
        assert_eq!(decode_numeric(&encode(12345, 2), 1), Ok(1235));
        assert_eq!(decode_numeric(&encode(-12344, 2), 1), Ok(-1234));
        assert_eq!(decode_numeric(&encode(15, 5), 4), Ok(2));
        assert_eq!(
            decode_numeric(&encode(max, 0), 1),
            Err("numeric value out of range for a 128-bit decimal")
        );
        let nan = [0, 0, 0, 0, 0xC0, 0, 0, 0];
        assert!(decode_numeric(&nan, 0).unwrap_err().starts_with("NaN"));
    }

    fn parts(unscaled: i128, scale: i8) -> (Vec<i16>, i16, bool, u16) {
        let n = Numeric::from_decimal(unscaled, scale);
        (
            n.digits[..n.ndigits].to_vec(),
            n.weight,
            n.negative,
            n.dscale,
        )
    }

    #[test]
    fn numeric_groups() {
        assert_eq!(parts(12345, 2), (vec![123, 4500], 0, false, 2));
        assert_eq!(parts(1, 4), (vec![1], -1, false, 4));
        assert_eq!(parts(1, 5), (vec![1000], -2, false, 5));
        assert_eq!(parts(-100_000_000, 0), (vec![1], 2, true, 0));
        assert_eq!(parts(0, 3), (vec![], 0, false, 3));
        assert_eq!(parts(-5, -2), (vec![500], 0, true, 0));
        let max = 10i128.pow(38) - 1;
        let (digits, weight, _, _) = parts(max, 0);
        assert_eq!((digits.len(), weight), (10, 9));
        assert_eq!(digits[0], 99);
        let (digits, weight, _, _) = parts(max, 38);
        assert_eq!((digits.len(), weight, digits[9]), (10, -1, 9900));
    }
}
