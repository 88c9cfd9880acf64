//! The lab spec: its types, the YAML loader, validation and resolution.
//!
//! A spec is written in YAML (the seed's flat form: `network_name`, `subnet`, `network_type`
//! at the top level; there is no nested `network:` mapping) or built in Rust. Loading reports
//! every mistake of a file together, each as `FILE:LINE:COL: FIELD: message`:
//!
//! ```no_run
//! use hub_core::spec::LabSpec;
//! let spec = LabSpec::from_file("examples/labs/seed.yaml")?;
//! let lab = spec.resolve()?; // validates, then allocates addresses, MACs, hashes
//! for w in &lab.workloads {
//!     println!("{} {} {}", w.name, w.ip, w.mac);
//! }
//! # Ok::<(), hub_core::spec::SpecErrors>(())
//! ```
//!
//! ```yaml
//! name: demo                      # lab name (default: network_name)
//! network_name: demo-net          # Docker network name (default: the lab name)
//! subnet: 172.19.5.0/24           # /8 to /28
//! network_type: bridge            # only bridge, for now
//! attach_to: other-net            # optional: join this existing Docker network
//! dhcp_range: 172.19.5.200-172.19.5.254   # optional; default: the plan's tail
//! domain: demo.lab                # default: <lab>.lab
//! containers:
//!   - name: web                   # DNS label: [a-z0-9-], at most 63
//!     image: nginx:alpine
//!     ip: 172.19.5.10             # optional; allocated lowest-free otherwise
//!     cmd: [nginx, -g, daemon off;]
//!     env: {KEY: value}
//!     labels: {team: net}
//!     depends_on: [db]
//!     healthcheck: {test: [wget, -q, -O-, "http://localhost/"], interval: 5s, timeout: 2s, retries: 3, start_period: 1s}
//!     cpus: 0.5
//!     memory_mb: 256
//!     restart: unless-stopped     # no | on-failure | unless-stopped | always
//!     ports: ["8080:80", "127.0.0.1:5353:53/udp"]   # Compose's short syntax
//!     volumes: ["./conf/nginx.conf:/etc/nginx/nginx.conf:ro"]   # bind mounts, from this folder
//! vms:
//!   - name: vm1
//!     image: ./images/debian-12.qcow2   # relative to this file's folder
//!     memory_mb: 1024
//!     vcpus: 2
//!     packages: [curl]
//!     user: hub                   # default hub
//!     ip: 172.19.5.30
//!     cloud_init: {timezone: UTC}  # extra cloud-config
//!     runcmd: ["echo hi"]
//!     files: [{source: ./conf/app.toml, path: /etc/app.toml, mode: "0600", owner: "hub:hub"}]
//!     virt_type: auto             # auto | kvm | qemu
//!     restart: always             # no | on-failure | unless-stopped | always (the reconciler)
//! # networks:                     # instead of `subnet`: several segments, the first being the
//! #   - {name: dmz, subnet: 10.77.1.0/24, gateway: fw}   # lab network; `gateway`: the
//! #   - {name: internal, subnet: 10.77.2.0/24}           # segment's default route
//! #  (and on a container or a VM: `networks: [dmz, internal]` or `{dmz: 10.77.1.5}`,
//! #  `ip_forward: true`)
//! wireguard:
//!   enabled: true
//!   subnet: 10.10.0.0/24          # default; the gateway is .1
//!   endpoint: vpn.example.org:51820
//!   listen_port: 51820            # default: the first free from 51820, kept for the lab
//!   peers: [{name: laptop}, {name: phone, address: 10.10.0.9}]
//!   peer_name: demo-client        # the seed's single-peer form
//!   address: 10.10.0.2/24
//! hosts:                          # optional: the hosts the lab spans (see [`Host`]); the
//!   - {name: h1}                  #   first is the primary (netd, VPN); default engines
//!   - {name: h2, docker: "tcp://192.168.50.12:2376", tls: ./certs/h2, address: 192.168.50.12}
//!   - {name: h3, docker: "ssh://hub@192.168.50.13", ssh_key: ./keys/h3, address: 192.168.50.13}
//! placement: epvm                 # epvm (default) | round-robin, for workloads without `host:`
//! # (and on a container or VM: `host: h2` pins it)
//! mesh: {port: 51999, underlay_mtu: 1500}  # optional, over several hosts (see [`Mesh`])
//! checks:                         # what `hub check` proves besides its built-in checks
//!   - {name: web-up, from: vm1, to: web, http: "http://web/", expect: "welcome"}
//!   - {from: vpn:laptop, to: web, tcp: 80}
//!   - {name: db-isolated, from: web, to: 172.19.5.40, tcp: 5432, expect: blocked}
//!   - {from: web, to: 172.19.5.2, udp_dns: vm1.demo.lab}
//! ```

