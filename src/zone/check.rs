//! The content checks BIND's named-checkzone and Knot's kzonecheck make once a zone parses:
//! what may share a name with a CNAME, the SOA and NS records of the apex, addresses for name
//! servers inside the zone (glue for delegations), and data that is out of the zone or hidden
//! below a delegation or a DNAME.
//!
//! A finding is an error where either tool refuses the zone, and a warning where both load it
//! (BIND noting the record, or neither saying a word). Each is placed at the record it is
//! about; findings about the zone as a whole at the record they are missing beside.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::parser::ZoneError;
use crate::record::{RecordRef, RecordSet, RecordType};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Severity {
    /// BIND or Knot refuses to load the zone.
    Error,
    /// Both load the zone, but something in it is not served as written.
    Warning,
}

/// One thing the check found, located at the record it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub(super) severity: Severity,
    pub(super) problem: ZoneError,
}

/// Where each record of a parse was written: its file, and the line and column of its entry's
/// first field (the records of one `$GENERATE` share the directive's).
#[derive(Debug, Default)]
pub(super) struct RecordPositions {
    files: Vec<Arc<str>>,
    at: Vec<Position>,
    /// The file the last entry came from: entries come file by file.
    current: usize,
}

#[derive(Debug, Clone, Copy)]
struct Position {
    file: u32,
    line: u32,
    column: u32,
}

impl RecordPositions {
    /// Makes room for `records` more positions.
    pub(super) fn reserve(&mut self, records: usize) {
        self.at.reserve(records);
    }

    /// Places the records up to the `len`th that have no position yet at `file:line:column`.
    pub(super) fn fill_to(&mut self, len: usize, file: &Arc<str>, line: u32, column: u32) {
        if self.at.len() >= len {
            return;
        }
        let file = self.file_index(file);
        self.at.resize(len, Position { file, line, column });
    }

    fn file_index(&mut self, file: &Arc<str>) -> u32 {
        let known = |index: &usize| {
            self.files
                .get(*index)
                .is_some_and(|known| Arc::ptr_eq(known, file))
        };
        let index = match Some(self.current).filter(known) {
            Some(index) => index,
            None => match self.files.iter().rposition(|known| Arc::ptr_eq(known, file)) {
                Some(index) => index,
                None => {
                    self.files.push(Arc::clone(file));
                    self.files.len() - 1
                }
            },
        };
        self.current = index;
        index as u32
    }

    /// Moves the positions of `other`'s records after these.
    pub(super) fn append(&mut self, other: RecordPositions) {
        let base = self.files.len() as u32;
        self.files.extend(other.files);
        self.at.extend(other.at.into_iter().map(|position| Position {
            file: position.file + base,
            ..position
        }));
    }

    /// File, line and column of record `index`; the start of `label` for none.
    fn locate(&self, index: Option<usize>, label: &Arc<str>) -> (Arc<str>, u32, u32) {
        let position = index.and_then(|index| self.at.get(index));
        match position.and_then(|at| Some((self.files.get(at.file as usize)?, at))) {
            Some((file, at)) => (Arc::clone(file), at.line, at.column),
            None => (Arc::clone(label), 1, 1),
        }
    }
}

/// Checks a parsed zone. `origin` is the zone's apex (canonical presentation form); without
/// one, the owner of the first SOA record is taken for it.
pub(super) fn check_zone(
    records: &RecordSet,
    positions: &RecordPositions,
    origin: Option<&str>,
    label: &Arc<str>,
) -> Vec<Finding> {
    debug_assert_eq!(positions.at.len(), records.len(), "every record has a position");
    let apex = origin.or_else(|| {
        records
            .iter()
            .find(|record| record.rtype == RecordType::SOA)
            .map(|record| record.name)
    });
    let mut check = Check {
        records,
        positions,
        label,
        apex,
        names: HashMap::new(),
        ns_targets: HashSet::new(),
        first_in_zone: None,
        found: Vec::new(),
    };
    check.gather();
    check.apex_records();
    check.names_with_cname();
    check.place_below_cuts();
    check.each_record();
    check.finish()
}

