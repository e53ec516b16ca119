//! Frame headers (RFC 6455 §5.2), masking and frame encoding.

use crate::{CloseCode, EncodeError, ProtocolError, Status};

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest close reason: the control payload minus the two-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;
/// Largest frame header: 2 bytes, a 64-bit length and a masking key.
pub const MAX_FRAME_HEADER_LEN: usize = 14;
/// Largest control frame on the wire: an output buffer this long always
/// fits what [`Connection::poll_transmit`](crate::Connection::poll_transmit) writes.
pub const MAX_CONTROL_FRAME_LEN: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

const FIN: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const MASK_BIT: u8 = 0x80;

/// A frame opcode that RFC 6455 defines. Reserved opcodes never get this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpCode {
    /// 0x0: a later fragment of a text or binary message.
    Continuation,
    /// 0x1: the first (or only) frame of a text message.
    Text,
    /// 0x2: the first (or only) frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the low nibble of the first header byte; `None` for reserved opcodes.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// Frame type.
    pub opcode: OpCode,
    /// Masking key, present on frames sent by clients.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a frame header from the start of `buf`.
    ///
    /// Returns the header and its length in bytes, [`Status::Incomplete`] when `buf`
    /// is a valid prefix of a header, or the protocol error of a malformed header.
    /// Checks that need only the header are made here: reserved bits, reserved
    /// opcodes, control frame length and fragmentation, the 64-bit length's top bit, and
    /// that the length is in its shortest encoding. Masking rules depend on the role and are checked by [`Connection`](crate::Connection).
    pub fn parse(buf: &[u8]) -> Result<Status<(Self, usize)>, ProtocolError> {
        let [first, second, ..] = *buf else {
            return Ok(Status::Incomplete);
        };
        if first & RSV_BITS != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let opcode = OpCode::from_bits(first & 0x0F).ok_or(ProtocolError::ReservedOpcode)?;
        let fin = first & FIN != 0;
        let short_len = second & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if usize::from(short_len) > MAX_CONTROL_PAYLOAD {
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }
        let header_len = header_len(second);
        let Some(rest) = buf.get(2..header_len) else {
            return Ok(Status::Incomplete);
        };
        let (extended, mask) = rest.split_at(extended_len(short_len));
        let payload_len = match short_len {
            126 | 127 => extended.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)),
            _ => u64::from(short_len),
        };
        if short_len == 127 && payload_len >> 63 != 0 {
            return Err(ProtocolError::PayloadLengthOverflow);
        }
        let shortest = match short_len {
            126 => payload_len >= 126,
            127 => payload_len > 0xFFFF,
            _ => true,
        };
        if !shortest {
            return Err(ProtocolError::NonMinimalLength);
        }
        let mask = <[u8; 4]>::try_from(mask).ok();
        Ok(Status::Complete((
            Self {
                fin,
                opcode,
                mask,
                payload_len,
            },
            header_len,
        )))
    }

    /// Length of the encoded header, using the shortest length encoding.
    pub const fn encoded_len(&self) -> usize {
        let extended = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + extended + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header to the start of `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.encoded_len();
        let out = out
            .get_mut(..len)
            .ok_or(EncodeError::BufferTooSmall { needed: len })?;
        let (first, rest) = out.split_at_mut(2);
        first[0] = if self.fin { FIN } else { 0 } | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { MASK_BIT } else { 0 };
        let rest = match self.payload_len {
            // The match arms bound the values, so the casts are exact.
            len @ 0..=125 => {
                first[1] = mask_bit | len as u8;
                rest
            }
            len @ 126..=0xFFFF => {
                first[1] = mask_bit | 126;
                let (extended, rest) = rest.split_at_mut(2);
                extended.copy_from_slice(&(len as u16).to_be_bytes());
                rest
            }
            len => {
                first[1] = mask_bit | 127;
                let (extended, rest) = rest.split_at_mut(8);
                extended.copy_from_slice(&len.to_be_bytes());
                rest
            }
        };
        if let Some(mask) = self.mask {
            rest.copy_from_slice(&mask);
        }
        Ok(len)
    }
}

/// Header length implied by the second header byte.
pub(crate) const fn header_len(second: u8) -> usize {
    let mask = if second & MASK_BIT != 0 { 4 } else { 0 };
    2 + extended_len(second & 0x7F) + mask
}

const fn extended_len(short_len: u8) -> usize {
    match short_len {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// XORs `data` with `mask`; `offset` is the position of `data[0]` in the payload,
/// so a payload can be unmasked in pieces.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    // offset % 4 < 4, so the cast is exact.
    let start = (offset % 4) as usize;
    for (byte, key) in data.iter_mut().zip(mask.iter().cycle().skip(start)) {
        *byte ^= key;
    }
}

/// Writes a whole frame (header and payload, masked with `mask` when given) to the
/// start of `out` and returns its length.
///
/// Control frames are always written with FIN set; a control payload over 125
/// bytes is refused.
pub fn encode_frame(
    out: &mut [u8],
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Result<usize, EncodeError> {
    if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(EncodeError::ControlPayloadTooLong);
    }
    let header = FrameHeader {
        fin: fin || opcode.is_control(),
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let header_len = header.encoded_len();
    let needed = header_len.saturating_add(payload.len());
    let frame = out
        .get_mut(..needed)
        .ok_or(EncodeError::BufferTooSmall { needed })?;
    let (head, body) = frame.split_at_mut(header_len);
    header.encode(head)?;
    body.copy_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(body, mask, 0);
    }
    Ok(needed)
}

/// Writes a close frame. `None` sends an empty payload ("no status"); a reason
/// needs a code, must be at most 123 bytes, and the code must be valid on the wire.
pub fn encode_close_frame(
    out: &mut [u8],
    mask: Option<[u8; 4]>,
    code: Option<CloseCode>,
    reason: &str,
) -> Result<usize, EncodeError> {
    let payload = ControlPayload::close(code, reason)?;
    encode_frame(out, OpCode::Close, true, mask, payload.as_slice())
}

/// An owned control frame payload (at most 125 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct ControlPayload {
    bytes: [u8; MAX_CONTROL_PAYLOAD],
    len: u8,
}

impl ControlPayload {
    pub(crate) const EMPTY: Self = Self {
        bytes: [0; MAX_CONTROL_PAYLOAD],
        len: 0,
    };

    pub(crate) fn new(data: &[u8]) -> Result<Self, EncodeError> {
        let mut payload = Self::EMPTY;
        payload.extend(data)?;
        Ok(payload)
    }

    pub(crate) fn close(code: Option<CloseCode>, reason: &str) -> Result<Self, EncodeError> {
        let Some(code) = code else {
            return if reason.is_empty() {
                Ok(Self::EMPTY)
            } else {
                Err(EncodeError::InvalidCloseCode)
            };
        };
        if !code.is_valid() {
            return Err(EncodeError::InvalidCloseCode);
        }
        let mut payload = Self::new(&code.0.to_be_bytes())?;
        payload.extend(reason.as_bytes())?;
        Ok(payload)
    }

    /// Appends `data`, which must fit within 125 bytes in total, and returns the
    /// appended part so it can be unmasked in place.
    pub(crate) fn extend(&mut self, data: &[u8]) -> Result<&mut [u8], EncodeError> {
        let start = usize::from(self.len);
        let end = start.saturating_add(data.len());
        let dest = self
            .bytes
            .get_mut(start..end)
            .ok_or(EncodeError::ControlPayloadTooLong)?;
        dest.copy_from_slice(data);
        // end <= 125 here.
        self.len = end as u8;
        Ok(dest)
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}
