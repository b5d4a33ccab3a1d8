//! Large files parsed a few hundred peers at a time.
//!
//! toml builds a tree of the whole document before deserializing it, about 1.4 KB per peer:
//! at 10,000 peers that passing tree is larger than all the sessions bfdd then runs, and it
//! sets the process's peak memory. So a file with many `[[peer]]` tables is cut just before
//! some of those headers and each piece parsed on its own. A file that loads is parsed piece by
//! piece as the pieces stand. One with an error is parsed again with each piece padded to its
//! byte offsets (the text before it blanked to spaces), so that spans, and the lines errors
//! name, are those of the whole file; that costs time in the square of the file's length.
//!
//! Cutting is only done where it cannot change the meaning: at a line that is exactly a
//! `[[peer]]` header, in a file without multi-line strings (whose contents could look like
//! one), and when every header after the first cut is a peer or route table (which pieces
//! after the first are allowed to hold). Anything else is parsed whole.

use std::ops::Range;

/// Peers per piece: a tree of this many is a few hundred kilobytes.
pub(super) const PEERS_PER_PIECE: usize = 256;

/// Byte ranges to parse one after the other, covering `text`; `None` to parse it whole.
pub(super) fn split(text: &str) -> Option<Vec<Range<usize>>> {
    if text.contains("\"\"\"") || text.contains("'''") {
        return None;
    }
    let mut cuts = vec![0];
    let mut peers = 0usize;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        match header(line) {
            Some("[[peer]]") => {
                if peers > 0 && peers % PEERS_PER_PIECE == 0 {
                    cuts.push(offset);
                }
                peers += 1;
            }
            Some(h) if cuts.len() > 1 && !allowed_after_cut(h) => return None,
            _ => {}
        }
        offset += line.len();
    }
    if cuts.len() == 1 {
        return None;
    }
    let ends = cuts.iter().skip(1).copied().chain([text.len()]);
    Some(cuts.iter().zip(ends).map(|(&s, e)| s..e).collect())
}

/// The table header on `line`, without indentation or a trailing comment.
fn header(line: &str) -> Option<&str> {
    let line = line.trim();
    if !line.starts_with('[') {
        return None;
    }
    let line = line.split_once('#').map_or(line, |(h, _)| h).trim_end();
    Some(line)
}

/// What a piece after the first may hold: it is deserialized with only these tables.
fn allowed_after_cut(header: &str) -> bool {
    header == "[[peer]]"
        || header == "[[route]]"
        || header.starts_with("[peer.")
        || header.starts_with("[route.")
}

/// `text` with everything before `range` blanked, so a parse of it reports positions in `text`.
pub(super) fn padded(text: &str, range: Range<usize>, into: &mut String) {
    into.clear();
    into.reserve(range.end);
    into.extend(std::iter::repeat_n(' ', range.start));
    into.push_str(&text[range]);
}

/// `peer[3].key` of a piece whose peers start at `peer_base` (and routes at `route_base`) as
/// the whole file counts it: `peer[259].key`.
pub(super) fn shift_key(key: &str, peer_base: usize, route_base: usize) -> String {
    for (array, base) in [("peer[", peer_base), ("route[", route_base)] {
        let Some(rest) = key.strip_prefix(array) else {
            continue;
        };
        let Some((index, tail)) = rest.split_once(']') else {
            continue;
        };
        if let Ok(i) = index.parse::<usize>() {
            return format!("{array}{}]{tail}", i + base);
        }
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(peers: usize, tail: &str) -> String {
        let mut t = String::from("[daemon]\nlog-format = \"json\"\n\n");
        for i in 0..peers {
            t.push_str(&format!(
                "[[peer]]  # number {i}\naddress = \"198.18.{}.{}\"\n",
                i / 250,
                i % 250 + 1
            ));
        }
        t.push_str(tail);
        t
    }

    #[test]
    fn small_files_are_parsed_whole() {
        assert_eq!(split(&file(PEERS_PER_PIECE, "")), None);
    }

    #[test]
    fn cuts_fall_on_peer_headers_and_cover_the_file() {
        let text = file(
            3 * PEERS_PER_PIECE + 1,
            "[[route]]\nprefix = \"203.0.113.0/24\"\n",
        );
        let ranges = split(&text).expect("split");
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges.last().map(|r| r.end), Some(text.len()));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert!(text[pair[1].clone()].starts_with("[[peer]]"));
        }
        let count = |r: &Range<usize>| text[r.clone()].matches("[[peer]]").count();
        assert_eq!(count(&ranges[0]), PEERS_PER_PIECE);
        assert_eq!(count(&ranges[3]), 1);
    }

    #[test]
    fn anything_doubtful_is_parsed_whole() {
        let n = 2 * PEERS_PER_PIECE;
        // Another table after the peers: later pieces may not hold it.
        assert_eq!(split(&file(n, "[routes]\ntable = 100\n")), None);
        // A multi-line string could hold a line that looks like a header.
        assert_eq!(
            split(&file(n, "[[peer.x]]\ns = '''\n[[peer]]\n'''\n")),
            None
        );
        assert!(split(&file(n, "[peer.auth]\ntype = \"keyed-md5\"\n")).is_some());
    }

    #[test]
    fn padding_keeps_offsets() {
        let mut out = String::new();
        padded("abc\ndef", 4..7, &mut out);
        assert_eq!(out, "    def");
    }

    #[test]
    fn keys_are_renumbered_for_the_whole_file() {
        assert_eq!(shift_key("peer[3].address", 256, 0), "peer[259].address");
        assert_eq!(shift_key("route[0]", 256, 2), "route[2]");
        assert_eq!(shift_key("daemon.log-format", 256, 2), "daemon.log-format");
    }
}
