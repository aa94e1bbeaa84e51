//! Splits master-file text into entries: the fields of one logical line, with parentheses
//! joining physical lines and comments dropped (RFC 1035 5.1).

use crate::record::fields::Field;

/// A lexing problem at a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// The shape of one entry, its fields in the vector handed to [`Lexer::next_entry`].
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The line began with whitespace: the owner is the previous one.
    pub blank_owner: bool,
    /// Line of the entry's first field.
    pub line: u32,
    /// Line and column just past the entry's last field (for "missing field" errors).
    pub end: (u32, u32),
}

/// A place in the input at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineStart {
    /// Byte offset.
    pub offset: usize,
    /// 1-based line number.
    pub line: u32,
}

/// Lexer over a whole master file held in memory.
pub struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    line: u32,
    line_start: usize,
    /// No entry starting at or after this offset is read.
    stop_at: usize,
    max_line_len: usize,
    max_entry_len: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer over `input`; lines and entries longer than the limits are errors.
    pub fn new(input: &'a [u8], max_line_len: usize, max_entry_len: usize) -> Self {
        let start = LineStart { offset: 0, line: 1 };
        Self::between(input, start, input.len(), max_line_len, max_entry_len)
    }

    /// A lexer over the entries of `input` that start in `start..stop_at`; an entry that
    /// begins before `stop_at` is read to its end even when it runs past it.
    pub fn between(
        input: &'a [u8],
        start: LineStart,
        stop_at: usize,
        max_line_len: usize,
        max_entry_len: usize,
    ) -> Self {
        Lexer {
            input,
            pos: start.offset,
            line: start.line,
            line_start: start.offset,
            stop_at,
            max_line_len,
            max_entry_len,
        }
    }

    /// Where the next entry would start: after [`Lexer::next_entry`] returned `Ok(None)`, the
    /// first line start at or after the stop offset that is outside any entry.
    pub fn position(&self) -> LineStart {
        LineStart {
            offset: self.pos,
            line: self.line,
        }
    }

    fn column_of(&self, pos: usize) -> u32 {
        (pos - self.line_start + 1) as u32
    }

    #[cold]
    fn error_at(&self, pos: usize, message: impl Into<String>) -> LexError {
        LexError {
            line: self.line,
            column: self.column_of(pos.max(self.line_start)),
            message: message.into(),
        }
    }

    fn new_line(&mut self, newline_at: usize) -> Result<(), LexError> {
        if newline_at - self.line_start > self.max_line_len {
            let error = self.error_at(
                self.line_start,
                format!("line is longer than the limit of {} bytes", self.max_line_len),
            );
            self.line += 1;
            self.line_start = newline_at + 1;
            return Err(error);
        }
        self.line += 1;
        self.line_start = newline_at + 1;
        Ok(())
    }

    /// Skips to the start of the next line after an error so parsing can go on. Inside
    /// parentheses it skips to the closing one, so the rest of the broken record is dropped
    /// rather than misread as new records.
    pub fn recover(&mut self, inside_parentheses: bool) {
        let mut depth = usize::from(inside_parentheses);
        let mut quoted = false;
        while self.pos < self.input.len() {
            let byte = self.input[self.pos];
            self.pos += 1;
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.line_start = self.pos;
                    quoted = false;
                    if depth == 0 {
                        return;
                    }
                }
                b'\\' if self.pos < self.input.len() && self.input[self.pos] != b'\n' => self.pos += 1,
                b'"' => quoted = !quoted,
                b';' if !quoted => {
                    self.pos = memchr::memchr(b'\n', &self.input[self.pos..])
                        .map_or(self.input.len(), |at| self.pos + at);
                }
                b'(' if !quoted => depth += 1,
                b')' if !quoted => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }

    /// Reads the next non-empty entry into `fields`; `Ok(None)` at the end of input.
    ///
    /// On error, the second value says whether the error was inside parentheses, for
    /// [`Lexer::recover`].
    pub fn next_entry(&mut self, fields: &mut Vec<Field<'a>>) -> Result<Option<Entry>, (LexError, bool)> {
        fields.clear();
        let input = self.input;
        let mut depth = 0usize;
        let mut open_paren: Option<(u32, u32)> = None;
        let mut blank_owner = false;
        let mut entry_start = self.pos;
        let mut at_line_start = self.pos == self.line_start;
        loop {
            if at_line_start && fields.is_empty() && depth == 0 {
                if self.pos >= self.stop_at {
                    return Ok(None);
                }
                blank_owner = matches!(input.get(self.pos), Some(b' ' | b'\t'));
                entry_start = self.pos;
                at_line_start = false;
            }
            let Some(&byte) = input.get(self.pos) else {
                if depth > 0 {
                    let (line, column) = open_paren.unwrap_or((self.line, 1));
                    return Err((
                        LexError {
                            line,
                            column,
                            message: "'(' is never closed".into(),
                        },
                        false,
                    ));
                }
                return Ok(self.finish_entry(fields, blank_owner));
            };
            match byte {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    let at = self.pos;
                    self.pos += 1;
                    self.new_line(at).map_err(|e| (e, depth > 0))?;
                    if depth == 0 {
                        if !fields.is_empty() {
                            return Ok(self.finish_entry(fields, blank_owner));
                        }
                        at_line_start = true;
                    }
                }
                b';' => {
                    self.pos =
                        memchr::memchr(b'\n', &input[self.pos..]).map_or(input.len(), |at| self.pos + at);
                }
                b'(' => {
                    if depth == 0 {
                        open_paren = Some((self.line, self.column_of(self.pos)));
                    }
                    depth += 1;
                    self.pos += 1;
                }
                b')' => {
                    if depth == 0 {
                        return Err((self.error_at(self.pos, "')' without a matching '('"), false));
                    }
                    depth -= 1;
                    self.pos += 1;
                }
                b'"' => {
                    let start = self.pos + 1;
                    let end = self.scan_quoted(start).map_err(|e| (e, depth > 0))?;
                    fields.push(Field {
                        text: &input[start..end],
                        quoted: true,
                        line: self.line,
                        column: self.column_of(self.pos),
                    });
                    self.pos = end + 1;
                }
                _ => {
                    let start = self.pos;
                    let end = self.scan_word(start).map_err(|e| (e, depth > 0))?;
                    fields.push(Field {
                        text: &input[start..end],
                        quoted: false,
                        line: self.line,
                        column: self.column_of(start),
                    });
                    self.pos = end;
                }
            }
            if self.pos - entry_start > self.max_entry_len {
                return Err((
                    self.error_at(
                        self.pos,
                        format!("record is longer than the limit of {} bytes", self.max_entry_len),
                    ),
                    depth > 0,
                ));
            }
        }
    }

    fn finish_entry(&self, fields: &[Field<'a>], blank_owner: bool) -> Option<Entry> {
        let last = fields.last()?;
        let end_column = last.column + last.text.len() as u32 + if last.quoted { 2 } else { 0 };
        Some(Entry {
            blank_owner,
            line: fields[0].line,
            end: (last.line, end_column),
        })
    }

    /// Finds the closing quote of a string starting at `start`; strings stay on one line.
    fn scan_quoted(&self, start: usize) -> Result<usize, LexError> {
        let mut i = start;
        while let Some(found) = memchr::memchr3(b'"', b'\\', b'\n', &self.input[i..]) {
            i += found;
            match self.input[i] {
                b'"' => return Ok(i),
                b'\\' if self.input.get(i + 1).is_some_and(|&b| b != b'\n') => i += 2,
                _ => break,
            }
        }
        Err(self.error_at(start - 1, "quoted string is not closed on its line"))
    }

    /// Finds the end of an unquoted field. A `"` inside a field opens a quoted part that is
    /// kept in the field (`alpn="h2,h3"` in SVCB).
    fn scan_word(&self, start: usize) -> Result<usize, LexError> {
        let input = self.input;
        let mut i = start;
        loop {
            // Most bytes of a field are ordinary: skip them with one table look-up each.
            while i < input.len() && !WORD_SPECIAL[usize::from(input[i])] {
                i += 1;
            }
            match input.get(i) {
                Some(b'\\') => {
                    if matches!(input.get(i + 1), None | Some(b'\n')) {
                        return Err(self.error_at(i, "backslash at end of line"));
                    }
                    i += 2;
                }
                Some(b'"') => i = self.scan_quoted(i + 1)? + 1,
                _ => return Ok(i.min(input.len())),
            }
        }
    }
}

