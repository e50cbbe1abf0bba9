//! Sigma's Linux taxonomy mapped onto the ECS fields of our records: the
//! one table of docs/rules.md ("Sigma field mapping"), and the log
//! sources (`logsource.category`) mapped onto event actions.

/// What a Sigma field name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// An ECS field of the records (a name of the TOML rule fields).
    Field(&'static str),
    /// A user: the records hold numeric ids, so a value is a uid, or
    /// `root` (uid 0 on every Linux host).
    User(&'static str),
    /// `Initiated`: `true` is an outgoing connection (`connect`), `false`
    /// an accepted one (`accept`).
    Initiated,
    /// `DestinationIsIpv6` / `SourceIsIpv6`: `network.type`.
    IsIpv6,
    /// `Hashes`: Sysmon's `ALG=hex,ALG=hex` list; the `SHA256=` part is
    /// matched against the field (the only digest computed).
    Hashes(&'static str),
    /// A taxonomy field whose data the records do not hold: why.
    Refused(&'static str),
}

/// Sigma field name → target. Process fields apply to every log source
/// (every record carries its process); the others need a log source
/// whose events hold them, which the compiler checks.
pub(super) const FIELDS: &[(&str, Target)] = &[
    ("Image", Target::Field("process.executable")),
    ("CommandLine", Target::Field("process.command_line")),
    ("ProcessId", Target::Field("process.pid")),
    ("ParentImage", Target::Field("process.parent.executable")),
    (
        "ParentCommandLine",
        Target::Field("process.parent.command_line"),
    ),
    ("ParentProcessId", Target::Field("process.parent.pid")),
    ("User", Target::User("process.user.id")),
    ("LogonId", Target::Field("rand_guard.process.login_uid")),
    ("TargetFilename", Target::Field("file.path")),
    (
        "SourceFilename",
        Target::Field("rand_guard.file.original_path"),
    ),
    ("DestinationIp", Target::Field("destination.ip")),
    ("DestinationPort", Target::Field("destination.port")),
    ("SourceIp", Target::Field("source.ip")),
    ("SourcePort", Target::Field("source.port")),
    ("Protocol", Target::Field("network.transport")),
    ("Initiated", Target::Initiated),
    ("DestinationIsIpv6", Target::IsIpv6),
    ("SourceIsIpv6", Target::IsIpv6),
    ("QueryName", Target::Field("dns.question.name")),
    // Where the program was executed (a later chdir is not followed).
    (
        "CurrentDirectory",
        Target::Field("process.working_directory"),
    ),
    (
        "ParentUser",
        Target::Refused("the parent's user is not recorded (only the process's own ids)"),
    ),
    (
        "DestinationHostname",
        Target::Refused("connections carry addresses only: no name is resolved"),
    ),
    (
        "SourceHostname",
        Target::Refused("connections carry addresses only: no name is resolved"),
    ),
    (
        "DestinationPortName",
        Target::Refused("port names are not recorded (use DestinationPort)"),
    ),
    (
        "SourcePortName",
        Target::Refused("port names are not recorded (use SourcePort)"),
    ),
    (
        "QueryStatus",
        Target::Refused("DNS answers' status is not recorded, only the question"),
    ),
    (
        "QueryResults",
        Target::Refused("DNS answers' addresses are not recorded, only the question"),
    ),
    ("Hashes", Target::Hashes("process.hash.sha256")),
    (
        "CreationUtcTime",
        Target::Refused("file creation times are not recorded"),
    ),
    (
        "LogonGuid",
        Target::Refused("Windows GUIDs have no Linux equivalent"),
    ),
    (
        "ProcessGuid",
        Target::Refused("Windows GUIDs have no Linux equivalent"),
    ),
    (
        "ParentProcessGuid",
        Target::Refused("Windows GUIDs have no Linux equivalent"),
    ),
    (
        "IntegrityLevel",
        Target::Refused("Windows integrity levels have no Linux equivalent"),
    ),
    (
        "TerminalSessionId",
        Target::Refused("the terminal session is not recorded"),
    ),
    (
        "OriginalFileName",
        Target::Refused("executable metadata (PE version info) does not exist on Linux"),
    ),
    (
        "Description",
        Target::Refused("executable metadata (PE version info) does not exist on Linux"),
    ),
    (
        "Product",
        Target::Refused("executable metadata (PE version info) does not exist on Linux"),
    ),
    (
        "Company",
        Target::Refused("executable metadata (PE version info) does not exist on Linux"),
    ),
    (
        "FileVersion",
        Target::Refused("executable metadata (PE version info) does not exist on Linux"),
    ),
];

/// The Sigma name, or an ECS name of the records written as is (a name
/// with a dot: `process.args`), or None.
pub(super) fn lookup(name: &str) -> Option<Target> {
    if let Some((_, t)) = FIELDS.iter().find(|(n, _)| *n == name) {
        return Some(*t);
    }
    let field = super::super::fields::lookup(name)?;
    Some(Target::Field(field.name))
}

/// A log source we see: the event actions it covers, and a test every
/// one of its events must also pass (`event.type` for the file kinds).
#[derive(Debug)]
pub(super) struct Category {
    pub(super) actions: &'static [&'static str],
    /// (`event.type` value, must have it): `file_create` only sees
    /// creations, `file_event` everything but reads.
    pub(super) event_type: Option<(&'static str, bool)>,
}

/// `logsource.category` → what it covers, or why we cannot see it.
pub(super) fn category(name: &str) -> Result<Category, String> {
    let c = |actions, event_type| {
        Ok(Category {
            actions,
            event_type,
        })
    };
    match name {
        "process_creation" => c(&["exec"], None),
        // A file written, created, renamed to or linked: every file
        // event but reads and deletions (file_delete has those).
        "file_event" => c(&["open", "rename", "link", "symlink"], Some(("access", false))),
        "file_create" => c(&["open", "link", "symlink"], Some(("creation", true))),
        "file_delete" => c(&["unlink"], None),
        "file_rename" => c(&["rename"], None),
        "file_access" => c(&["open"], Some(("access", true))),
        "network_connection" => c(&["connect", "accept"], None),
        "dns_query" => c(&["dns_query"], None),
        "file_change" => Err(
            "file_change is a change of a file's creation time (Sysmon event 2), which is not recorded"
                .into(),
        ),
        other => Err(format!(
            "category {other:?} is not a log source rand-guard records (it has: process_creation, \
             file_event, file_create, file_delete, file_rename, file_access, network_connection, dns_query)"
        )),
    }
}
