//! Spec errors: each names the file, line, column and field, and says what is wrong.

use std::fmt;
use std::path::PathBuf;

/// What kind of mistake a [`SpecError`] reports, for code that wants to match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecErrorKind {
    /// The file could not be read, or is too large.
    Io,
    /// The YAML is malformed, or exceeds the parser's budget (depth, nodes, aliases).
    Syntax,
    /// A field the spec does not know.
    UnknownField,
    /// A required field is missing.
    MissingField,
    /// A value of the wrong type (a list where a string belongs, a negative number...).
    Type,
    /// A subnet, address or range that does not parse or does not fit the address plan.
    Address,
    /// A static address used twice.
    AddressInUse,
    /// A name used twice.
    DuplicateName,
    /// A name Docker, libvirt or DNS would reject.
    BadName,
    /// A value out of range (zero memory, zero vCPUs, port 0...).
    BadValue,
    /// A VM image file that does not exist.
    MissingImage,
    /// A VM image file that is no disk image (not qcow2, and too small for a raw disk).
    BadImage,
    /// The VPN subnet overlaps the lab subnet.
    Overlap,
    /// `depends_on` names an unknown workload.
    UnknownDependency,
    /// A check names a workload or VPN peer the lab does not have.
    UnknownName,
    /// `depends_on` forms a cycle.
    DependencyCycle,
    /// Not enough addresses left for the workloads or peers without a static one (or no
    /// free port left for the VPN gateway).
    Exhausted,
    /// A host port the lab wants is published twice in the spec, or held on the host by
    /// something else (another lab, another process).
    PortInUse,
    /// A file the spec names (a bind mount's source, a VM file's source) that does not exist
    /// or cannot be read.
    MissingFile,
    /// A workload joins a network the lab does not have, or a segment's gateway is no
    /// workload on it.
    UnknownNetwork,
}

/// One mistake in a lab spec.
///
/// Displays as `FILE:LINE:COL: FIELD: message`; a spec built in Rust (no file) displays as
/// `<builder>: FIELD: message`, and an error about the whole file (unreadable) as
/// `FILE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// What kind of mistake.
    pub kind: SpecErrorKind,
    /// The spec file, when the spec came from one.
    pub file: Option<PathBuf>,
    /// Line (1-based), 0 when unknown.
    pub line: u64,
    /// Column (1-based), 0 when unknown.
    pub column: u64,
    /// The field path, e.g. `containers[1].ip`; empty for the whole document.
    pub field: String,
    /// What is wrong, as a sentence fragment.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) if self.line == 0 => write!(f, "{}: ", file.display())?,
            Some(file) => write!(f, "{}:{}:{}: ", file.display(), self.line, self.column)?,
            None => f.write_str("<builder>: ")?,
        }
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

/// Every mistake found in one spec, in document order (then in the order checked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecErrors {
    /// The mistakes; never empty when returned as an error.
    pub errors: Vec<SpecError>,
}

impl SpecErrors {
    /// The mistakes.
    pub fn iter(&self) -> std::slice::Iter<'_, SpecError> {
        self.errors.iter()
    }
    /// Number of mistakes.
    pub fn len(&self) -> usize {
        self.errors.len()
    }
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), SpecErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors { errors: vec![e] }
    }
}

impl<'a> IntoIterator for &'a SpecErrors {
    type Item = &'a SpecError;
    type IntoIter = std::slice::Iter<'a, SpecError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}