/// What the check learns about one owner name.
struct NameInfo<'a> {
    /// The first CNAME and its target.
    cname: Option<(usize, &'a str)>,
    /// The first record of a type that may not share a name with a CNAME.
    other: Option<usize>,
    /// The first SOA and its rdata.
    soa: Option<(usize, &'a str)>,
    ns: Option<usize>,
    dname: Option<usize>,
    /// Whether the name has an A or AAAA record.
    address: bool,
    /// The highest delegation or DNAME above the name, inside the zone.
    hidden_by: Option<(&'a str, Hider)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hider {
    Delegation,
    Dname,
}

struct Found {
    /// The record the finding is placed at; none for an empty zone.
    at: Option<usize>,
    severity: Severity,
    message: String,
}

struct Check<'a, 'p> {
    records: &'a RecordSet,
    positions: &'p RecordPositions,
    label: &'p Arc<str>,
    apex: Option<&'a str>,
    /// The names inside the zone.
    names: HashMap<&'a str, NameInfo<'a>>,
    /// The names every NS record in the zone points at.
    ns_targets: HashSet<&'a str>,
    first_in_zone: Option<usize>,
    found: Vec<Found>,
}

impl<'a> Check<'a, '_> {
    fn error(&mut self, at: Option<usize>, message: String) {
        self.found.push(Found {
            at,
            severity: Severity::Error,
            message,
        });
    }

    fn warning(&mut self, at: usize, message: String) {
        self.found.push(Found {
            at: Some(at),
            severity: Severity::Warning,
            message,
        });
    }

    fn in_zone(&self, name: &str) -> bool {
        self.apex.is_none_or(|apex| is_at_or_under(name, apex))
    }

    fn is_delegation(&self, name: &str, info: &NameInfo<'_>) -> bool {
        info.ns.is_some() && self.apex.is_some_and(|apex| apex != name)
    }

    fn record(&self, index: usize) -> Option<RecordRef<'a>> {
        self.records.get(index)
    }

    /// Where record `index` is, said from the place of record `from`: "line 6", or with the
    /// file's name when the two are in different files.
    fn place(&self, index: usize, from: usize) -> String {
        let (file, line, _) = self.positions.locate(Some(index), self.label);
        let (from_file, _, _) = self.positions.locate(Some(from), self.label);
        if file == from_file {
            format!("line {line}")
        } else {
            format!("{file}:{line}")
        }
    }

    /// One pass in file order: out-of-zone records, SOA and CNAME counts, and what each name
    /// holds.
    fn gather(&mut self) {
        let records = self.records;
        for (index, record) in records.iter().enumerate() {
            let name = record.name;
            if !self.in_zone(name) {
                let apex = self.apex.unwrap_or(".");
                self.warning(
                    index,
                    format!("{name} is out of zone (not at or below {apex}); BIND ignores such records"),
                );
                continue;
            }
            self.first_in_zone.get_or_insert(index);
            let apex = self.apex;
            let info = self.names.entry(name).or_insert_with(|| NameInfo {
                cname: None,
                other: None,
                soa: None,
                ns: None,
                dname: None,
                address: false,
                hidden_by: None,
            });
            // Records with the same rdata are one record to BIND and Knot, not two.
            let mut repeated = None;
            match record.rtype {
                RecordType::CNAME => match info.cname {
                    Some((first, target)) if target != record.rdata => repeated = Some(first),
                    Some(_) => {}
                    None => info.cname = Some((index, record.rdata)),
                },
                RecordType::SOA if apex == Some(name) => match info.soa {
                    Some((first, rdata)) if rdata != record.rdata => repeated = Some(first),
                    Some(_) => {}
                    None => info.soa = Some((index, record.rdata)),
                },
                RecordType::NS => {
                    info.ns.get_or_insert(index);
                    self.ns_targets.insert(record.rdata);
                }
                RecordType::DNAME => {
                    info.dname.get_or_insert(index);
                }
                RecordType::A | RecordType::AAAA => info.address = true,
                _ => {}
            }
            // RFC 4035 lets a CNAME's signatures and NSEC (and an NSEC3, whose owner is a hash)
            // share its name; RFC 1034 nothing else.
            if !matches!(
                record.rtype,
                RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3
            ) {
                info.other.get_or_insert(index);
            }
            let first = repeated.map(|first| self.place(first, index));
            match (record.rtype, first) {
                (RecordType::CNAME, Some(first)) => self.error(
                    Some(index),
                    format!("more than one CNAME at {name} (the first is at {first})"),
                ),
                (RecordType::SOA, Some(first)) => self.error(
                    Some(index),
                    format!("more than one SOA record at the zone apex {name} (the first is at {first})"),
                ),
                (RecordType::SOA, None) if apex != Some(name) => {
                    let apex = apex.unwrap_or(".");
                    self.error(
                        Some(index),
                        format!("SOA record at {name}, not at the zone apex {apex}"),
                    );
                }
                _ => {}
            }
        }
    }

    /// The apex must hold one SOA and NS records.
    fn apex_records(&mut self) {
        let Some(apex) = self.apex else {
            self.error(
                self.first_in_zone,
                "no SOA record, and no origin given to name the zone apex".into(),
            );
            return;
        };
        let info = self.names.get(apex);
        let soa = info.and_then(|info| info.soa).map(|(index, _)| index);
        let ns = info.and_then(|info| info.ns);
        if soa.is_none() {
            self.error(
                self.first_in_zone,
                format!("no SOA record at the zone apex {apex}"),
            );
        }
        if ns.is_none() {
            self.error(
                soa.or(self.first_in_zone),
                format!("no NS records at the zone apex {apex}"),
            );
        }
    }

    /// A CNAME must be alone at its name, and never at the apex.
    fn names_with_cname(&mut self) {
        let mut found = Vec::new();
        for (&name, info) in &self.names {
            let Some((cname, _)) = info.cname else {
                continue;
            };
            if Some(name) == self.apex {
                found.push((
                    cname,
                    format!("CNAME at the zone apex {name}, which must hold the zone's SOA and NS records"),
                ));
                continue;
            }
            let Some(other) = info.other else {
                continue;
            };
            let (later, earlier) = (cname.max(other), cname.min(other));
            let (Some(later_record), Some(earlier_record)) = (self.record(later), self.record(earlier))
            else {
                continue;
            };
            let earlier_place = self.place(earlier, later);
            let message = if later == cname {
                format!(
                    "CNAME and other data at {name}: the {} record at {earlier_place} shares its name",
                    earlier_record.rtype
                )
            } else {
                format!(
                    "CNAME and other data at {name}: this {} record shares its name with the CNAME \
                     at {earlier_place}",
                    later_record.rtype
                )
            };
            found.push((later, message));
        }
        for (at, message) in found {
            self.error(Some(at), message);
        }
    }

    /// Notes for every name the highest delegation or DNAME above it, inside the zone.
    fn place_below_cuts(&mut self) {
        let mut hidden = Vec::new();
        for &name in self.names.keys() {
            let mut highest = None;
            let mut ancestor = parent(name);
            while let Some(above) = ancestor.filter(|above| self.in_zone(above)) {
                if let Some(info) = self.names.get(above) {
                    if self.is_delegation(above, info) {
                        highest = Some((above, Hider::Delegation));
                    } else if info.dname.is_some() {
                        highest = Some((above, Hider::Dname));
                    }
                }
                ancestor = parent(above);
            }
            if highest.is_some() {
                hidden.push((name, highest));
            }
        }
        for (name, hidden_by) in hidden {
            if let Some(info) = self.names.get_mut(name) {
                info.hidden_by = hidden_by;
            }
        }
    }

    /// The checks of each record in its context, in file order.
    fn each_record(&mut self) {
        let mut checked_targets = HashSet::new();
        let records = self.records;
        for (index, record) in records.iter().enumerate() {
            let name = record.name;
            let Some(info) = self.names.get(name) else {
                // Out of zone, already reported.
                continue;
            };
            let rtype = record.rtype;
            let glue = matches!(rtype, RecordType::A | RecordType::AAAA) && self.ns_targets.contains(name);
            match info.hidden_by {
                Some((dname, Hider::Dname)) => self.error(
                    Some(index),
                    format!(
                        "{rtype} record at {name} is below the DNAME at {dname}, and nothing may \
                         exist below a DNAME (RFC 6672)"
                    ),
                ),
                Some((cut, Hider::Delegation)) if !glue => self.warning(
                    index,
                    format!(
                        "{rtype} record at {name} is below the delegation at {cut} and is not served \
                         (occluded); only glue addresses of its name servers belong there"
                    ),
                ),
                Some(_) => {}
                None => {
                    let delegation = self.is_delegation(name, info);
                    match rtype {
                        RecordType::DNAME if delegation => self.error(
                            Some(index),
                            format!("DNAME at the delegation point {name}: a delegation cannot also redirect"),
                        ),
                        RecordType::NS
                        | RecordType::DS
                        | RecordType::RRSIG
                        | RecordType::NSEC
                        | RecordType::NSEC3
                        // Reported as CNAME and other data.
                        | RecordType::CNAME => {}
                        _ if delegation && !glue => self.warning(
                            index,
                            format!(
                                "{rtype} record at the delegation point {name} is not served (occluded); \
                                 only NS, DS and glue addresses belong there"
                            ),
                        ),
                        _ => {}
                    }
                    if rtype == RecordType::NS && checked_targets.insert((name, record.rdata)) {
                        self.name_server_address(index, name, record.rdata);
                    }
                }
            }
        }
    }

    /// A name server inside the zone needs an address in it: the apex's, so that the zone's own
    /// servers can be found; a delegation's, as glue when it is below the delegation, since a
    /// resolver could otherwise never reach the child zone.
    fn name_server_address(&mut self, index: usize, owner: &str, target: &'a str) {
        let Some(apex) = self.apex else {
            return;
        };
        if !is_at_or_under(target, apex) {
            return;
        }
        let info = self.names.get(target);
        if info.is_some_and(|info| info.address) {
            return;
        }
        let message = if info.is_some_and(|info| info.cname.is_some()) {
            format!(
                "name server {target} of {owner} is a CNAME; an NS record must name a host with addresses"
            )
        } else if owner != apex && is_at_or_under(target, owner) {
            format!(
                "delegation {owner} has no glue: its name server {target} is below it but has no A \
                 or AAAA record in the zone"
            )
        } else {
            format!("name server {target} of {owner} is in the zone but has no A or AAAA record")
        };
        self.error(Some(index), message);
    }

    /// The findings in file order, located.
    fn finish(mut self) -> Vec<Finding> {
        // Stable: what is found at one record keeps the order the checks run in.
        self.found.sort_by_key(|found| found.at);
        self.found
            .into_iter()
            .map(|found| {
                let (file, line, column) = self.positions.locate(found.at, self.label);
                Finding {
                    severity: found.severity,
                    problem: ZoneError {
                        file,
                        line,
                        column,
                        message: found.message,
                    },
                }
            })
            .collect()
    }
}

