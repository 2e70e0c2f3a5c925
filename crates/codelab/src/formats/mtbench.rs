//! MT-Bench JSON Lines, one conversation per line, both ways.
//!
//! - Questions (`mt_bench_question.jsonl`): `{question_id, category, turns: [text …], …}` →
//!   user messages in session `mtbench-q<question_id>`, metadata `question_id`, `category`.
//! - Reference or model answers: `{question_id, answer_id, model_id, choices: [{index, turns}],
//!   tstamp, …}` → assistant messages (the first choice's turns) in session
//!   `mtbench-a<question_id>`, metadata `question_id`, `model_id`, `answer_id`.
//!
//! Everything the conversation model does not hold is kept in the session metadata under
//! [`LAYOUT_KEY`], so `export --format mt-bench` writes the line back as it was:
//!
//! ```json
//! "mt_bench": {
//!   "keys": ["question_id", "answer_id", "model_id", "choices", "tstamp"],
//!   "fields": {"question_id": 101, "answer_id": "TFom…", "model_id": "gpt-4", "tstamp": 1686286924.844282},
//!   "choices": [{"keys": ["index", "turns"], "fields": {"index": 0}}]
//! }
//! ```
//!
//! `keys` is the file's key order (PostgreSQL's `jsonb` does not keep it), `fields` every
//! field but the turns, which are the session's messages; a question has no `choices` entry,
//! an answer's further choices are kept whole. Lines are written as Python's `json.dumps` does
//! (FastChat wrote the files with it): `", "` and `": "` separators, non-ASCII as `\uXXXX`.
//! Objects nested inside other fields are written with sorted keys.

use codelab_proto::agent::v1::{Message, Role};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::python_json::{Out, write};
use super::{Documents, Draft, ExportedConversation, FormatError, as_object, kind};

/// Key of the session metadata holding a record's layout (see the module doc).
pub const LAYOUT_KEY: &str = "mt_bench";

pub(super) fn parse(docs: &Documents) -> Result<Vec<Draft>, FormatError> {
    match docs {
        Documents::Lines(lines) => lines
            .iter()
            .map(|(n, v, text)| record(&format!("line {n}"), v, KeyOrder::of(text)))
            .collect(),
        Documents::Array(_) => docs
            .records()
            .into_iter()
            .map(|(location, v)| record(&location, v, None))
            .collect(),
    }
}

fn record(location: &str, v: &Value, order: Option<KeyOrder>) -> Result<Draft, FormatError> {
    let obj = as_object(v, "an MT-Bench record", location)?;
    let question_id = match obj.get("question_id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None => return Err(FormatError::new(location, "missing field `question_id`")),
        Some(other) => {
            return Err(FormatError::new(
                location,
                format!(
                    "field `question_id` must be a number or a string, found {}",
                    kind(other)
                ),
            ));
        }
    };
    let order = order.unwrap_or_else(|| KeyOrder::sorted(obj));
    let mut metadata = Map::new();
    metadata.insert("question_id".into(), obj["question_id"].clone());
    let mut layout = Map::new();
    layout.insert("keys".into(), strings_value(&order.keys));
    let (kind_letter, role, turns) = if let Some(turns) = obj.get("turns") {
        copy_str(obj, "category", &mut metadata, location)?;
        layout.insert("fields".into(), Value::Object(without(obj, "turns")));
        (
            'q',
            Role::User,
            strings(turns, &format!("{location}, turns"))?,
        )
    } else if let Some(choices) = obj.get("choices") {
        copy_str(obj, "model_id", &mut metadata, location)?;
        copy_str(obj, "answer_id", &mut metadata, location)?;
        let all = match choices {
            Value::Array(c) if !c.is_empty() => c,
            Value::Array(_) => return Err(FormatError::new(location, "field `choices` is empty")),
            other => {
                return Err(FormatError::new(
                    location,
                    format!("field `choices` must be an array, found {}", kind(other)),
                ));
            }
        };
        let choice = as_object(&all[0], "a choice", &format!("{location}, choices[0]"))?;
        let turns = choice.get("turns").ok_or_else(|| {
            FormatError::new(format!("{location}, choices[0]"), "missing field `turns`")
        })?;
        let turns = strings(turns, &format!("{location}, choices[0].turns"))?;
        layout.insert("fields".into(), Value::Object(without(obj, "choices")));
        let choices = all
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let keys = order.choices.get(i).cloned().unwrap_or_else(|| {
                    c.as_object()
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default()
                });
                let mut entry = Map::new();
                entry.insert("keys".into(), strings_value(&keys));
                // The first choice's turns are the messages; the others are kept whole.
                let fields = match (i, c) {
                    (0, Value::Object(o)) => Value::Object(without(o, "turns")),
                    (_, other) => other.clone(),
                };
                entry.insert("fields".into(), fields);
                Value::Object(entry)
            })
            .collect();
        layout.insert("choices".into(), Value::Array(choices));
        ('a', Role::Assistant, turns)
    } else {
        return Err(FormatError::new(
            location,
            "missing field `turns` (a question) or `choices` (an answer)",
        ));
    };
    metadata.insert(LAYOUT_KEY.into(), Value::Object(layout));
    let messages = turns
        .into_iter()
        .map(|text| Message {
            role: role as i32,
            content: Some(text),
            ..Message::default()
        })
        .collect();
    Ok(Draft {
        location: location.to_owned(),
        source_id: None,
        fixed_id: Some(format!(
            "mtbench-{kind_letter}{}",
            super::sanitize_id(&question_id)
        )),
        metadata,
        messages,
    })
}