//!
//! Notes:
//! - The lab's name is `name`, else `network_name`; every name (lab, workloads, VPN peers) is
//!   a DNS label (lowercase letters, digits, `-`, at most 63), which Docker and libvirt also
//!   accept. Names are unique across containers, VMs and peers (they share the lab's DNS).
//! - Static addresses may sit in the infrastructure block (`.4`-`.29` on a /24, as the seed
//!   does) but never on the network, broadcast, gateway (`.1`), netd (`.2`) or `.3` address,
//!   nor inside the DHCP range. Addresses left out are allocated lowest-free from the static
//!   range, containers then VMs, in spec order, after every static address is reserved.
//! - MACs are `52:54:00:xx:xx:xx` with the first three bytes of SHA-256(`LAB/NAME`): the same
//!   lab and name always give the same MAC ([`derive_mac`]).
//! - A workload's `spec_hash` is SHA-256 of the canonical JSON (sorted keys) of its spec as
//!   written plus its address and MAC ([`spec_hash`]).
//! - `wireguard` is validated even when `enabled: false`, and resolves to no VPN then.
//! - `up` checks the spec against the host before anything starts ([`LabSpec::check_host`]):
//!   a published host port or a given VPN port that something else holds is a spec error
//!   naming the holder (another lab's gateway, a process); without `listen_port` the lab
//!   takes the port it kept, else the first free one from 51820 that no other lab keeps.
//! - Parsing is bounded: files of at most 1 MiB, nesting depth 32, 100,000 nodes, 1,000
//!   aliases and 20,000 events replayed through aliases (so an alias bomb is refused at once),
//!   one document. A typed parse error stops only the workload (or section) it is in: the
//!   others are still read and checked.

mod check;
mod de;
mod duration;
mod error;
mod fields;
mod hash;
mod host;
mod hosts;
mod load;
mod locations;
mod names;
mod node;
mod resolve;
mod segments;
mod ssh_url;
mod types;
mod validate;
mod volumes;

pub use check::{
    Check, CheckRule, EXPECT_BLOCKED, Endpoint, Expect, HttpGet, Probe, VPN_PEER_PREFIX,
};
pub use duration::SpecDuration;
pub use error::{SpecError, SpecErrorKind, SpecErrors};
pub use hash::{canonical_json, spec_hash};
pub use host::{HostChoices, HostView, VPN_PORT_SEARCH};
pub use hosts::{
    DEFAULT_DOCKER, DEFAULT_LIBVIRT, DEFAULT_UNDERLAY_MTU, DockerEndpoint, EndpointError,
    EndpointFiles, Host, HostSpec, Mesh, NO_LIBVIRT, Placement, SEGMENT_OVERHEAD, TLS_FILES,
};
pub use hub_runtime::{MacAddr, derive_mac};
pub use resolve::{
    AllocatorFactory, DEFAULT_HC_INTERVAL, DEFAULT_HC_RETRIES, ResolvedInterface, ResolvedLab,
    ResolvedPeer, ResolvedSegment, ResolvedVpn, ResolvedWorkload, WorkloadDef, default_allocator,
};
pub use segments::{NetworkJoin, Segment, WorkloadNetworks};
pub use types::{
    Container, ContainerHealthcheck, DEFAULT_LISTEN_PORT, DEFAULT_VM_MEMORY_MB, DEFAULT_VM_USER,
    DEFAULT_VM_VCPUS, DEFAULT_VPN_SUBNET, LabSpec, MAX_VM_FILE_BYTES, NETWORK_TYPE_BRIDGE, Vm,
    VmFile, Vpn, VpnPeer,
};

/// Loads, validates and resolves the spec file at `path`, reporting every mistake together.
pub fn resolve_file(path: impl AsRef<std::path::Path>) -> Result<ResolvedLab, SpecErrors> {
    LabSpec::from_file(path)?.resolve()
}
