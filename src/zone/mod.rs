//! RFC 1035 master files: the lexer, the parser with its directives, and the writer.

mod check;
mod generate;
pub mod lexer;
pub mod parser;
pub mod py;
pub mod writer;

pub use parser::{
    parse_bytes, parse_file, Limits, Parallelism, ParseFailure, ParseOptions, ParsedZone, ZoneError,
};
pub use writer::{to_zone_text, write_records, Format};

#[cfg(test)]
mod tests;
