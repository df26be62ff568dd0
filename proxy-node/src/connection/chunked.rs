//! Finds where a chunked request body ends, without copying it: data bytes are skipped by
//! count, only size lines and trailers are looked at byte by byte.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { size: u64, digits: u8 },
    Extension { size: u64 },
    SizeLf { size: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerLine,
    TrailerLf,
}

/// The framing does not parse; actix-http will refuse the body itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    state: State,
}

impl Default for Chunked {
    fn default() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
        }
    }
}

impl Chunked {
    /// Consumes the next bytes of the body: `Some(n)` when it ended after `n` of them.
    pub fn advance(&mut self, bytes: &[u8]) -> Result<Option<usize>, Invalid> {
        let mut i = 0;
        while i < bytes.len() {
            if let State::Data(left) = self.state {
                let take = left.min((bytes.len() - i) as u64);
                i += take as usize;
                self.state = if take == left {
                    State::DataCr
                } else {
                    State::Data(left - take)
                };
                continue;
            }
            let byte = bytes[i];
            i += 1;
            self.state = match (self.state, byte) {
                (State::Size { size, digits }, b) if b.is_ascii_hexdigit() => {
                    if digits >= 15 {
                        return Err(Invalid);
                    }
                    let digit = u64::from((b as char).to_digit(16).ok_or(Invalid)?);
                    State::Size {
                        size: size * 16 + digit,
                        digits: digits + 1,
                    }
                }
                (State::Size { digits: 0, .. }, _) => return Err(Invalid),
                (State::Size { size, .. }, b';' | b' ' | b'\t') => State::Extension { size },
                (State::Size { size, .. } | State::Extension { size }, b'\r') => {
                    State::SizeLf { size }
                }
                (
                    State::Size { size, .. } | State::Extension { size } | State::SizeLf { size },
                    b'\n',
                ) => {
                    if size == 0 {
                        State::TrailerLineStart
                    } else {
                        State::Data(size)
                    }
                }
                (State::Extension { size }, _) => State::Extension { size },
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataCr | State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
                (State::TrailerLineStart, b'\r') => State::TrailerLf,
                (State::TrailerLineStart | State::TrailerLf, b'\n') => return Ok(Some(i)),
                (State::TrailerLine, b'\n') => State::TrailerLineStart,
                (State::TrailerLineStart | State::TrailerLine, _) => State::TrailerLine,
                _ => return Err(Invalid),
            };
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_in_one_piece_or_byte_by_byte() {
        let body =
            b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nGET";
        let end = body.len() - 3;
        assert_eq!(Chunked::default().advance(body), Ok(Some(end)));
        let mut chunked = Chunked::default();
        for (i, byte) in body.iter().enumerate().take(end) {
            let got = chunked.advance(std::slice::from_ref(byte));
            assert_eq!(got, Ok((i + 1 == end).then_some(1)), "byte {i}");
        }
        assert_eq!(Chunked::default().advance(b"0\r\n\r\n"), Ok(Some(5)));
        assert_eq!(Chunked::default().advance(b"3\r\nab"), Ok(None));
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(Chunked::default().advance(b"zz\r\n"), Err(Invalid));
        assert_eq!(Chunked::default().advance(b"3\r\nabcX"), Err(Invalid));
        assert_eq!(
            Chunked::default().advance(b"ffffffffffffffffff\r\n"),
            Err(Invalid)
        );
    }
}
