//! Writing stored conversations back in a file format (`sessions export`).

use codelab_proto::agent::v1::Message;
use serde_json::{Map, Value};

use super::{
    ExportFormat, OpenAiMessage, ShareGptConversation, mtbench, openai, to_openai, to_sharegpt,
};

/// A conversation as stored, to be written by [`write_export`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedConversation {
    /// Id written to the file: the imported `source_id`, else the session id.
    pub id: String,
    /// The session's metadata (empty when it has none): what `mt-bench` restores records from.
    pub metadata: Map<String, Value>,
    /// Messages in `seq` order.
    pub messages: Vec<Message>,
}

/// Writes `conversations` to `out` in `format`.
///
/// `single` is true when one session was asked for: `openai` then writes just its message
/// array (the one-conversation form). Everything written can be imported again.
///
/// # Errors
/// I/O errors of `out`; for `mt-bench`, a session that holds no MT-Bench record (see
/// `mtbench::to_line`), before anything is written.
pub fn write_export(
    format: ExportFormat,
    conversations: &[ExportedConversation],
    single: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    match format {
        ExportFormat::Sharegpt => {
            let all: Vec<ShareGptConversation<'_>> =
                conversations.iter().map(to_sharegpt).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Openai if single && conversations.len() == 1 => {
            let messages: Vec<OpenAiMessage<'_>> =
                conversations[0].messages.iter().map(to_openai).collect();
            serde_json::to_writer_pretty(&mut *out, &messages)?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Openai => {
            let all: Vec<openai::OpenAiConversation<'_>> =
                conversations.iter().map(openai::conversation).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            out.write_all(b"\n")?;
        }
        ExportFormat::OpenaiJsonl => {
            for c in conversations {
                serde_json::to_writer(&mut *out, &openai::conversation(c))?;
                out.write_all(b"\n")?;
            }
        }
        ExportFormat::MtBench => {
            let lines = conversations
                .iter()
                .map(mtbench::to_line)
                .collect::<anyhow::Result<Vec<_>>>()?;
            for line in lines {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
