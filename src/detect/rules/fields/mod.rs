//! The fields a rule can test: the ECS names of the output schema
//! (docs/schema.md), so what a user reads in an event is what a rule
//! matches. Each field knows its type, the event actions it exists for,
//! and how to read it from an [`Event`] without allocating.

use std::net::IpAddr;

use crate::model::event::Event;
use crate::model::proctable::Process;

/// Every `event.action` value, in a fixed order (rule indexes use it).
pub const ACTIONS: [&str; 17] = [
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
    "connect",
    "bind",
    "listen",
    "accept",
    "dns_query",
    "stdio_socket",
];

pub const PROCESS: &[&str] = &["exec", "fork", "exit", "signal"];
pub const FILE: &[&str] = &[
    "open", "unlink", "rename", "chmod", "chown", "link", "symlink",
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
    Ip,
}

/// A field's value in one event, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Missing,
    Str(&'a str),
    StrList(&'a [String]),
    Int(i64),
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
}

pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// The actions the field exists for.
    pub actions: &'static [&'static str],
    pub get: Getter,
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

/// Reusable buffers for values that must be assembled (the command line),
/// so matching allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    buf: String,
    /// `buf` holds the current event's command line.
    built: bool,
}

impl Scratch {
    /// A new event: what was built for the last one is stale.
    pub fn reset(&mut self) {
        self.built = false;
    }

    /// The command line buffer's capacity: the tests check it stays.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// `process.command_line` (args joined by single spaces), or None;
    /// built on first use after [`Scratch::reset`], reusing the buffer.
    pub fn command_line<'a>(&'a mut self, ev: &Event) -> Option<&'a str> {
        let args = &ev.process.as_deref()?.image.args;
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

#[cfg(test)]
mod tests;
