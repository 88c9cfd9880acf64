//! Virtual Hub's libvirt/QEMU backend: VMs booted with cloud-init on the lab bridge.
//!
//! [`LibvirtRuntime`] implements [`hub_runtime::Runtime`] for VMs by driving libvirt through
//! `virsh -c qemu:///system` (no C bindings). For each VM it makes, in `<lab dir>/vms/VM/`:
//!
//! - a qcow2 overlay over the base image (the base is only ever read);
//! - a NoCloud seed (vfat labelled `CIDATA`, mode 0600): host name, the login user with the
//!   lab's SSH key and no password, an SSH host key the hub made and pins in
//!   `<lab dir>/ssh/known_hosts`, packages, runcmd, network-config;
//! - a domain `LAB-VM` with the hub's metadata, one virtio NIC on the lab bridge, the seed as a
//!   virtio disk and the serial console logged to `console.log`.
//!
//! Readiness means: the address is known, SSH answers with the pinned host key, cloud-init
//! finished.
//!
//! On a libvirt of another machine (`qemu+tls://H/system`: [`is_remote_uri`]) the same files
//! are storage volumes on that host, made through the connection alone: the base image
//! uploaded once into the shared pool `hub-images` (named by its content, with
//! [`UploadProgress`]), the overlay, the seed and the console log in the lab's pool
//! `hub-lab-LAB`, removed by [`LibvirtRuntime::remove_lab_storage`]. Such a VM boots cold and its
//! console log is not read from here (see the [`remote`] module).
//!
//! # Performance
//!
//! Measured with `cargo bench -p hub-benches --bench vm_boot` on the 2-core test machines
//! (Debian 12 test image, 1024 MiB, 2 vCPUs, TCG): the hub's own work per VM (checks, overlay,
//! seed, XML, `virsh define`) takes 0.06-0.5 s and `virsh start` 0.5-0.9 s; the guest then
//! needs 40-60 s to answer SSH and 55-85 s until cloud-init finished (the spread is the load
//! of the machine). The hub's share of start-to-ready is under 1 %: the time is the guest's boot
//! under software emulation.
//!
//! ```no_run
//! use std::time::Duration;
//! use hub_libvirt::{LibvirtRuntime, ensure_lab_key, ssh_command, SshTarget};
//! use hub_runtime::{LabContext, Runtime, VmSpec, WorkloadSpec};
//! # async fn demo(lab: LabContext, vm: VmSpec) -> Result<(), Box<dyn std::error::Error>> {
//! let rt = LibvirtRuntime::connect().await?;
//! let key = ensure_lab_key(&lab.dir, &lab.name)?;
//! let vm = VmSpec { ssh_authorized_key: key.public_openssh.clone(), ..vm };
//! let spec = WorkloadSpec::Vm(vm);
//! let handle = rt.create(&lab, &spec).await?;
//! rt.start(&handle).await?;
//! rt.wait_ready(&lab, &spec, &handle, Duration::from_secs(300), Default::default()).await?;
//! let out = rt.ssh_command(&handle, Some("uptime")).await?.output()?;
//! rt.stop(&handle, Duration::from_secs(30)).await?;
//! rt.remove(&handle).await?;
//! # Ok(()) }
//! ```

mod console;
pub mod domain;
mod error;
mod follow;
mod fsutil;
mod names;
pub mod overlay;
mod paths;
mod ready;
pub mod remote;
mod runtime;
pub mod seed;
mod ssh;
mod virsh;
pub mod virt;
pub mod warm;

pub use console::{attach_console, clean_console_text, tail_console};
pub use domain::BootRecord;
pub use error::{LibvirtError, LibvirtResult};
pub use names::{check_mac, check_name, domain_name, domain_uuid};
pub use paths::VmPaths;
pub use ready::{CONSOLE_TAIL_LINES, ReadyPhases};
pub use remote::{UploadProgress, UploadProgressFn, UploadStage, is_remote_uri};
pub use runtime::{CreatePhases, LibvirtRuntime};
pub use ssh::{
    KeyPair, LabKey, SSH_CONNECT_TIMEOUT, SshTarget, console_command, ensure_host_key,
    ensure_key_pair, ensure_lab_key, generate_ed25519, known_hosts_path, lab_key_path,
    pin_host_key, shell_join, shell_quote, ssh_args, ssh_command, ssh_dir, unpin_host,
};
pub use virsh::{DEFAULT_URI, DomState, NodeCapacity};
pub use virt::{DomainType, VIRT_TYPE_ENV};
pub use warm::{SaveOutcome, WARM_CACHE_ENV, WarmCache, WarmEntry, default_warm_cache_dir};