/// Bytes that end an unquoted field or need a closer look inside one.
static WORD_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let specials = b" \t\r\n;()\\\"";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] = true;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<(bool, Vec<String>)> {
        let mut lexer = Lexer::new(text.as_bytes(), 1 << 16, 1 << 20);
        let mut fields = Vec::new();
        let mut out = Vec::new();
        while let Some(entry) = lexer.next_entry(&mut fields).unwrap() {
            let texts = fields
                .iter()
                .map(|f| String::from_utf8_lossy(f.text).into_owned())
                .collect();
            out.push((entry.blank_owner, texts));
        }
        out
    }

    #[test]
    fn parentheses_join_lines_and_comments_vanish() {
        let got = entries("@ SOA ns ( 1 ; serial\r\n  2 3 ) ; done\n\n  A 1.2.3.4\n; only a comment\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, ["@", "SOA", "ns", "1", "2", "3"]);
        assert!(!got[0].0);
        assert_eq!(got[1], (true, vec!["A".to_string(), "1.2.3.4".to_string()]));
    }

    #[test]
    fn quotes_and_escapes_stay_in_fields() {
        let got = entries("x TXT \"a b;c\" d\\ e alpn=\"h2,h3\"\n");
        assert_eq!(got[0].1, ["x", "TXT", "a b;c", "d\\ e", "alpn=\"h2,h3\""]);
    }

    #[test]
    fn unbalanced_input_is_located() {
        let mut fields = Vec::new();
        let mut lexer = Lexer::new(b"a A (\n1.2.3.4\n", 100, 1000);
        let (err, _) = lexer.next_entry(&mut fields).unwrap_err();
        assert_eq!((err.line, err.column), (1, 5));
        let mut lexer = Lexer::new(b"a TXT \"open\n", 100, 1000);
        let (err, _) = lexer.next_entry(&mut fields).unwrap_err();
        assert_eq!((err.line, err.column), (1, 7));
        let mut lexer = Lexer::new(b"a A )\n", 100, 1000);
        assert!(lexer.next_entry(&mut fields).is_err());
    }
}
