//! Socket framing: every WebSocket message carries frames of a 3-byte big-endian length followed
//! by that many bytes. The client's first write is preceded by the connection header `WA 06 03`,
//! optionally itself preceded by an edge-routing pre-intro `ED 00 01 <len:3> <routing>`.
//!
//! Sources: Baileys `src/Utils/noise-handler.ts` (`encodeFrame`, `processData`), whatsmeow
//! `socket/constants.go` (`FrameMaxSize`, `FrameLengthSize`, `WAConnHeader`), whatsapp-rust
//! `wacore/noise/src/edge_routing.rs`.

/// The connection header sent once before the client's first frame: "WA", magic 6, dictionary 3.
/// (Baileys `NOISE_WA_HEADER` in `src/Defaults/index.ts`.)
pub const WA_CONN_HEADER: [u8; 4] = [b'W', b'A', 6, 3];

/// Largest frame body a 3-byte length can describe.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// First bytes of the optional edge-routing pre-intro (whatsapp-rust `edge_routing.rs`).
const EDGE_ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// Framing errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// We were asked to send a frame longer than 2^24-1 bytes (caller's fault).
    #[error("frame of {0} bytes exceeds the 3-byte length limit")]
    TooLarge(usize),
    /// The peer announced a frame longer than this decoder accepts.
    #[error("peer announced a frame of {len} bytes; limit is {limit}")]
    PeerFrameTooLarge {
        /// Announced length.
        len: usize,
        /// The decoder's configured limit.
        limit: usize,
    },
    /// Edge routing data longer than 2^24-1 bytes (caller's fault).
    #[error("edge routing info of {0} bytes is too long")]
    RoutingTooLarge(usize),
    /// The client's first bytes were not `WA 06 03` (optionally after an `ED` pre-intro).
    #[error("client did not start with the WA connection header")]
    BadIntro,
    /// An earlier error left the stream unusable.
    #[error("frame stream already failed")]
    Poisoned,
}

fn len3(len: usize) -> [u8; 3] {
    [(len >> 16) as u8, (len >> 8) as u8, len as u8]
}

/// Builds outgoing frames. Constructed for a client, the first frame carries the intro.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    intro: Option<Vec<u8>>,
}

impl FrameEncoder {
    /// Client encoder: the first frame is preceded by [`WA_CONN_HEADER`].
    pub fn client() -> Self {
        Self {
            intro: Some(WA_CONN_HEADER.to_vec()),
        }
    }

    /// Client encoder with the edge-routing pre-intro before the WA header.
    pub fn client_with_edge_routing(routing: &[u8]) -> Result<Self, FrameError> {
        if routing.len() > MAX_FRAME_LEN {
            return Err(FrameError::RoutingTooLarge(routing.len()));
        }
        let mut intro = Vec::with_capacity(7 + routing.len() + 4);
        intro.extend_from_slice(&EDGE_ROUTING_MAGIC);
        intro.extend_from_slice(&len3(routing.len()));
        intro.extend_from_slice(routing);
        intro.extend_from_slice(&WA_CONN_HEADER);
        Ok(Self { intro: Some(intro) })
    }

    /// Server encoder: bare frames, never a header.
    pub fn server() -> Self {
        Self { intro: None }
    }

    /// Frames `payload` (prefixing the intro if this is the client's first frame).
    pub fn encode(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        if payload.len() > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(payload.len()));
        }
        let intro = self.intro.take().unwrap_or_default();
        let mut out = Vec::with_capacity(intro.len() + 3 + payload.len());
        out.extend_from_slice(&intro);
        out.extend_from_slice(&len3(payload.len()));
        out.extend_from_slice(payload);
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntroState {
    /// Client side: frames start immediately.
    None,
    /// Server side: the client intro has not been consumed yet.
    Pending,
}

/// Splits incoming bytes into frames, buffering at most one partial frame.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_frame_len: usize,
    intro: IntroState,
    routing: Option<Vec<u8>>,
    failed: bool,
}

impl FrameDecoder {
    /// Decoder for a client: reads bare server frames.
    pub fn client() -> Self {
        Self::build(IntroState::None)
    }

    /// Decoder for a server (emulator): first consumes the client's intro (`ED` pre-intro
    /// optional, then `WA 06 03`), then frames.
    pub fn server() -> Self {
        Self::build(IntroState::Pending)
    }

    fn build(intro: IntroState) -> Self {
        Self {
            buf: Vec::new(),
            max_frame_len: MAX_FRAME_LEN,
            intro,
            routing: None,
            failed: false,
        }
    }

    /// Lowers the largest frame accepted from the peer (bounding the buffer to about that size).
    pub fn with_max_frame_len(mut self, limit: usize) -> Self {
        self.max_frame_len = limit.min(MAX_FRAME_LEN);
        self
    }

    /// Edge-routing bytes the client sent in its pre-intro, if any (server side).
    pub fn edge_routing(&self) -> Option<&[u8]> {
        self.routing.as_deref()
    }

    /// Bytes held for an incomplete frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds a chunk of received bytes; returns every frame completed by it, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        if self.failed {
            return Err(FrameError::Poisoned);
        }
        self.buf.extend_from_slice(chunk);
        let result = self.drain();
        if result.is_err() {
            self.failed = true;
            self.buf = Vec::new();
        }
        result
    }

    fn drain(&mut self) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut pos = 0usize;
        if self.intro == IntroState::Pending {
            match self.parse_intro()? {
                Some(consumed) => {
                    pos = consumed;
                    self.intro = IntroState::None;
                }
                None => return Ok(Vec::new()),
            }
        }
        let mut frames = Vec::new();
        loop {
            let rest = &self.buf[pos..];
            let [a, b, c, ..] = *rest else { break };
            let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
            if len > self.max_frame_len {
                return Err(FrameError::PeerFrameTooLarge {
                    len,
                    limit: self.max_frame_len,
                });
            }
            if rest.len() < 3 + len {
                break;
            }
            frames.push(rest[3..3 + len].to_vec());
            pos += 3 + len;
        }
        self.buf.drain(..pos);
        Ok(frames)
    }

    /// Returns how many bytes the intro occupies, `None` if more bytes are needed.
    fn parse_intro(&mut self) -> Result<Option<usize>, FrameError> {
        let buf = &self.buf;
        let mut pos = 0usize;
        if buf.first() == Some(&b'E') {
            if buf.len() < 7 {
                return if buf[..]
                    .iter()
                    .zip(EDGE_ROUTING_MAGIC.iter())
                    .all(|(x, y)| x == y)
                {
                    Ok(None)
                } else {
                    Err(FrameError::BadIntro)
                };
            }
            if buf[..4] != EDGE_ROUTING_MAGIC {
                return Err(FrameError::BadIntro);
            }
            let len =
                (usize::from(buf[4]) << 16) | (usize::from(buf[5]) << 8) | usize::from(buf[6]);
            if len > self.max_frame_len {
                return Err(FrameError::PeerFrameTooLarge {
                    len,
                    limit: self.max_frame_len,
                });
            }
            if buf.len() < 7 + len {
                return Ok(None);
            }
            self.routing = Some(buf[7..7 + len].to_vec());
            pos = 7 + len;
        }
        let rest = &self.buf[pos..];
        let n = rest.len().min(4);
        if rest[..n] != WA_CONN_HEADER[..n] {
            return Err(FrameError::BadIntro);
        }
        if n < 4 {
            // Keep the routing parse idempotent: it is re-read when more bytes arrive.
            self.routing = None;
            return Ok(None);
        }
        Ok(Some(pos + 4))
    }
}