fn without(obj: &Map<String, Value>, key: &str) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| *k != key)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn strings_value(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn strings(v: &Value, location: &str) -> Result<Vec<String>, FormatError> {
    let Value::Array(items) = v else {
        return Err(FormatError::new(
            location,
            format!("must be an array of strings, found {}", kind(v)),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Value::String(s) => Ok(s.clone()),
            other => Err(FormatError::new(
                format!("{location}[{i}]"),
                format!("must be a string, found {}", kind(other)),
            )),
        })
        .collect()
}

fn copy_str(
    obj: &Map<String, Value>,
    field: &str,
    metadata: &mut Map<String, Value>,
    location: &str,
) -> Result<(), FormatError> {
    if let Some(s) = super::optional_str(obj, field, location)? {
        metadata.insert(field.into(), Value::from(s));
    }
    Ok(())
}

/// The key order of a record and of each of its `choices` as written in the file
/// (`serde_json::Map` sorts keys, so it is read from the line's text).
#[derive(Debug, Default)]
struct KeyOrder {
    keys: Vec<String>,
    choices: Vec<Vec<String>>,
}

impl KeyOrder {
    /// The order in `line`, or `None` when it is not an object whose choices are objects.
    fn of(line: &str) -> Option<KeyOrder> {
        serde_json::from_str(line).ok()
    }

    /// Sorted order, for records read from a JSON array (no line text).
    fn sorted(obj: &Map<String, Value>) -> KeyOrder {
        KeyOrder {
            keys: obj.keys().cloned().collect(),
            choices: Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
                let mut order = KeyOrder::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "choices" {
                        order.choices = map
                            .next_value::<Vec<Keys>>()?
                            .into_iter()
                            .map(|k| k.0)
                            .collect();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                    order.keys.push(key);
                }
                Ok(order)
            }
        }
        d.deserialize_map(V)
    }
}

/// The keys of one object, in order.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

/// One conversation as an MT-Bench line (without the newline).
///
/// With the layout stored at import, the record is rebuilt in its original key order, the
/// turns taken from the messages. Without one, a session of user messages becomes a question
/// `{question_id, category?, turns}` and one of assistant messages an answer
/// `{question_id, answer_id?, model_id?, choices: [{index: 0, turns}]}`; `question_id` is
/// the metadata's, else the conversation id.
///
/// # Errors
/// A session whose messages are not all of the one role its record holds (user turns for a
/// question, assistant turns for an answer), or an empty session without layout.
pub fn to_line(c: &ExportedConversation) -> anyhow::Result<String> {
    let out = match c.metadata.get(LAYOUT_KEY).and_then(Value::as_object) {
        Some(layout) => from_layout(c, layout)?,
        None => without_layout(c)?,
    };
    let mut line = String::new();
    write(&mut line, &out);
    Ok(line)
}

fn turns(c: &ExportedConversation, role: Role) -> anyhow::Result<Out> {
    let mut turns = Vec::with_capacity(c.messages.len());
    for m in &c.messages {
        anyhow::ensure!(
            m.role == role as i32,
            "session `{}`: message {} is {}, but an MT-Bench {} holds {} turns only; export it \
             as openai instead",
            c.id,
            m.seq,
            Role::try_from(m.role).map_or("unknown", |r| r.as_str_name()),
            if role == Role::User {
                "question"
            } else {
                "answer"
            },
            if role == Role::User {
                "user"
            } else {
                "assistant"
            },
        );
        turns.push(Out::Plain(Value::String(
            m.content.clone().unwrap_or_default(),
        )));
    }
    Ok(Out::Array(turns))
}

/// Entries of `fields` in the order of `keys` (keys not listed follow, sorted), with `special`
/// filled in by `fill` where its key stands.
fn ordered(
    keys: Option<&Value>,
    fields: &Map<String, Value>,
    special: &str,
    mut fill: impl FnMut() -> anyhow::Result<Out>,
) -> anyhow::Result<Out> {
    let mut order: Vec<String> = keys
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for k in fields.keys() {
        if !order.contains(k) {
            order.push(k.clone());
        }
    }
    if !order.iter().any(|k| k == special) {
        order.push(special.to_owned());
    }
    let mut entries = Vec::with_capacity(order.len());
    for k in order {
        if k == special {
            entries.push((k, fill()?));
        } else if let Some(v) = fields.get(&k) {
            entries.push((k, Out::Plain(v.clone())));
        }
    }
    Ok(Out::Object(entries))
}

fn from_layout(c: &ExportedConversation, layout: &Map<String, Value>) -> anyhow::Result<Out> {
    let empty = Map::new();
    let fields = layout
        .get("fields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let keys = layout.get("keys");
    let Some(choices) = layout.get("choices").and_then(Value::as_array) else {
        return ordered(keys, fields, "turns", || turns(c, Role::User));
    };
    ordered(keys, fields, "choices", || {
        let mut out = Vec::with_capacity(choices.len());
        for (i, choice) in choices.iter().enumerate() {
            let keys = choice.get("keys");
            match choice.get("fields") {
                Some(Value::Object(fields)) if i == 0 => {
                    out.push(ordered(keys, fields, "turns", || {
                        turns(c, Role::Assistant)
                    })?);
                }
                Some(Value::Object(fields)) => {
                    let mut entries = Vec::new();
                    let order = keys.and_then(Value::as_array).cloned().unwrap_or_default();
                    for k in order.iter().filter_map(Value::as_str) {
                        if let Some(v) = fields.get(k) {
                            entries.push((k.to_owned(), Out::Plain(v.clone())));
                        }
                    }
                    for (k, v) in fields {
                        if !order.iter().any(|o| o.as_str() == Some(k)) {
                            entries.push((k.clone(), Out::Plain(v.clone())));
                        }
                    }
                    out.push(Out::Object(entries));
                }
                Some(other) => out.push(Out::Plain(other.clone())),
                None => {}
            }
        }
        Ok(Out::Array(out))
    })
}

fn without_layout(c: &ExportedConversation) -> anyhow::Result<Out> {
    anyhow::ensure!(
        !c.messages.is_empty(),
        "session `{}` has no messages: nothing to write as an MT-Bench record",
        c.id
    );
    let question_id = c
        .metadata
        .get("question_id")
        .cloned()
        .unwrap_or_else(|| Value::String(c.id.clone()));
    let mut entries = vec![("question_id".to_owned(), Out::Plain(question_id))];
    let copy = |entries: &mut Vec<(String, Out)>, key: &str| {
        if let Some(v) = c.metadata.get(key).filter(|v| v.is_string()) {
            entries.push((key.to_owned(), Out::Plain(v.clone())));
        }
    };
    if c.messages[0].role == Role::User as i32 {
        copy(&mut entries, "category");
        entries.push(("turns".to_owned(), turns(c, Role::User)?));
    } else {
        copy(&mut entries, "answer_id");
        copy(&mut entries, "model_id");
        let choice = Out::Object(vec![
            ("index".to_owned(), Out::Plain(Value::from(0))),
            ("turns".to_owned(), turns(c, Role::Assistant)?),
        ]);
        entries.push(("choices".to_owned(), Out::Array(vec![choice])));
    }
    Ok(Out::Object(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_is_read_from_the_line() {
        let order =
            KeyOrder::of(r#"{"z": 1, "choices": [{"turns": [], "index": 0}], "a": 2}"#).unwrap();
        assert_eq!(order.keys, ["z", "choices", "a"]);
        assert_eq!(order.choices, [vec!["turns", "index"]]);
        assert!(KeyOrder::of(r#"{"choices": [1]}"#).is_none());
    }
}
