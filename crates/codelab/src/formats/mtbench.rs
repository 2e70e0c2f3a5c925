//! MT-Bench JSON Lines, one conversation per line.
//!
//! - Questions (`mt_bench_question.jsonl`): `{question_id, category, turns: [text …]}` → user
//!   messages in session `mtbench-q<question_id>`, metadata `question_id`, `category`.
//! - Reference or model answers: `{question_id, answer_id, model_id, choices: [{turns}]}` →
//!   assistant messages (first choice) in session `mtbench-a<question_id>`, metadata
//!   `question_id`, `model_id`, `answer_id`.

use codelab_proto::agent::v1::{Message, Role};
use serde_json::{Map, Value};

use super::{Documents, Draft, FormatError, as_object, kind};

pub(super) fn parse(docs: &Documents) -> Result<Vec<Draft>, FormatError> {
    docs.records()
        .into_iter()
        .map(|(location, v)| record(&location, v))
        .collect()
}

fn record(location: &str, v: &Value) -> Result<Draft, FormatError> {
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
    let mut metadata = Map::new();
    metadata.insert("question_id".into(), obj["question_id"].clone());
    let (kind_letter, role, turns) = if let Some(turns) = obj.get("turns") {
        copy_str(obj, "category", &mut metadata, location)?;
        (
            'q',
            Role::User,
            strings(turns, &format!("{location}, turns"))?,
        )
    } else if let Some(choices) = obj.get("choices") {
        copy_str(obj, "model_id", &mut metadata, location)?;
        copy_str(obj, "answer_id", &mut metadata, location)?;
        let first = match choices {
            Value::Array(c) if !c.is_empty() => &c[0],
            Value::Array(_) => return Err(FormatError::new(location, "field `choices` is empty")),
            other => {
                return Err(FormatError::new(
                    location,
                    format!("field `choices` must be an array, found {}", kind(other)),
                ));
            }
        };
        let choice = as_object(first, "a choice", &format!("{location}, choices[0]"))?;
        let turns = choice.get("turns").ok_or_else(|| {
            FormatError::new(format!("{location}, choices[0]"), "missing field `turns`")
        })?;
        (
            'a',
            Role::Assistant,
            strings(turns, &format!("{location}, choices[0].turns"))?,
        )
    } else {
        return Err(FormatError::new(
            location,
            "missing field `turns` (a question) or `choices` (an answer)",
        ));
    };
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
