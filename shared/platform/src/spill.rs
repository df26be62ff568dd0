//! The local spill: events that could not go on yet (Redis slow or down on the proxy; a full
//! in-process sink queue in embedded mode), kept in order as JSONL until they are replayed.
//! Plain blocking file IO; callers run it off the async threads.
//!
//! The directory holds append-only segments `{seq:020}.jsonl` (oldest first) and `cursor`
//! (`{seq} {offset}`): every segment before `seq`, and the first `offset` bytes of `seq`, are
//! published. The cursor is written before a consumed segment is deleted and removed before
//! the last one is, so a crash at any point replays some events twice at worst, never skips one.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const CURSOR: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const SEGMENT_MAX: u64 = 16 * 1024 * 1024;
const SEGMENT_MIN: u64 = 4 * 1024;

#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    len: u64,
}

/// Where a chunk read by [`Spill::read_chunk`] ends; [`Spill::commit`] marks it published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEnd {
    seq: u64,
    offset: u64,
}

/// What [`Spill::append`] kept: the first `written` lines; the rest did not fit under the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub written: usize,
    pub dropped: usize,
}

#[derive(Debug)]
pub struct Spill {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    /// Published bytes of the head segment.
    cursor: u64,
    next_seq: u64,
}

impl Spill {
    /// Opens (or creates) the spill in `dir`, keeping what a previous process left, minus a torn
    /// last line of a crashed write.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join(CURSOR_TMP));
        let mut segments = list_segments(&dir)?;
        for segment in &mut segments {
            segment.len = repair_tail(&segment_path(&dir, segment.seq), segment.len)?;
        }
        let mut cursor = 0;
        if let Some((seq, offset)) = read_cursor(&dir) {
            while let Some(head) = segments.front().copied() {
                if head.seq >= seq {
                    break;
                }
                std::fs::remove_file(segment_path(&dir, head.seq))?;
                segments.pop_front();
            }
            if let Some(head) = segments.front() {
                if head.seq == seq {
                    cursor = offset.min(head.len);
                }
            }
        }
        let next_seq = segments.back().map_or(1, |s| s.seq + 1);
        let mut spill = Self {
            dir,
            max_bytes,
            segment_bytes: (max_bytes / 4).clamp(SEGMENT_MIN, SEGMENT_MAX),
            segments,
            cursor,
            next_seq,
        };
        if spill.is_empty() {
            spill.clear()?;
        }
        Ok(spill)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes on disk, published or not: what the cap applies to.
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Bytes not yet published.
    pub fn pending_bytes(&self) -> u64 {
        self.disk_bytes() - self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }

    /// Appends one line per item (JSON without newlines), in order, and fsyncs. Lines that would
    /// take the spill over its cap are not written (nor any after them).
    pub fn append(&mut self, lines: &[String]) -> io::Result<Appended> {
        let mut written = 0;
        while written < lines.len() {
            let rotate = self
                .segments
                .back()
                .is_none_or(|tail| tail.len >= self.segment_bytes);
            let tail_len = match self.segments.back() {
                Some(tail) if !rotate => tail.len,
                _ => 0,
            };
            let disk = self.disk_bytes();
            let mut buf = Vec::new();
            let mut count = 0;
            for line in &lines[written..] {
                let need = line.len() as u64 + 1;
                let after = buf.len() as u64 + need;
                if disk + after > self.max_bytes
                    || (count > 0 && tail_len + after > self.segment_bytes)
                {
                    break;
                }
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
                count += 1;
            }
            if count == 0 {
                break;
            }
            if rotate {
                self.segments.push_back(Segment {
                    seq: self.next_seq,
                    len: 0,
                });
                self.next_seq += 1;
            }
            self.write_tail(&buf)?;
            written += count;
        }
        Ok(Appended {
            written,
            dropped: lines.len() - written,
        })
    }