/// Whether `name` is `ancestor` or below it; both are canonical presentation names, so a
/// label boundary is a dot not escaped by an odd run of backslashes.
pub(super) fn is_at_or_under(name: &str, ancestor: &str) -> bool {
    if ancestor == "." {
        return true;
    }
    let Some(head) = name.strip_suffix(ancestor) else {
        return false;
    };
    head.is_empty() || head.strip_suffix('.').is_some_and(|label| !ends_in_escape(label))
}

/// Whether `text` ends in an unpaired backslash (so a dot after it is part of a label).
fn ends_in_escape(text: &str) -> bool {
    text.bytes().rev().take_while(|&byte| byte == b'\\').count() % 2 == 1
}

/// The name one label up; none for the root.
fn parent(name: &str) -> Option<&str> {
    if name == "." {
        return None;
    }
    let bytes = name.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'.' => return Some(name.get(at + 1..).filter(|rest| !rest.is_empty()).unwrap_or(".")),
            _ => at += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{parse_bytes, Parallelism, ParseFailure, ParseOptions, ZoneError};
    use super::{is_at_or_under, parent};

    const HEAD: &str =
        "$TTL 300\n$ORIGIN example.com.\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n";

    fn checking(origin: Option<&str>) -> ParseOptions {
        ParseOptions {
            origin: origin.map(str::to_string),
            collect_errors: true,
            check: true,
            ..ParseOptions::default()
        }
    }

    fn located(problems: &[ZoneError]) -> Vec<String> {
        problems
            .iter()
            .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
            .collect()
    }

    /// The errors and warnings of checking `text` as the zone `origin`.
    fn findings_as(text: &str, origin: Option<&str>) -> (Vec<String>, Vec<String>) {
        let parsed = parse_bytes(text.as_bytes(), Arc::from("t.zone"), None, &checking(origin))
            .unwrap_or_else(|failure| panic!("parse failed: {failure}"));
        (located(&parsed.errors), located(&parsed.warnings))
    }

    fn findings(text: &str) -> (Vec<String>, Vec<String>) {
        findings_as(text, Some("example.com"))
    }

    fn with_head(rest: &str) -> (Vec<String>, Vec<String>) {
        findings(&format!("{HEAD}{rest}"))
    }

    #[test]
    fn a_sound_zone_has_no_findings() {
        let (errors, warnings) = with_head(&format!(
            "www CNAME ns1\n\
             www RRSIG CNAME 8 3 300 20240101000000 20230101000000 1234 example.com. AAAA\n\
             www NSEC z CNAME RRSIG NSEC\n\
             dup CNAME ns1\ndup CNAME ns1\n\
             @ SOA ns1 host 1 2 3 4 5\n\
             sub NS ns.sub\nsub NS ns.other.org.\nsub DS 1 8 2 {}\nns.sub A 192.0.2.9\n\
             side NS ns.sub\n\
             @ NS ns.other.org.\n",
            "ab".repeat(32)
        ));
        assert_eq!((errors, warnings), (vec![], vec![]));
    }

    #[test]
    fn a_cname_shares_its_name_with_nothing() {
        let (errors, _) = with_head("www CNAME ns1\nwww A 192.0.2.2\nmail A 192.0.2.3\n CNAME ns1\n");
        assert_eq!(
            errors,
            [
                "7:1: CNAME and other data at www.example.com.: this A record shares its name with the \
                 CNAME at line 6",
                "9:2: CNAME and other data at mail.example.com.: the A record at line 8 shares its name",
            ]
        );
        let (errors, _) = with_head("x CNAME ns1\nx DNAME other.org.\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("7:1: CNAME and other data"), "{errors:?}");
    }

    #[test]
    fn a_name_has_one_cname() {
        let (errors, _) = with_head("www CNAME a\nwww CNAME a\nwww CNAME b\nwww CNAME c\n");
        assert_eq!(
            errors,
            [
                "8:1: more than one CNAME at www.example.com. (the first is at line 6)",
                "9:1: more than one CNAME at www.example.com. (the first is at line 6)",
            ]
        );
    }

    #[test]
    fn out_of_zone_data_is_a_warning() {
        let (errors, warnings) = with_head("www.other.org. A 192.0.2.1\ncom. TXT x\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            warnings,
            [
                "6:1: www.other.org. is out of zone (not at or below example.com.); BIND ignores such records",
                "7:1: com. is out of zone (not at or below example.com.); BIND ignores such records",
            ]
        );
        // Out-of-zone records take no part in the other checks.
        let (errors, _) = with_head("x.org. CNAME a.\nx.org. A 192.0.2.1\nx.org. SOA a. b. 1 2 3 4 5\n");
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn the_apex_has_one_soa_and_no_other() {
        let (errors, _) = findings("$TTL 300\n$ORIGIN example.com.\n@ NS ns1\nns1 A 192.0.2.1\n");
        assert_eq!(errors, ["3:1: no SOA record at the zone apex example.com."]);
        let (errors, _) = with_head("www SOA ns1 host 1 2 3 4 5\n@ SOA ns1 host 2 2 3 4 5\n");
        assert_eq!(
            errors,
            [
                "6:1: SOA record at www.example.com., not at the zone apex example.com.",
                "7:1: more than one SOA record at the zone apex example.com. (the first is at line 3)",
            ]
        );
        let (errors, _) = findings("");
        assert_eq!(
            errors,
            [
                "1:1: no SOA record at the zone apex example.com.",
                "1:1: no NS records at the zone apex example.com.",
            ]
        );
    }

    #[test]
    fn the_apex_has_ns_records() {
        let (errors, _) =
            findings("$TTL 300\n$ORIGIN example.com.\nns1 A 192.0.2.1\n@ SOA ns1 host 1 2 3 4 5\n");
        assert_eq!(errors, ["4:1: no NS records at the zone apex example.com."]);
    }

    #[test]
    fn a_delegation_below_itself_needs_glue() {
        let (errors, warnings) = with_head("sub NS ns.sub\nsub NS ns.other.org.\ndeep NS a.b.deep\n");
        assert_eq!(
            errors,
            [
                "6:1: delegation sub.example.com. has no glue: its name server ns.sub.example.com. is \
                 below it but has no A or AAAA record in the zone",
                "8:1: delegation deep.example.com. has no glue: its name server a.b.deep.example.com. \
                 is below it but has no A or AAAA record in the zone",
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let (errors, _) = with_head("sub NS ns.sub\nns.sub AAAA 2001:db8::1\n");
        assert!(errors.is_empty(), "{errors:?}");
        // A name server elsewhere in the zone (not below the delegation) needs an address too.
        let (errors, _) = with_head("sub NS ns.sub2\n");
        assert_eq!(
            errors,
            ["6:1: name server ns.sub2.example.com. of sub.example.com. is in the zone but has no A or AAAA record"]
        );
    }

    #[test]
    fn an_apex_name_server_in_the_zone_has_an_address() {
        let (errors, _) = with_head("@ NS ns2\n@ NS ns2\n@ NS www\nwww CNAME ns1\n");
        assert_eq!(
            errors,
            [
                "6:1: name server ns2.example.com. of example.com. is in the zone but has no A or AAAA record",
                "8:1: name server www.example.com. of example.com. is a CNAME; an NS record must name a \
                 host with addresses",
            ]
        );
    }

    #[test]
    fn data_below_a_delegation_is_occluded() {
        let (errors, warnings) = with_head(
            "sub NS ns.sub\nns.sub A 192.0.2.9\nwww.sub A 192.0.2.10\nsub TXT here\nsub A 192.0.2.11\n\
             a.b.sub NS ns.sub\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            warnings,
            [
                "8:1: A record at www.sub.example.com. is below the delegation at sub.example.com. and is \
                 not served (occluded); only glue addresses of its name servers belong there",
                "9:1: TXT record at the delegation point sub.example.com. is not served (occluded); only \
                 NS, DS and glue addresses belong there",
                "10:1: A record at the delegation point sub.example.com. is not served (occluded); only \
                 NS, DS and glue addresses belong there",
                "11:1: NS record at a.b.sub.example.com. is below the delegation at sub.example.com. and \
                 is not served (occluded); only glue addresses of its name servers belong there",
            ]
        );
        let (errors, _) = with_head("sub NS ns.other.org.\nsub DNAME other.org.\n");
        assert_eq!(
            errors,
            ["7:1: DNAME at the delegation point sub.example.com.: a delegation cannot also redirect"]
        );
    }

    #[test]
    fn nothing_lives_below_a_dname() {
        let (errors, warnings) = with_head("sub DNAME other.org.\nsub A 192.0.2.3\nwww.sub A 192.0.2.3\n");
        assert_eq!(
            errors,
            [
                "8:1: A record at www.sub.example.com. is below the DNAME at sub.example.com., and nothing \
              may exist below a DNAME (RFC 6672)"
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn the_apex_has_no_cname() {
        let (errors, _) = with_head("@ CNAME other.org.\n");
        assert_eq!(
            errors,
            ["6:1: CNAME at the zone apex example.com., which must hold the zone's SOA and NS records"]
        );
    }

    #[test]
    fn without_an_origin_the_first_soa_names_the_apex() {
        let text = "$TTL 300\nexample.com. SOA ns1.example.com. h.example.com. 1 2 3 4 5\n\
                    example.com. NS ns1.example.com.\nns1.example.com. A 192.0.2.1\nx.org. A 192.0.2.1\n";
        let (errors, warnings) = findings_as(text, None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("5:1: x.org. is out of zone"),
            "{warnings:?}"
        );
        let (errors, _) = findings_as("$TTL 300\na.x. A 192.0.2.1\na.x. CNAME b.x.\n", None);
        assert_eq!(
            errors,
            [
                "2:1: no SOA record, and no origin given to name the zone apex",
                "3:1: CNAME and other data at a.x.: the A record at line 2 shares its name",
            ]
        );
    }

    #[test]
    fn checks_wait_for_clean_syntax_and_stop_mode_stops_at_the_first() {
        let (errors, _) = findings("$TTL 300\n$ORIGIN example.com.\nwww A 192.0.2.300\n");
        assert_eq!(errors.len(), 1, "only the syntax error: {errors:?}");
        let options = ParseOptions {
            collect_errors: false,
            ..checking(Some("example.com"))
        };
        let text = format!("{HEAD}www CNAME ns1\nwww A 192.0.2.2\nx CNAME a\nx CNAME b\n");
        match parse_bytes(text.as_bytes(), Arc::from("t.zone"), None, &options) {
            Err(ParseFailure::Syntax(error)) => assert_eq!(
                error.to_string(),
                "t.zone:7:1: CNAME and other data at www.example.com.: this A record shares its name with \
                 the CNAME at line 6"
            ),
            other => panic!("expected the first check error, got {other:?}"),
        }
        // A plain parse neither checks nor keeps positions.
        let plain = parse_bytes(
            text.as_bytes(),
            Arc::from("t.zone"),
            None,
            &ParseOptions::default(),
        )
        .unwrap();
        assert!(plain.errors.is_empty() && plain.warnings.is_empty());
    }

    #[test]
    fn records_keep_their_place_across_parts_includes_and_generate() {
        let dir = std::env::temp_dir().join(format!("dnsmill-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("inc.zone"), "\ninc A 192.0.2.7\n  CNAME ns1\n").unwrap();
        let mut text = String::from(HEAD);
        for i in 0..300 {
            text.push_str(&format!("host{i} A 192.0.2.{}\n", i % 250));
        }
        text.push_str("inc TXT main\n$INCLUDE inc.zone\ng2 CNAME ns1\n$GENERATE 1-3 g$ A 192.0.2.$\n");
        let path = dir.join("main.zone");
        std::fs::write(&path, &text).unwrap();
        let inc = dir.join("inc.zone").to_string_lossy().into_owned();
        let main = path.to_string_lossy().into_owned();
        for parts in [1, 2, 3, 7] {
            let options = ParseOptions {
                allow_include: true,
                parallelism: Parallelism {
                    max_parts: Some(parts),
                    min_part_bytes: 1,
                },
                ..checking(Some("example.com"))
            };
            let parsed = super::super::parse_file(&path, &options).unwrap();
            let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
            assert_eq!(
                errors,
                [
                    format!(
                        "{inc}:3:3: CNAME and other data at inc.example.com.: the TXT record at {main}:306 \
                         shares its name"
                    ),
                    format!(
                        "{main}:309:1: CNAME and other data at g2.example.com.: this A record shares its \
                         name with the CNAME at line 308"
                    ),
                ],
                "{parts} parts"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn warnings_past_the_error_limit_are_counted_not_listed() {
        let options = ParseOptions {
            limits: super::super::Limits {
                max_errors: 2,
                ..Default::default()
            },
            ..checking(Some("example.com"))
        };
        let text =
            format!("{HEAD}a.org. A 192.0.2.1\nb.org. A 192.0.2.1\nc.org. A 192.0.2.1\nd.org. A 192.0.2.1\n");
        let parsed = parse_bytes(text.as_bytes(), Arc::from("t.zone"), None, &options).unwrap();
        let warnings = located(&parsed.warnings);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert_eq!(
            warnings[2],
            "8:1: 2 more warnings from here on are not listed (the limit is 2)"
        );
    }

    #[test]
    fn names_nest_by_labels_not_by_text() {
        assert!(is_at_or_under("www.example.com.", "example.com."));
        assert!(is_at_or_under("example.com.", "example.com."));
        assert!(is_at_or_under("com.", "."));
        assert!(!is_at_or_under("wwwexample.com.", "example.com."));
        assert!(!is_at_or_under("a\\.example.com.", "example.com."));
        assert!(is_at_or_under("a\\\\.example.com.", "example.com."));
        assert!(!is_at_or_under("com.", "example.com."));
        assert_eq!(parent("a\\.b.c."), Some("c."));
        assert_eq!(parent("a\\\\.b.c."), Some("b.c."));
        assert_eq!(parent("c."), Some("."));
        assert_eq!(parent("."), None);
    }
}
