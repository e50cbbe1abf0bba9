//! The fields a rule can test: the ECS names of the output schema
//! (docs/schema.md), so what a user reads in an event is what a rule
//! matches. Each field knows its type, the event actions it exists for,
//! and how to read it from an [`Event`] without allocating.

use std::net::IpAddr;

use crate::model::dns;
use crate::model::event::{Event, signal_name};
use crate::model::proctable::Process;

/// Every `event.action` value, in a fixed order (rule indexes use it).
pub const ACTIONS: [&str; 20] = [
    "exec",
    "fork",
    "exit",
    "signal",
    "open",
    "unlink",
    "rename",
    "chmod",
    "chown",
    "link",
    "symlink",
    "exec_refused",
    "setxattr",
    "removexattr",
    "connect",
    "bind",
    "listen",
    "accept",
    "dns_query",
    "stdio_socket",
];

pub const PROCESS: &[&str] = &["exec", "fork", "exit", "signal"];
pub const FILE: &[&str] = &[
    "open",
    "unlink",
    "rename",
    "chmod",
    "chown",
    "link",
    "symlink",
    "exec_refused",
    "setxattr",
    "removexattr",
];
pub const NETWORK: &[&str] = &[
    "connect",
    "bind",
    "listen",
    "accept",
    "dns_query",
    "stdio_socket",
];

/// Index of an action in [`ACTIONS`].
pub fn action_index(action: &str) -> Option<usize> {
    ACTIONS.iter().position(|a| *a == action)
}

/// What kind of value a field holds, which decides the operators allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// A list of strings (process.args): a string test holds if any
    /// element passes it.
    StrList,
    Int,
    /// A list of numbers (rand_guard.network.stdio_fds): a number test
    /// holds if any element passes it.
    IntList,
    Ip,
    /// A number the record writes as a name: see [`Names`].
    Named(&'static Names),
}

/// The names a record writes for a number (`dns.question.type` "AAAA" for
/// 28, `rand_guard.signal.name` "SIGTERM" for 15). A rule gives the name
/// (or the number); the event holds the number, so matching compares
/// numbers and allocates nothing.
#[derive(Debug)]
pub struct Names {
    /// What a name names, for errors: "a DNS query type".
    pub what: &'static str,
    /// Examples of names, for errors.
    pub examples: &'static str,
    /// The name the record writes for a number.
    pub name: fn(i64) -> String,
    /// The number a name stands for: only for names the record writes.
    pub number: fn(&str) -> Option<i64>,
}

/// Each [`Names`] is a static: the same names are the same static.
impl PartialEq for Names {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Names {}

/// `dns.question.type`: the mnemonic, or `TYPE<n>` (crate::model::dns).
pub static DNS_TYPES: Names = Names {
    what: "a DNS query type",
    examples: "A, AAAA, TXT, ..., TYPE<n> for types without a name",
    name: |n| u16::try_from(n).map_or_else(|_| n.to_string(), dns::type_name),
    number: |s| dns::type_from_name(s).map(i64::from),
};

/// `rand_guard.signal.name`: `SIGTERM`, `SIGRTMIN+2` (signal_name).
pub static SIGNALS: Names = Names {
    what: "a signal",
    examples: "SIGTERM, SIGKILL, ..., SIGRTMIN+<n>",
    name: |n| i32::try_from(n).map_or_else(|_| n.to_string(), signal_name),
    // Linux signals are 1..=64; the record names each one way.
    number: |s| (1..=64).find(|n| signal_name(*n) == s).map(i64::from),
};

/// A field's value in one event, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Missing,
    Str(&'a str),
    StrList(&'a [String]),
    /// A list of fixed strings (event.type).
    Strs(&'static [&'static str]),
    Int(i64),
    /// A set of small numbers: bit n set, n is in it (stdio_fds).
    IntBits(u64),
    Ip(IpAddr),
}

/// How to read a field.
#[derive(Clone, Copy)]
pub enum Getter {
    Event(fn(&Event) -> Value<'_>),
    /// A field of each ancestor: the test holds if it holds for any.
    Ancestor(fn(&Process) -> Value<'_>),
    /// `process.command_line`: the arguments joined by spaces, built once
    /// per event in [`Scratch`] and only if a rule asks.
    CommandLine,
    /// `process.parent.command_line`, likewise.
    ParentCommandLine,
}

pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// The actions the field exists for.
    pub actions: &'static [&'static str],
    pub get: Getter,
}

impl Field {
    /// Those of `actions` the field does not exist for.
    pub fn missing_for<'a>(&self, actions: &[&'a str]) -> Vec<&'a str> {
        actions
            .iter()
            .filter(|a| !self.actions.contains(a))
            .copied()
            .collect()
    }
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