    fn write_tail(&mut self, buf: &[u8]) -> io::Result<()> {
        let Some(tail) = self.segments.back().copied() else {
            return Ok(());
        };
        let path = segment_path(&self.dir, tail.seq);
        let result = append_synced(&path, tail.len, buf).and_then(|()| {
            if tail.len == 0 {
                sync_dir(&self.dir)
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                if let Some(tail) = self.segments.back_mut() {
                    tail.len += buf.len() as u64;
                }
                Ok(())
            }
            Err(e) => {
                if tail.len == 0 {
                    let _ = std::fs::remove_file(&path);
                    self.segments.pop_back();
                }
                Err(e)
            }
        }
    }

    /// The oldest unpublished lines (without their newlines): up to `max_lines`, and up to
    /// `max_bytes` unless a single line is longer. Empty when the spill is.
    pub fn read_chunk(
        &mut self,
        max_lines: usize,
        max_bytes: usize,
    ) -> io::Result<(Vec<Vec<u8>>, ChunkEnd)> {
        while let Some(head) = self.segments.front().copied() {
            if self.cursor < head.len || self.segments.len() == 1 {
                break;
            }
            self.drop_head()?;
        }
        let Some(head) = self.segments.front().copied() else {
            return Ok((Vec::new(), ChunkEnd { seq: 0, offset: 0 }));
        };
        let mut file = File::open(segment_path(&self.dir, head.seq))?;
        file.seek(SeekFrom::Start(self.cursor))?;
        let mut reader = BufReader::new(file.take(head.len - self.cursor));
        let mut lines = Vec::new();
        let mut offset = self.cursor;
        let mut bytes = 0;
        while lines.len() < max_lines.max(1) && (lines.is_empty() || bytes < max_bytes) {
            let mut line = Vec::new();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            line.pop();
            offset += n as u64;
            bytes += n;
            lines.push(line);
        }
        Ok((
            lines,
            ChunkEnd {
                seq: head.seq,
                offset,
            },
        ))
    }

    /// Marks everything up to `end` published and deletes what is no longer needed.
    pub fn commit(&mut self, end: ChunkEnd) -> io::Result<()> {
        let Some(head) = self.segments.front().copied() else {
            return Ok(());
        };
        if head.seq != end.seq || end.offset < self.cursor {
            return Ok(());
        }
        self.cursor = end.offset.min(head.len);
        if self.cursor < head.len {
            write_cursor(&self.dir, head.seq, self.cursor)
        } else if self.segments.len() > 1 {
            self.drop_head()
        } else {
            self.clear()
        }
    }

    /// The head segment is published: point the cursor past it, then delete it.
    fn drop_head(&mut self) -> io::Result<()> {
        let Some(head) = self.segments.front().copied() else {
            return Ok(());
        };
        if let Some(next) = self.segments.get(1) {
            write_cursor(&self.dir, next.seq, 0)?;
        }
        std::fs::remove_file(segment_path(&self.dir, head.seq))?;
        self.segments.pop_front();
        self.cursor = 0;
        Ok(())
    }

    /// Everything is published: the cursor goes first, so a crash in between replays, not skips.
    fn clear(&mut self) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(CURSOR)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        while let Some(segment) = self.segments.front().copied() {
            std::fs::remove_file(segment_path(&self.dir, segment.seq))?;
            self.segments.pop_front();
        }
        self.cursor = 0;
        Ok(())
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.jsonl"))
}

fn list_segments(dir: &Path) -> io::Result<VecDeque<Segment>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        segments.push(Segment {
            seq,
            len: entry.metadata()?.len(),
        });
    }
    segments.sort_by_key(|s| s.seq);
    Ok(segments.into())
}

