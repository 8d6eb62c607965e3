//! A cap on what a Redis server can make the daemon hold: the RESP replies are scanned as they
//! arrive, before the redis crate's parser buffers them, and the connection is cut at the first
//! reply longer than the cap, a bulk string or aggregate that announces more than it, or nesting
//! deeper than [`MAX_DEPTH`].
//!
//! The redis crate reads a whole reply into memory before handing it over (a 100 MB bulk string is
//! 100 MB, and an array of a hundred million integers far more), so the bound has to sit under it,
//! on the byte stream: [`Capped`] wraps the socket and [`Scanner`] follows RESP2 and RESP3 framing
//! without keeping any of it. Nothing here parses values; the source's parsers do that.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The deepest nesting of aggregates a reply may have (an `XINFO GROUPS` reply has 2).
pub const MAX_DEPTH: usize = 16;

/// The longest header line (`$12345\r\n`, `*3\r\n`): a length or a count, and its sign.
const MAX_HEADER: usize = 24;

/// Why a connection was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// A reply longer than the cap, or one announcing more.
    TooLarge,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Bytes that are not RESP.
    Malformed,
}

impl Cut {
    /// The cut in words, for the error the connection fails with.
    pub fn describe(self) -> &'static str {
        match self {
            Self::TooLarge => "a reply longer than the cap",
            Self::TooDeep => "a reply nested too deep",
            Self::Malformed => "a reply that is not RESP",
        }
    }
}

/// Where the scanner is within the reply stream.
#[derive(Debug)]
enum State {
    /// The next byte is a type byte.
    Type,
    /// The length or count line of a bulk string or aggregate of this type byte.
    Header(u8),
    /// A one-line value (simple string, error, integer, double...), up to its `\n`.
    Line,
    /// The payload of a bulk string and its CRLF: this many bytes left.
    Payload(u64),
}

/// One open aggregate: elements left, and whether it is an attribute (which precedes a value
/// rather than being one).
#[derive(Debug)]
struct Open {
    left: u64,
    attribute: bool,
}

/// Follows RESP framing over a byte stream, counting each top-level reply's bytes.
#[derive(Debug)]
pub struct Scanner {
    limit: u64,
    state: State,
    header: Vec<u8>,
    open: Vec<Open>,
    reply: u64,
}

impl Scanner {
    /// A scanner allowing replies of up to `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self { limit, state: State::Type, header: Vec::new(), open: Vec::new(), reply: 0 }
    }

    /// Follow `bytes`; the first reason to cut the connection, if any.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Cut> {
        while !bytes.is_empty() {
            let used = match self.state {
                State::Payload(left) => {
                    let used = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    self.count(used)?;
                    let left = left - used as u64;
                    self.state = State::Payload(left);
                    if left == 0 {
                        self.value_done();
                    }
                    used
                }
                State::Line => {
                    let (used, ended) = match bytes.iter().position(|&b| b == b'\n') {
                        Some(at) => (at + 1, true),
                        None => (bytes.len(), false),
                    };
                    self.count(used)?;
                    if ended {
                        self.value_done();
                    }
                    used
                }
                State::Type => {
                    self.count(1)?;
                    self.state = match bytes[0] {
                        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => State::Line,
                        kind @ (b'$' | b'!' | b'=' | b'*' | b'~' | b'>' | b'%' | b'|') => {
                            self.header.clear();
                            State::Header(kind)
                        }
                        _ => return Err(Cut::Malformed),
                    };
                    1
                }
                State::Header(kind) => {
                    let (used, ended) = match bytes.iter().position(|&b| b == b'\n') {
                        Some(at) => (at + 1, true),
                        None => (bytes.len(), false),
                    };
                    self.count(used)?;
                    if self.header.len() + used > MAX_HEADER {
                        return Err(Cut::Malformed);
                    }
                    self.header.extend_from_slice(&bytes[..used]);
                    if ended {
                        self.header_done(kind)?;
                    }
                    used
                }
            };
            bytes = &bytes[used..];
        }
        Ok(())
    }

    fn count(&mut self, bytes: usize) -> Result<(), Cut> {
        self.reply += bytes as u64;
        if self.reply > self.limit { Err(Cut::TooLarge) } else { Ok(()) }
    }

    /// A length or count line is complete: open what it announces, refusing what cannot fit.
    fn header_done(&mut self, kind: u8) -> Result<(), Cut> {
        let text = std::str::from_utf8(&self.header).map_err(|_| Cut::Malformed)?;
        let text = text.strip_suffix("\r\n").or_else(|| text.strip_suffix('\n')).ok_or(Cut::Malformed)?;
        let announced: i64 = text.parse().map_err(|_| Cut::Malformed)?;
        if announced < 0 {
            // `$-1` and `*-1`: a null.
            self.value_done();
            return Ok(());
        }
        let announced = announced as u64;
        let room = self.limit.saturating_sub(self.reply);
        match kind {
            b'$' | b'!' | b'=' => {
                if announced > room {
                    return Err(Cut::TooLarge);
                }
                self.state = State::Payload(announced + 2);
            }
            _ => {
                let elements =
                    if matches!(kind, b'%' | b'|') { announced.saturating_mul(2) } else { announced };
                // Each element takes at least three bytes (`_\r\n`).
                if elements.saturating_mul(3) > room {
                    return Err(Cut::TooLarge);
                }
                if elements == 0 {
                    self.value_done();
                    return Ok(());
                }
                if self.open.len() >= MAX_DEPTH {
                    return Err(Cut::TooDeep);
                }
                self.open.push(Open { left: elements, attribute: kind == b'|' });
                self.state = State::Type;
            }
        }
        Ok(())
    }

    /// A value ended: it counts for the aggregate around it, and may end that one, and so on up;
    /// when nothing is left open, the reply ended and the next one starts from nothing.
    fn value_done(&mut self) {
        self.state = State::Type;
        while let Some(open) = self.open.last_mut() {
            open.left -= 1;
            if open.left > 0 {
                return;
            }
            let attribute = open.attribute;
            self.open.pop();
            if attribute {
                // An attribute precedes the value it is about: that value is the element.
                return;
            }
        }
        self.reply = 0;
    }
}

