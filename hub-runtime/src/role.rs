//! What a workload is to its lab: the value of the [`crate::labels::KIND`] mark.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The role of a workload in its lab, written as the [`crate::labels::KIND`] label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A container of the spec.
    Container,
    /// A VM of the spec.
    Vm,
    /// The lab's DHCP and DNS server, a container the hub runs itself.
    Netd,
}

impl Role {
    /// The label value: `container`, `vm` or `netd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Container => "container",
            Role::Vm => "vm",
            Role::Netd => "netd",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label value that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {0:?} is not one of container, vm, netd")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "container" => Ok(Role::Container),
            "vm" => Ok(Role::Vm),
            "netd" => Ok(Role::Netd),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_label() {
        for r in [Role::Container, Role::Vm, Role::Netd] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert!("db".parse::<Role>().is_err());
    }
}