fn append_synced(path: &Path, expected_len: u64, buf: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    if let Err(e) = file.write_all(buf).and_then(|()| file.sync_data()) {
        // A half-written batch would be a torn line in the middle of the segment.
        let _ = file.set_len(expected_len);
        return Err(e);
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Cuts a segment after its last newline (a crash mid-write leaves a partial line); returns
/// the new length.
fn repair_tail(path: &Path, len: u64) -> io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut end = len;
    let mut block = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        block.resize((end - start) as usize, 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        if let Some(i) = block.iter().rposition(|b| *b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        tracing::warn!(path = %path.display(), cut = len - end, "spill segment had a torn last line; cut it");
        file.set_len(end)?;
        file.sync_all()?;
    }
    Ok(end)
}

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(dir.join(CURSOR)).ok()?;
    let (seq, offset) = text.trim().split_once(' ')?;
    Some((seq.parse().ok()?, offset.parse().ok()?))
}

fn write_cursor(dir: &Path, seq: u64, offset: u64) -> io::Result<()> {
    let tmp = dir.join(CURSOR_TMP);
    let mut file = File::create(&tmp)?;
    file.write_all(format!("{seq} {offset}\n").as_bytes())?;
    file.sync_data()?;
    std::fs::rename(tmp, dir.join(CURSOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::Range<usize>) -> Vec<String> {
        range
            .map(|n| format!("{{\"n\":{n:04},\"pad\":\"{}\"}}", "x".repeat(50)))
            .collect()
    }

    fn drain(spill: &mut Spill, per_chunk: usize) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let (chunk, end) = spill.read_chunk(per_chunk, usize::MAX).unwrap();
            if chunk.is_empty() {
                return out;
            }
            out.extend(chunk.into_iter().map(|l| String::from_utf8(l).unwrap()));
            spill.commit(end).unwrap();
        }
    }

    #[test]
    fn lines_come_back_in_order_across_segments_and_the_spill_empties() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::open(dir.path(), 16 * 1024).unwrap();
        assert!(spill.is_empty());
        for batch in 0..10 {
            let appended = spill.append(&lines(batch * 20..batch * 20 + 20)).unwrap();
            assert_eq!(appended.dropped, 0);
        }
        assert!(spill.segments.len() > 1, "4 KiB segments rotate");
        assert_eq!(drain(&mut spill, 7), lines(0..200));
        assert!(spill.is_empty());
        assert_eq!(spill.disk_bytes(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_reopened_spill_resumes_after_the_published_part() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::open(dir.path(), 16 * 1024).unwrap();
        spill.append(&lines(0..150)).unwrap();
        let (chunk, end) = spill.read_chunk(40, usize::MAX).unwrap();
        assert_eq!(chunk.len(), 40);
        spill.commit(end).unwrap();
        // Read but never committed (a crash mid-publish): comes back again.
        spill.read_chunk(40, usize::MAX).unwrap();
        drop(spill);

        let mut spill = Spill::open(dir.path(), 16 * 1024).unwrap();
        assert_eq!(drain(&mut spill, 33), lines(40..150));
    }

    #[test]
    fn a_torn_last_line_is_cut_and_a_stale_cursor_never_skips() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::open(dir.path(), 1 << 20).unwrap();
        spill.append(&lines(0..5)).unwrap();
        drop(spill);
        let path = segment_path(dir.path(), 1);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"n\":0005, \"half").unwrap();
        // A cursor of a segment that no longer exists is ignored.
        write_cursor(dir.path(), 0, 9999).unwrap();

        let mut spill = Spill::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(drain(&mut spill, 100), lines(0..5));
    }

    #[test]
    fn the_cap_drops_what_does_not_fit_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let line_bytes = lines(0..1)[0].len() as u64 + 1;
        let mut spill = Spill::open(dir.path(), line_bytes * 10).unwrap();
        let appended = spill.append(&lines(0..6)).unwrap();
        assert_eq!((appended.written, appended.dropped), (6, 0));
        let appended = spill.append(&lines(6..12)).unwrap();
        assert_eq!((appended.written, appended.dropped), (4, 2));
        assert!(spill.disk_bytes() <= line_bytes * 10);
        assert_eq!(drain(&mut spill, 3), lines(0..10));
    }
}