/// The reason a [`Capped`] stream cut its connection, once it did.
pub type CutAt = Arc<OnceLock<Cut>>;

/// A stream whose replies are followed by a [`Scanner`]: at the first reason to cut, reading fails
/// and the reason is kept in [`CutAt`] for the error message.
pub struct Capped<S> {
    inner: S,
    scanner: Scanner,
    cut: CutAt,
}

impl<S> Capped<S> {
    /// `inner`, its replies capped at `limit` bytes; `cut` learns why, if it is cut.
    pub fn new(inner: S, limit: u64, cut: CutAt) -> Self {
        Self { inner, scanner: Scanner::new(limit), cut }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(cut) = self.cut.get() {
            return Poll::Ready(Err(io::Error::other(cut.describe())));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Err(cut) = this.scanner.feed(&buf.filled()[before..]) {
                    // None of it reaches the parser: the connection ends here.
                    buf.set_filled(before);
                    let _ = this.cut.set(cut);
                    return Poll::Ready(Err(io::Error::other(cut.describe())));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(limit: u64, bytes: &[u8]) -> Result<(), Cut> {
        Scanner::new(limit).feed(bytes)
    }

    /// The same bytes fed one at a time: framing split anywhere reads the same.
    fn scan_bytewise(limit: u64, bytes: &[u8]) -> Result<(), Cut> {
        let mut scanner = Scanner::new(limit);
        bytes.iter().try_for_each(|b| scanner.feed(std::slice::from_ref(b)))
    }

    #[test]
    fn ordinary_replies_pass_whole_or_split() {
        let replies: [&[u8]; 6] = [
            b"+list\r\n:42\r\n",
            b"$5\r\nhello\r\n$-1\r\n*-1\r\n_\r\n",
            b"*2\r\n*4\r\n$4\r\nname\r\n$1\r\ng\r\n$3\r\nlag\r\n:0\r\n*0\r\n",
            b"%1\r\n+pending\r\n:3\r\n",
            b"|1\r\n+ttl\r\n:3\r\n:7\r\n",
            b"-ERR a refusal of some length\r\n>2\r\n+a\r\n+b\r\n",
        ];
        for reply in replies {
            assert_eq!(scan(64, reply), Ok(()), "{}", String::from_utf8_lossy(reply));
            assert_eq!(scan_bytewise(64, reply), Ok(()), "{}", String::from_utf8_lossy(reply));
        }
    }

    #[test]
    fn each_reply_is_counted_on_its_own() {
        let one = b"$20\r\n01234567890123456789\r\n";
        let mut scanner = Scanner::new(one.len() as u64);
        for _ in 0..100 {
            scanner.feed(one).unwrap();
        }
    }

    #[test]
    fn a_reply_announcing_or_taking_more_than_the_cap_is_cut() {
        assert_eq!(
            scan(1 << 20, b"$104857600\r\n"),
            Err(Cut::TooLarge),
            "a 100 MB bulk string, at its header"
        );
        assert_eq!(scan(1 << 20, b"*100000000\r\n"), Err(Cut::TooLarge), "a hundred million elements");
        assert_eq!(scan(1 << 20, b"%50000000\r\n"), Err(Cut::TooLarge));
        let mut long = b"+".to_vec();
        long.extend(std::iter::repeat_n(b'x', 100));
        assert_eq!(scan(64, &long), Err(Cut::TooLarge), "a simple string without end");
        let mut many = b"*20\r\n".to_vec();
        many.extend(b":1\r\n".repeat(20));
        assert_eq!(scan(64, &many), Err(Cut::TooLarge), "small elements adding up");
    }

    #[test]
    fn deep_nesting_and_garbage_are_cut() {
        assert_eq!(scan(1 << 20, &b"*1\r\n".repeat(MAX_DEPTH + 1)), Err(Cut::TooDeep));
        assert_eq!(scan(1 << 20, &b"*1\r\n".repeat(MAX_DEPTH)), Ok(()));
        assert_eq!(scan(64, b"HTTP/1.1 200 OK\r\n"), Err(Cut::Malformed));
        assert_eq!(scan(64, b"$12x\r\n"), Err(Cut::Malformed));
        assert_eq!(scan(1 << 20, &[b"$".as_slice(), &[b'9'; 40]].concat()), Err(Cut::Malformed));
    }
}
