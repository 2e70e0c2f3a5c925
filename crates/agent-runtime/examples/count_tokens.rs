//! CPU time the tokenizer spends per MiB of text, for each encoding: real conversation texts
//! (every message of `testdata/conversations/`, counted one by one, repeated to 1 MiB) and
//! adversarial inputs of 1 MiB (one character repeated, random Unicode). Prints a TSV: input,
//! encoding, median and range of 5 rounds, in ms of the counting thread's CPU time.
//!
//! `cargo run --release -p agent-runtime --example count_tokens` (run by `scripts/bench/run.sh`).

use agent_runtime::tokenizer::Encoding;
use rustix::time::{ClockId, clock_gettime};

const MIB: usize = 1 << 20;
const ROUNDS: usize = 5;
const CONVERSATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conversations");

/// CPU time of this thread, in ms.
fn cpu_ms() -> f64 {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
}

/// Every string in the conversation files whose key is `value` or `turns`, cycled to 1 MiB.
fn conversation_texts() -> Vec<String> {
    fn collect(v: &serde_json::Value, key: Option<&str>, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if matches!(key, Some("value" | "turns")) => {
                out.push(s.clone())
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, key, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| collect(x, Some(k), out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    for name in [
        "fastchat_dummy_conversation.json",
        "mt_bench_question.jsonl",
        "mt_bench_gpt4_reference.jsonl",
    ] {
        let file = std::fs::read_to_string(format!("{CONVERSATIONS}/{name}")).expect(name);
        for doc in serde_json::Deserializer::from_str(&file).into_iter::<serde_json::Value>() {
            collect(&doc.expect(name), None, &mut texts);
        }
    }
    let mut out = Vec::new();
    let mut bytes = 0;
    for t in texts.iter().cycle() {
        if bytes >= MIB {
            break;
        }
        bytes += t.len();
        out.push(t.clone());
    }
    out
}

/// 1 MiB of characters drawn from Latin, Cyrillic, CJK, emoji and combining marks (xorshift,
/// fixed seed).
fn random_unicode() -> String {
    let ranges = [
        (0x20, 0x7e),
        (0x400, 0x4ff),
        (0x4e00, 0x9fff),
        (0x1f600, 0x1f64f),
        (0x300, 0x36f),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut s = String::with_capacity(MIB + 4);
    while s.len() < MIB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (lo, hi) = ranges[(x % ranges.len() as u64) as usize];
        let c = char::from_u32(lo + ((x >> 8) % (hi - lo + 1) as u64) as u32).unwrap_or(' ');
        s.push(c);
    }
    s
}

fn main() {
    let inputs: Vec<(&str, Vec<String>)> = vec![
        ("conversations (per message)", conversation_texts()),
        ("spaces", vec![" ".repeat(MIB)]),
        ("one letter", vec!["a".repeat(MIB)]),
        ("newlines", vec!["\n".repeat(MIB)]),
        ("random unicode", vec![random_unicode()]),
    ];
    println!("input\tencoding\tcpu_ms_per_mib_median\tmin\tmax");
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        encoding.count_text("load the vocabulary before timing");
        for (name, texts) in &inputs {
            let mib = texts.iter().map(String::len).sum::<usize>() as f64 / MIB as f64;
            let mut ms: Vec<f64> = (0..ROUNDS)
                .map(|_| {
                    let start = cpu_ms();
                    let tokens: usize = texts.iter().map(|t| encoding.count_text(t)).sum();
                    std::hint::black_box(tokens);
                    (cpu_ms() - start) / mib
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            println!(
                "{name}\t{}\t{:.1}\t{:.1}\t{:.1}",
                encoding.name(),
                ms[ROUNDS / 2],
                ms[0],
                ms[ROUNDS - 1]
            );
        }
    }
}
