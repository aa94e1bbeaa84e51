//! Reading wire-format rdata field by field, with every read bounds-checked.

use super::name::wire_name_end;

/// Reads wire rdata field by field; every read checks bounds.
pub(super) struct WireReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> WireReader<'a> {
    /// Starts reading `data`.
    pub(super) fn new(data: &'a [u8]) -> Self {
        WireReader { data, pos: 0 }
    }

    /// Whether all bytes were read.
    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next `len` bytes.
    pub(super) fn bytes(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(len).filter(|&end| end <= self.data.len());
        let end = end.ok_or_else(|| "rdata is too short".to_string())?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next `N` bytes, as an array.
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.bytes(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    /// All bytes not read yet.
    pub(super) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        self.pos = self.data.len();
        rest
    }

    /// A `u8`.
    pub(super) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    /// A big-endian `u16`.
    pub(super) fn u16(&mut self) -> Result<u16, String> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian `u32`.
    pub(super) fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An uncompressed domain name.
    pub(super) fn name(&mut self) -> Result<&'a [u8], String> {
        let end = wire_name_end(self.data, self.pos).ok_or_else(|| "bad domain name in rdata".to_string())?;
        let name = &self.data[self.pos..end];
        self.pos = end;
        Ok(name)
    }

    /// A length-prefixed character string.
    pub(super) fn char_string(&mut self) -> Result<&'a [u8], String> {
        let len = self.u8()?;
        self.bytes(usize::from(len))
    }

    /// Fails when bytes are left over.
    pub(super) fn finish(&self) -> Result<(), String> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected trailing bytes",
                self.data.len() - self.pos
            ))
        }
    }
}
