use super::*;
use proptest::prelude::*;

fn row(text: &str, width: usize) -> String {
    let mut out = Vec::new();
    push_copy_row(&mut out, text, width).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn values_are_written_as_postgres_text() {
    assert_eq!(
        row(
            r#"[1, -2.5, null, true, false, "x", 12345678901234567890123]"#,
            7
        ),
        "1\t-2.5\t\\N\ttrue\tfalse\tx\t12345678901234567890123\n"
    );
    assert_eq!(
        row(
            r#"["tab\there", "new\nline", "back\\slash", "cr\r", "ünï ✓", ""]"#,
            6
        ),
        "tab\\there\tnew\\nline\tback\\\\slash\tcr\\r\tünï ✓\t\n"
    );
    assert_eq!(
        row(r#"["{\"a\": [1, \"b\"]}", {"k": "v\tw"}, [1,2]]"#, 3),
        "{\"a\": [1, \"b\"]}\t{\"k\": \"v\\\\tw\"}\t[1,2]\n"
    );
    assert_eq!(row(r#"["\\N"]"#, 1), "\\\\N\n", "the text \\N is not NULL");
}

#[test]
fn malformed_rows_are_described() {
    let mut out = Vec::new();
    assert!(
        push_copy_row(&mut out, "[1, 2]", 3)
            .unwrap_err()
            .contains("2 values")
    );
    assert!(push_copy_row(&mut out, "{\"a\": 1}", 1).is_err());
    assert!(push_copy_row(&mut out, "[1, 2", 2).is_err());
    assert!(out.is_empty(), "nothing written for a bad row");
}

/// A decoder of one COPY text field, for the round-trip property below.
fn decode_field(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                other => panic!("unexpected escape {other:?}"),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

proptest! {
    /// Any strings survive encoding: splitting the row on tabs and decoding each field
    /// gives back exactly the values (so a tab or newline inside a value never splits it).
    #[test]
    fn strings_round_trip(values in proptest::collection::vec(proptest::option::of("\\PC*|[\\t\\n\\r\\\\]{0,5}"), 1..6)) {
        let json = serde_json::to_string(&values).unwrap();
        let text = row(&json, values.len());
        let fields: Vec<Option<String>> = text
            .strip_suffix('\n')
            .unwrap()
            .split('\t')
            .map(decode_field)
            .collect();
        prop_assert_eq!(fields, values);
    }
}