pub const ALL: &[&str] = &ACTIONS;

mod table;
pub use table::FIELDS;

pub fn lookup(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// Reusable buffers for values that must be assembled (the command
/// lines), so matching allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    command_line: Joined,
    parent_command_line: Joined,
    /// The two command lines ASCII-lowercased, for Sigma's
    /// case-insensitive tests (built once per event, on first use).
    command_line_lower: Lowered,
    parent_command_line_lower: Lowered,
    /// A value ASCII-lowercased for a case-insensitive index lookup.
    folded: String,
}

/// Arguments joined by single spaces, built at most once per event.
#[derive(Debug, Default)]
struct Joined {
    buf: String,
    /// `buf` holds the current event's value.
    built: bool,
}

impl Joined {
    fn get<'a>(&'a mut self, args: Option<&[String]>) -> Option<&'a str> {
        let args = args?;
        if !self.built {
            self.buf.clear();
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    self.buf.push(' ');
                }
                self.buf.push_str(a);
            }
            self.built = true;
        }
        Some(&self.buf)
    }
}

/// A text ASCII-lowercased, built at most once per event.
#[derive(Debug, Default)]
struct Lowered {
    buf: String,
    built: bool,
}

impl Lowered {
    fn of<'a>(&'a mut self, s: Option<&str>) -> Option<&'a str> {
        let s = s?;
        if !self.built {
            self.buf.clear();
            self.buf.push_str(s);
            self.buf.make_ascii_lowercase();
            self.built = true;
        }
        Some(&self.buf)
    }
}

impl Scratch {
    /// A new event: what was built for the last one is stale.
    pub fn reset(&mut self) {
        self.command_line.built = false;
        self.parent_command_line.built = false;
        self.command_line_lower.built = false;
        self.parent_command_line_lower.built = false;
    }

    /// [`Scratch::command_line`] ASCII-lowercased.
    pub fn command_line_lower<'a>(&'a mut self, ev: &Event) -> Option<&'a str> {
        let args = ev.process.as_deref().map(|p| &p.image.args[..]);
        let line = self.command_line.get(args);
        self.command_line_lower.of(line)
    }

    /// [`Scratch::parent_command_line`] ASCII-lowercased.
    pub fn parent_command_line_lower<'a>(&'a mut self, ev: &Event) -> Option<&'a str> {
        let args = table::parent(ev).map(|p| &p.image.args[..]);
        let line = self.parent_command_line.get(args);
        self.parent_command_line_lower.of(line)
    }

    /// `s` ASCII-lowercased, in a reused buffer (`s` itself when it has
    /// no upper-case letter).
    pub fn fold<'a>(&'a mut self, s: &'a str) -> &'a str {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return s;
        }
        self.folded.clear();
        self.folded.push_str(s);
        self.folded.make_ascii_lowercase();
        &self.folded
    }

    /// The command line buffer's capacity: the tests check it stays.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.command_line.buf.capacity()
    }

    /// `process.command_line` (args joined by single spaces), or None;
    /// built on first use after [`Scratch::reset`], reusing the buffer.
    pub fn command_line<'a>(&'a mut self, ev: &Event) -> Option<&'a str> {
        let args = ev.process.as_deref().map(|p| &p.image.args[..]);
        self.command_line.get(args)
    }

    /// `process.parent.command_line`, as [`Scratch::command_line`]; None
    /// when the record has no parent image (see `process.parent.name`).
    pub fn parent_command_line<'a>(&'a mut self, ev: &Event) -> Option<&'a str> {
        let args = table::parent(ev).map(|p| &p.image.args[..]);
        self.parent_command_line.get(args)
    }
}

#[cfg(test)]
mod tests;
