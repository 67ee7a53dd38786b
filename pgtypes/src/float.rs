//! Floats in text as PostgreSQL prints them (`extra_float_digits` ≥ 1, its
//! default since version 12): the shortest digits that read back exactly,
//! in fixed notation when the decimal exponent is in [-4, 15) for `float8`
//! and [-4, 6) for `float4`, else as `d.ddde+XX` with at least two exponent
//! digits; `NaN`, `Infinity`, `-Infinity`.

/// Appends `v` as `float8out` prints it.
pub fn write_f64(v: f64, out: &mut Vec<u8>) {
    if !v.is_finite() {
        return special(v.is_nan(), v > 0.0, out);
    }
    let mut buffer = ryu::Buffer::new();
    pg_style(buffer.format_finite(v), 15, out);
}

/// Appends `v` as `float4out` prints it.
pub fn write_f32(v: f32, out: &mut Vec<u8>) {
    if !v.is_finite() {
        return special(v.is_nan(), v > 0.0, out);
    }
    let mut buffer = ryu::Buffer::new();
    pg_style(buffer.format_finite(v), 6, out);
}

fn special(nan: bool, positive: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(match (nan, positive) {
        (true, _) => b"NaN".as_slice(),
        (false, true) => b"Infinity",
        (false, false) => b"-Infinity",
    });
}

/// Reformats ryu's shortest output (`1.0`, `1e20`, `1.5e-7`, `0.001`) with
/// PostgreSQL's notation rule; `fixed_below` is the exponent from which
/// exponential notation is used.
fn pg_style(ryu: &str, fixed_below: i32, out: &mut Vec<u8>) {
    let (sign, unsigned) = match ryu.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", ryu),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (unsigned, 0),
    };
    // The significant digits and the exponent of the first one.
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let mut point = int.len() as i32 + exponent;
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..leading);
    point -= leading as i32;
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        out.push(b'0');
        return;
    }
    out.extend_from_slice(sign.as_bytes());
    let exp10 = point - 1;
    if (-4..fixed_below).contains(&exp10) {
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-point) as usize));
            out.extend_from_slice(&digits);
        } else if point as usize >= digits.len() {
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', point as usize - digits.len()));
        } else {
            let (i, f) = digits.split_at(point as usize);
            out.extend_from_slice(i);
            out.push(b'.');
            out.extend_from_slice(f);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp10 < 0 { b'-' } else { b'+' });
        let magnitude = exp10.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(magnitude).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f8(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn f4(v: f32) -> String {
        let mut out = Vec::new();
        write_f32(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// Each case as PostgreSQL 16 prints it (`SELECT x::float8`).
    #[test]
    fn like_postgres() {
        assert_eq!(f8(1.0), "1");
        assert_eq!(f8(-2.5), "-2.5");
        assert_eq!(f8(0.0), "0");
        assert_eq!(f8(0.1), "0.1");
        assert_eq!(f8(0.0001), "0.0001");
        assert_eq!(f8(0.00001), "1e-05");
        assert_eq!(f8(1.5e-7), "1.5e-07");
        assert_eq!(f8(123_456_789_012_345.0), "123456789012345");
        assert_eq!(f8(1e15), "1e+15");
        assert_eq!(f8(1e20), "1e+20");
        assert_eq!(f8(1.2345e100), "1.2345e+100");
        assert_eq!(f8(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(f8(f64::NAN), "NaN");
        assert_eq!(f8(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f4(1.5), "1.5");
        assert_eq!(f4(123_456.0), "123456");
        assert_eq!(f4(1e6), "1e+06");
        assert_eq!(f4(0.1), "0.1");
    }
}
