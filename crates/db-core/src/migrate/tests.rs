use super::*;

#[test]
fn checksum_ignores_line_endings() {
    assert_eq!(checksum("a;\nb;\n"), checksum("a;\r\nb;\r\n"));
    assert_eq!(checksum("a;\nb;"), checksum("a;\nb;\n\n"));
    assert_ne!(checksum("a;\nb;"), checksum("a;\nc;"));
    assert_eq!(checksum("").len(), 64);
}

#[test]
fn version_and_name_follow_diesel() {
    let m = Migration {
        dir: "2026-11-21-000000_conversation_store",
        up: "",
        down: "",
    };
    assert_eq!(m.version(), "20261121000000");
    assert_eq!(m.name(), "conversation_store");
}
