//! JSON written exactly as Python's `json.dumps` writes it (`", "` and `": "` separators,
//! `\uXXXX` escapes for everything outside ASCII, Python's float formatting), with the key
//! order of each object chosen by the caller: MT-Bench files are exported byte-identical to
//! the ones FastChat wrote.

use serde_json::Value;

/// A value to write with its objects' key order decided.
pub(super) enum Out {
    /// Written as is (objects inside with sorted keys).
    Plain(Value),
    /// An object, entries in this order.
    Object(Vec<(String, Out)>),
    /// An array.
    Array(Vec<Out>),
}

/// `v` as Python's `json.dumps` writes it, objects of [`Out::Object`] in their given order.
pub(super) fn write(out: &mut String, v: &Out) {
    match v {
        Out::Plain(v) => write_value(out, v),
        Out::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k);
                out.push_str(": ");
                write(out, v);
            }
            out.push('}');
        }
        Out::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(out, v);
            }
            out.push(']');
        }
    }
}

/// `v` as Python's `json.dumps(v)` writes it.
fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, v);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k);
                out.push_str(": ");
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

/// Integers as they are; floats as Python's `repr`: the shortest round-trip digits (which
/// serde_json also prints), with Python's exponent form (`1e+16`, `1e-07`).
fn write_number(out: &mut String, n: &serde_json::Number) {
    let text = n.to_string();
    match text.split_once('e') {
        Some((mantissa, exp)) if n.is_f64() => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp.trim_start_matches('+')),
            };
            out.push_str(mantissa);
            out.push('e');
            out.push(sign);
            if digits.len() < 2 {
                out.push('0');
            }
            out.push_str(digits);
        }
        _ => out.push_str(&text),
    }
}

/// A JSON string as Python writes it with `ensure_ascii=True`: printable ASCII as is, `\"`,
/// `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, everything else `\uXXXX` (UTF-16, so surrogate pairs
/// beyond the BMP).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(v: &Value) -> String {
        let mut out = String::new();
        write_value(&mut out, v);
        out
    }

    #[test]
    fn writes_like_python_json_dumps() {
        // Expected strings are what CPython's json.dumps prints.
        let v = serde_json::json!({"a": [1, 2.5, null, true], "b": "é\"\\\n\u{7f}😀"});
        assert_eq!(
            py(&v),
            r#"{"a": [1, 2.5, null, true], "b": "\u00e9\"\\\n\u007f\ud83d\ude00"}"#
        );
        let f = |x: f64| py(&Value::from(x));
        assert_eq!(f(1686286924.844282), "1686286924.844282");
        assert_eq!(f(1686286937.7164738), "1686286937.7164738");
        assert_eq!(f(1e16), "1e+16");
        assert_eq!(f(1.5e-7), "1.5e-07");
        assert_eq!(f(1.0), "1.0");
        assert_eq!(py(&Value::from(-3)), "-3");
    }
}
