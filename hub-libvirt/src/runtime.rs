//! [`LibvirtRuntime`]: the [`Runtime`] for VMs, driving libvirt through `virsh`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hub_runtime::process::Tool;
use hub_runtime::wait::Deadline;
use hub_runtime::{
    ExecOutput, LabContext, PhaseReporter, Role, Runtime, RuntimeError, RuntimeResult, VmSpec,
    WorkloadHandle, WorkloadKind, WorkloadSpec, WorkloadState, WorkloadStatus,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::console::tail_console;
use crate::domain::{BootRecord, DomainConfig, DomainInfo, Nic, domain_xml, parse_domain_xml};
use crate::error::LibvirtError;
use crate::fsutil::{
    ensure_dir, ensure_dir_keep_mode, remove_file_if_exists, write_private_atomic,
};
use crate::names::{check_mac, check_name, domain_name, domain_uuid};
use crate::overlay::{check_base_image, create_overlay, image_format};
use crate::paths::{VmPaths, check_qemu_can_reach, open_lab_dir_for_qemu};
use crate::ready::{Guest, ReadyPhases, wait_vm_ready};
use crate::seed::write_seed;
use crate::ssh::{
    KeyPair, SshTarget, ensure_host_key, ensure_key_pair, ensure_lab_key, host_key_path,
    install_key_pair, lab_key_path, pin_host_key, shell_join, ssh_args, unpin_host,
};
use crate::virsh::{DEFAULT_URI, DomState, Virsh};
use crate::virt::virt_type_for;
use crate::warm::{Rewrite, SaveOutcome, SavedPaths, WarmCache};

const BACKEND: &str = "libvirt";

/// How long each part of [`LibvirtRuntime::create_vm`] took: the hub's own work before the
/// guest boots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreatePhases {
    /// Checks, keys, the base image's format.
    pub prepare: Duration,
    /// On a remote libvirt: hashing the base image and uploading it (or finding it there).
    pub upload: Duration,
    /// `qemu-img create` of the overlay.
    pub overlay: Duration,
    /// Rendering and writing the NoCloud seed.
    pub seed: Duration,
    /// Writing the domain XML.
    pub xml: Duration,
    /// `virsh define`.
    pub define: Duration,
}

impl CreatePhases {
    /// The sum of the phases.
    pub fn total(&self) -> Duration {
        self.prepare + self.upload + self.overlay + self.seed + self.xml + self.define
    }
}

/// What a VM's domain is built from, worked out once by `create` for both of its paths (a warm
/// restore, and the cold boot it falls back to), or for a VM on a remote libvirt.
#[derive(Clone, Copy)]
pub(crate) struct DomainPlan<'a> {
    pub lab: &'a LabContext,
    pub vm: &'a VmSpec,
    pub domain: &'a str,
    /// This machine's folder for the VM's files (on a remote libvirt, its scratch folder).
    pub paths: &'a VmPaths,
    pub base: &'a Path,
    pub base_format: &'a str,
    pub domain_type: crate::virt::DomainType,
}

/// The files a VM's domain uses, where its libvirt sees them.
pub(crate) struct DomainFiles {
    pub overlay: PathBuf,
    pub seed: PathBuf,
    pub console_log: PathBuf,
    /// The pool holding them as volumes (a VM on a remote libvirt).
    pub pool: Option<String>,
    /// Whether the firmware writes to the serial console too.
    pub firmware_console: bool,
}

/// Converts a crate error into the runtime contract's error, recognising a libvirt that does not
/// answer or refuses the caller.
pub(crate) fn to_runtime_error(lab: &str, context: String, e: LibvirtError) -> RuntimeError {
    match &e {
        LibvirtError::Spawn { program, .. } if program == "virsh" => {
            RuntimeError::DaemonUnavailable {
                backend: BACKEND,
                hint: "virsh is not installed; run scripts/setup-host.sh".into(),
                source: Some(Box::new(e)),
            }
        }
        LibvirtError::Virsh { stderr, .. }
            if stderr.contains("failed to connect to the hypervisor")
                || stderr.contains("Failed to connect socket") =>
        {
            if stderr.contains("Permission denied") {
                RuntimeError::PermissionDenied {
                    backend: BACKEND,
                    hint: "run as root or as a member of the libvirt group".into(),
                }
            } else {
                RuntimeError::DaemonUnavailable {
                    backend: BACKEND,
                    hint: "start libvirtd and virtlogd (scripts/setup/30-libvirt.sh)".into(),
                    source: Some(Box::new(e)),
                }
            }
        }
        _ => RuntimeError::Backend {
            lab: lab.to_string(),
            context,
            source: Box::new(e),
        },
    }
}

/// The [`Runtime`] for VMs: libvirt/QEMU through `virsh -c URI`.
///
/// Each VM is a persistent domain `LAB-VM` whose `<metadata>` names its lab, so [`Runtime::list`]
/// and [`Runtime::remove`] work from libvirt alone, without the hub's state. Its files live in
/// `<lab dir>/vms/VM/`: the qcow2 overlay over the base image, the NoCloud seed (0600) and the
/// console log. SSH uses `<lab dir>/ssh/id_ed25519` and `<lab dir>/ssh/known_hosts`.
#[derive(Clone)]
pub struct LibvirtRuntime {
    pub(crate) virsh: Virsh,
    poll: Duration,
    warm: Arc<WarmCache>,
    /// Where base images' uploads to a remote libvirt are reported.
    pub(crate) upload_progress: Option<crate::remote::UploadProgressFn>,
    /// Held while a base image is uploaded (one at a time per host from this process).
    pub(crate) uploads: Arc<tokio::sync::Mutex<()>>,
    /// The `ProxyCommand` SSH to its VMs goes through (see [`SshTarget::proxy`]).
    ssh_proxy: Option<String>,
}

impl std::fmt::Debug for LibvirtRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibvirtRuntime")
            .field("virsh", &self.virsh)
            .field("poll", &self.poll)
            .field("warm", &self.warm)
            .field("upload_progress", &self.upload_progress.is_some())
            .finish_non_exhaustive()
    }
}

/// A warm snapshot chosen for a VM's restore, with its entry held locked.
struct WarmRestore {
    key: String,
    manifest: crate::warm::Manifest,
    _lock: crate::warm::EntryLock,
}

impl Default for LibvirtRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl LibvirtRuntime {
    /// A runtime on `qemu:///system`. Does no I/O; see [`LibvirtRuntime::connect`].
    pub fn new() -> Self {
        Self::with_uri(DEFAULT_URI)
    }

    /// A runtime on another libvirt URI.
    pub fn with_uri(uri: impl Into<String>) -> Self {
        LibvirtRuntime {
            virsh: Virsh::new(uri),
            poll: Duration::from_secs(1),
            warm: Arc::new(WarmCache::from_env()),
            upload_progress: None,
            uploads: Arc::new(tokio::sync::Mutex::new(())),
            ssh_proxy: None,
        }
    }

    /// SSH to this libvirt's VMs goes through `proxy_command` (an ssh `ProxyCommand`, `%h` and
    /// `%p` the VM's address and port): for a lab none of whose hosts is this machine, which is
    /// then not on the lab network.
    pub fn with_ssh_proxy(mut self, proxy_command: impl Into<String>) -> Self {
        self.ssh_proxy = Some(proxy_command.into());
        self
    }

    /// Reports the progress of base images' uploads to a remote libvirt to `f`.
    pub fn with_upload_progress(mut self, f: crate::remote::UploadProgressFn) -> Self {
        self.upload_progress = Some(f);
        self
    }

    /// The host's CPUs and memory as this libvirt sees them (`virsh nodeinfo`,
    /// `virsh nodememstats`).
    pub async fn node_capacity(&self) -> crate::LibvirtResult<crate::NodeCapacity> {
        self.virsh.node_capacity().await
    }

    /// Uses `cache` for warm VMs (default: [`WarmCache::from_env`]).
    pub fn with_warm_cache(mut self, cache: WarmCache) -> Self {
        self.warm = Arc::new(cache);
        self
    }

    /// The warm cache.
    pub fn warm_cache(&self) -> &WarmCache {
        &self.warm
    }

    /// A runtime on `qemu:///system`, after checking that libvirt answers.
    pub async fn connect() -> RuntimeResult<Self> {
        let rt = Self::new();
        rt.check().await?;
        Ok(rt)
    }

    /// Sets how often readiness is polled (default 1 s).
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(50));
        self
    }

    /// The libvirt URI.
    pub fn uri(&self) -> &str {
        self.virsh.uri()
    }

    /// Checks that libvirt answers (`DaemonUnavailable` naming what to do when it does not).
    pub async fn check(&self) -> RuntimeResult<()> {
        self.virsh
            .ping()
            .await
            .map_err(|e| to_runtime_error("", "asking libvirt for its domains".into(), e))
    }

    /// The interactive serial console of a VM: `virsh -c URI console LAB-VM`.
    pub fn console_command(&self, handle: &WorkloadHandle) -> std::process::Command {
        crate::ssh::console_command(self.uri(), &handle.id)
    }

    async fn info(&self, lab: &str, domain: &str) -> RuntimeResult<Option<DomainInfo>> {
        let ctx = || format!("reading domain {domain:?}");
        match self
            .virsh
            .dumpxml(domain)
            .await
            .map_err(|e| to_runtime_error(lab, ctx(), e))?
        {
            None => Ok(None),
            Some(xml) => parse_domain_xml(&xml)
                .map(Some)
                .map_err(|e| to_runtime_error(lab, ctx(), e)),
        }
    }

    /// The domain of `handle`, which must carry this lab's metadata.
    async fn own_info(&self, handle: &WorkloadHandle) -> RuntimeResult<Option<DomainInfo>> {
        let Some(info) = self.info(&handle.lab, &handle.id).await? else {
            return Ok(None);
        };
        match &info.hub {
            Some(h) if h.lab == handle.lab => Ok(Some(info)),
            _ => Err(RuntimeError::NameTaken {
                lab: handle.lab.clone(),
                what: "domain",
                name: handle.id.clone(),
            }),
        }
    }

    /// Where `ssh` reaches the VM of `handle` and the lab directory holding its key and
    /// known_hosts, read from the domain's metadata (its planned address, else the host's ARP
    /// table).
    pub async fn ssh_target(&self, handle: &WorkloadHandle) -> RuntimeResult<(PathBuf, SshTarget)> {
        let missing = || RuntimeError::NotFound {
            lab: handle.lab.clone(),
            what: "vm",
            name: handle.name.clone(),
        };
        let info = self.own_info(handle).await?.ok_or_else(missing)?;
        let hub = info.hub.unwrap_or_default();
        let addr = match hub.ip {
            Some(ip) => ip,
            None => {
                let found = self.virsh.arp_addresses(&handle.id).await.map_err(|e| {
                    to_runtime_error(
                        &handle.lab,
                        format!("looking up the address of VM {:?}", handle.name),
                        e,
                    )
                })?;
                found
                    .into_iter()
                    .next()
                    .ok_or_else(|| RuntimeError::WorkloadFailed {
                        lab: handle.lab.clone(),
                        workload: handle.name.clone(),
                        detail: "its address is not known yet (no DHCP lease seen)".into(),
                    })?
            }
        };
        let dir = hub.lab_dir.ok_or_else(|| RuntimeError::WorkloadFailed {
            lab: handle.lab.clone(),
            workload: handle.name.clone(),
            detail: "its domain does not record the lab directory".into(),
        })?;
        Ok((
            dir,
            SshTarget {
                user: hub.user,
                addr,
                proxy: self.ssh_proxy.clone(),
            },
        ))
    }

    /// An `ssh` command to the VM of `handle` (see [`crate::ssh_command`]): `remote_command`
    /// is a shell command line, `None` an interactive session.
    pub async fn ssh_command(
        &self,
        handle: &WorkloadHandle,
        remote_command: Option<&str>,
    ) -> RuntimeResult<std::process::Command> {
        let (dir, target) = self.ssh_target(handle).await?;
        Ok(crate::ssh::ssh_command(&dir, &target, remote_command))
    }

    /// Fills in the keys a spec may leave empty, from the lab directory: the lab's public key and
    /// the VM's host key pair.
    fn resolve_keys(lab: &LabContext, vm: &VmSpec) -> Result<VmSpec, LibvirtError> {
        let mut vm = vm.clone();
        if vm.ssh_authorized_key.trim().is_empty() {
            vm.ssh_authorized_key = ensure_lab_key(&lab.dir, &lab.name)?.public_openssh;
        }
        if vm.ssh_host_key_private.trim().is_empty() {
            let pair = ensure_host_key(&lab.dir, &vm.name)?;
            vm.ssh_host_key_private = pair.private_openssh;
            vm.ssh_host_key_public = pair.public_openssh;
        } else if vm.ssh_host_key_public.trim().is_empty() {
            return Err(LibvirtError::InvalidSpec {
                vm: vm.name.clone(),
                reason: "the spec has a host private key but no host public key".into(),
            });
        }
        Ok(vm)
    }

    fn check_spec(lab: &LabContext, vm: &VmSpec) -> Result<VmSpec, LibvirtError> {
        check_name(&vm.name, "lab", &lab.name)?;
        check_name(&vm.name, "VM", &vm.name)?;
        let invalid = |reason: String| LibvirtError::InvalidSpec {
            vm: vm.name.clone(),
            reason,
        };
        if vm.memory_mb < 128 {
            return Err(invalid(format!(
                "memory {} MiB is below the 128 MiB a Linux guest needs",
                vm.memory_mb
            )));
        }
        if vm.vcpus == 0 || vm.vcpus > 256 {
            return Err(invalid(format!(
                "{} vCPUs is not between 1 and 256",
                vm.vcpus
            )));
        }
        let user_ok = !vm.user.is_empty()
            && vm.user.len() <= 32
            && vm
                .user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && !vm.user.starts_with('-')
            && vm.user != "root";
        if !user_ok {
            return Err(invalid(format!(
                "user {:?} is not a valid login name other than root",
                vm.user
            )));
        }
        let nics = vm_nics(lab, vm)?;
        for nic in &nics {
            if nic.bridge.is_empty() || nic.bridge.len() > 15 || nic.bridge.contains('/') {
                return Err(invalid(format!(
                    "bridge {:?} is not a Linux interface name",
                    nic.bridge
                )));
            }
        }
        // The first NIC's network: the lab network, or the VM's first segment.
        let first = match vm.networks.first() {
            Some(a) => lab.network_named(&a.network).unwrap_or(&lab.network),
            None => &lab.network,
        };
        if let Some(ip) = vm.ip {
            if !first.subnet.contains(&ip) {
                return Err(invalid(format!(
                    "address {ip} is outside the subnet {} of its network {:?}",
                    first.subnet, first.name
                )));
            }
        }
        check_mac(&vm.name, vm.mac)?;
        for a in &vm.networks {
            check_mac(&vm.name, a.mac)?;
        }
        Ok(vm.clone())
    }

    /// Finds a usable warm snapshot of `vm` and adopts the identity its guest holds (the lab
    /// key when the lab has none yet, the VM's host key). `Err` carries the cache key, when
    /// there is one, and why the VM boots cold.
    async fn warm_restore_plan(
        &self,
        lab: &LabContext,
        vm: &mut VmSpec,
        base: &Path,
        domain_type: crate::virt::DomainType,
    ) -> Result<WarmRestore, (Option<String>, String)> {
        let key = self
            .warm
            .key_for(lab, vm, base, domain_type)
            .await
            .map_err(|why| (None, why))?;
        let miss = |why: String| (Some(key.clone()), why);
        let lock = self
            .warm
            .lock(&key, Duration::from_secs(30))
            .await
            .map_err(|e| miss(e.to_string()))?
            .ok_or_else(|| miss("another `up` holds the snapshot".into()))?;
        let manifest = self.warm.lookup(&key).await.map_err(miss)?;
        let (lab_key, host_key) = self.warm.identity(&key).map_err(|e| miss(e.to_string()))?;
        // The guest authorises the lab key it was booted with: adopt it when this lab has no
        // key yet (its directory was deleted), else it must be the same.
        let current = install_key_pair(&lab_key_path(&lab.dir), &lab_key, false)
            .map_err(|e| miss(e.to_string()))?;
        if current.public_openssh.trim() != lab_key.public_openssh.trim() {
            return Err(miss(
                "the lab's SSH key is not the one the saved guest authorises (was the lab's \
                 identity purged?)"
                    .into(),
            ));
        }
        install_key_pair(&host_key_path(&lab.dir, &vm.name), &host_key, true)
            .map_err(|e| miss(e.to_string()))?;
        vm.ssh_authorized_key = lab_key.public_openssh;
        vm.ssh_host_key_private = host_key.private_openssh;
        vm.ssh_host_key_public = host_key.public_openssh;
        Ok(WarmRestore {
            key,
            manifest,
            _lock: lock,
        })
    }

    /// [`Runtime::create`] for a VM, returning how long each part of the hub's work took.
    pub async fn create_vm(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
    ) -> RuntimeResult<(WorkloadHandle, CreatePhases)> {
        let span = tracing::info_span!("vm_create", lab = %lab.name, workload = %vm.name);
        self.create_inner(lab, vm).instrument(span).await
    }

    async fn create_inner(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
    ) -> RuntimeResult<(WorkloadHandle, CreatePhases)> {
        let ctx = format!("creating VM {:?}", vm.name);
        let err = |e: LibvirtError| to_runtime_error(&lab.name, ctx.clone(), e);
        let mut phases = CreatePhases::default();
        let t = Instant::now();
        let mut vm = Self::check_spec(lab, vm).map_err(err)?;
        let domain_type = virt_type_for(vm.virt_type).map_err(err)?;
        let domain = domain_name(&lab.name, &vm.name);
        if self.info(&lab.name, &domain).await?.is_some() {
            return Err(RuntimeError::NameTaken {
                lab: lab.name.clone(),
                what: "domain",
                name: domain,
            });
        }
        let unavailable = |reason: String| RuntimeError::ImageUnavailable {
            lab: lab.name.clone(),
            workload: vm.name.clone(),
            image: vm.image.display().to_string(),
            reason,
        };
        let base = std::fs::canonicalize(&vm.image).map_err(|e| unavailable(e.to_string()))?;
        check_base_image(&base).await.map_err(unavailable)?;
        let base_format = image_format(&base)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let paths = VmPaths::new(&lab.dir, &vm.name);
        ensure_dir_keep_mode(&lab.dir).map_err(err)?;
        if self.is_remote() {
            return self
                .create_remote_vm(lab, vm, domain, domain_type, &base, paths, t)
                .await;
        }
        open_lab_dir_for_qemu(&lab.dir).map_err(err)?;
        if let Some(vms) = paths.dir.parent() {
            ensure_dir(vms, 0o711).map_err(err)?;
        }
        ensure_dir(&paths.dir, 0o711).map_err(err)?;
        let mut boot = BootRecord::default();
        let mut restore = None;
        if vm.warm {
            match self
                .warm_restore_plan(lab, &mut vm, &base, domain_type)
                .await
            {
                Ok(r) => {
                    boot.restored = true;
                    boot.warm_key = Some(r.key.clone());
                    restore = Some(r);
                }
                Err((key, why)) => {
                    tracing::info!(lab = %lab.name, workload = %vm.name, reason = %why, "no warm snapshot: booting cold");
                    boot.warm_key = key;
                    boot.note = Some(why);
                }
            }
        }
        let vm = Self::resolve_keys(lab, &vm).map_err(err)?;
        phases.prepare = t.elapsed();
        let plan = DomainPlan {
            lab,
            vm: &vm,
            domain: &domain,
            paths: &paths,
            base: &base,
            base_format: &base_format,
            domain_type,
        };
        if let Some(r) = restore {
            let restored = self.build_domain(&plan, &boot, Some(&r), &mut phases).await;
            match restored {
                Ok(()) => {
                    self.warm.mark_used(&r.key);
                    return Ok((
                        self.handle(lab, &vm, domain, domain_type, &phases, &boot),
                        phases,
                    ));
                }
                Err(e) => {
                    tracing::warn!(lab = %lab.name, workload = %vm.name, error = %e, "restoring the warm snapshot failed; removing it and booting cold");
                    let _ = self.warm.discard(&r.key);
                    boot.restored = false;
                    boot.note = Some(format!("restoring the saved one failed: {e}"));
                }
            }
        }
        self.build_domain(&plan, &boot, None, &mut phases)
            .await
            .map_err(err)?;
        Ok((
            self.handle(lab, &vm, domain, domain_type, &phases, &boot),
            phases,
        ))
    }

    /// [`Self::create_inner`] on a remote libvirt: a cold boot from volumes on that host (see
    /// the `remote` module).
    #[allow(clippy::too_many_arguments)]
    async fn create_remote_vm(
        &self,
        lab: &LabContext,
        vm: VmSpec,
        domain: String,
        domain_type: crate::virt::DomainType,
        base: &Path,
        paths: VmPaths,
        started: Instant,
    ) -> RuntimeResult<(WorkloadHandle, CreatePhases)> {
        let on = || format!("creating VM {:?} on libvirt at {}", vm.name, self.uri());
        let err = |e: LibvirtError| to_runtime_error(&lab.name, on(), e);
        let info = crate::overlay::image_info(base).await.map_err(err)?;
        if let Some(backing) = &info.backing_file {
            return Err(RuntimeError::ImageUnavailable {
                lab: lab.name.clone(),
                workload: vm.name.clone(),
                image: vm.image.display().to_string(),
                reason: format!(
                    "it is an overlay of {backing}: a base image uploaded to a remote host must \
                     stand alone (flatten it with `qemu-img convert -O qcow2 IMAGE FLAT.qcow2`)"
                ),
            });
        }
        ensure_dir(&paths.dir, 0o700).map_err(err)?;
        let boot = BootRecord::remote_cold(vm.warm);
        if vm.warm {
            tracing::info!(lab = %lab.name, workload = %vm.name, uri = %self.uri(), "no warm snapshot on a remote libvirt: booting cold");
        }
        let vm = Self::resolve_keys(lab, &vm).map_err(err)?;
        let mut phases = CreatePhases {
            prepare: started.elapsed(),
            ..CreatePhases::default()
        };
        let plan = DomainPlan {
            lab,
            vm: &vm,
            domain: &domain,
            paths: &paths,
            base,
            base_format: &info.format,
            domain_type,
        };
        self.create_remote(&plan, &info, &boot, &mut phases)
            .await
            .map_err(err)?;
        Ok((
            self.handle(lab, &vm, domain, domain_type, &phases, &boot),
            phases,
        ))
    }

    fn handle(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
        domain: String,
        domain_type: crate::virt::DomainType,
        phases: &CreatePhases,
        boot: &BootRecord,
    ) -> WorkloadHandle {
        tracing::info!(domain = %domain, virt = %domain_type, hub_work = ?phases.total(), boot = %boot.describe(), "VM defined");
        WorkloadHandle {
            lab: lab.name.clone(),
            name: vm.name.clone(),
            kind: WorkloadKind::Vm,
            id: domain,
        }
    }

    /// Makes the VM's files and domain: cold (define only; `start` boots it) or from a warm
    /// snapshot (define, then restore: the domain runs when this returns). Leaves nothing
    /// half-made on error.
    async fn build_domain(
        &self,
        plan: &DomainPlan<'_>,
        boot: &BootRecord,
        restore: Option<&WarmRestore>,
        phases: &mut CreatePhases,
    ) -> Result<(), LibvirtError> {
        let DomainPlan {
            lab,
            vm,
            domain,
            paths,
            base,
            base_format,
            ..
        } = *plan;
        // The probe runs QEMU once per process; not on the async workers.
        let firmware_console = tokio::task::spawn_blocking(crate::virt::firmware_console_available)
            .await
            .unwrap_or(false);
        let made = async {
            check_qemu_can_reach(&vm.name, &paths.dir)?;
            let t = Instant::now();
            match restore {
                Some(r) => {
                    let (_, disk, _) = self.warm.files(&r.key);
                    check_qemu_can_reach(&vm.name, self.warm.dir())?;
                    create_overlay(&disk, "qcow2", &paths.overlay).await?
                }
                None => create_overlay(base, base_format, &paths.overlay).await?,
            }
            phases.overlay = t.elapsed();

            let t = Instant::now();
            write_seed(lab, vm, &paths.seed)?;
            phases.seed = t.elapsed();

            let files = DomainFiles {
                overlay: paths.overlay.clone(),
                seed: paths.seed.clone(),
                console_log: paths.console_log.clone(),
                pool: None,
                firmware_console,
            };
            self.define_domain(plan, files, boot, phases).await?;
            if let Some(r) = restore {
                self.restore_snapshot(lab, vm, paths, r, boot).await?;
            }
            Ok::<(), LibvirtError>(())
        }
        .await;
        if let Err(e) = made {
            // Leave nothing half-made: the domain (if define got that far) and every file.
            self.forget_domain(domain).await;
            for f in [
                &paths.overlay,
                &paths.seed,
                &paths.domain_xml,
                &paths.restore_xml,
            ] {
                let _ = remove_file_if_exists(f);
            }
            let _ = std::fs::remove_dir(&paths.dir);
            return Err(e);
        }
        Ok(())
    }

    /// Writes the domain XML of `plan`'s VM over `files` (to the scratch file
    /// `plan.paths.domain_xml`, removed after), defines it (`virsh define`) and pins the VM's
    /// host key at its planned address.
    pub(crate) async fn define_domain(
        &self,
        plan: &DomainPlan<'_>,
        files: DomainFiles,
        boot: &BootRecord,
        phases: &mut CreatePhases,
    ) -> Result<(), LibvirtError> {
        let DomainPlan {
            lab,
            vm,
            domain,
            paths,
            domain_type,
            ..
        } = *plan;
        let t = Instant::now();
        let cfg = DomainConfig {
            name: domain.to_string(),
            uuid: domain_uuid(&lab.name, &vm.name),
            lab: lab.name.clone(),
            workload: vm.name.clone(),
            lab_dir: lab.dir.clone(),
            spec_hash: vm.spec_hash.clone(),
            domain_type,
            memory_mib: vm.memory_mb,
            vcpus: vm.vcpus,
            overlay: files.overlay,
            seed: files.seed,
            console_log: files.console_log,
            nics: vm_nics(lab, vm)?,
            user: vm.user.clone(),
            ip: vm.ip,
            static_ip: vm.static_ip,
            boot: boot.clone(),
            firmware_console: files.firmware_console,
            pool: files.pool,
        };
        let xml = domain_xml(&cfg)?;
        write_private_atomic(&paths.domain_xml, xml.as_bytes(), "write the domain XML")?;
        phases.xml = t.elapsed();

        let t = Instant::now();
        let defined = self.virsh.define(&paths.domain_xml).await;
        remove_file_if_exists(&paths.domain_xml)?;
        defined?;
        phases.define = t.elapsed();
        if let Some(ip) = vm.ip {
            pin_host_key(&lab.dir, ip, &vm.ssh_host_key_public)?;
        }
        Ok(())
    }

    /// Stops and undefines `domain`, whatever state it is in (undoing a creation that failed);
    /// errors are left unsaid, the caller reports its own.
    pub(crate) async fn forget_domain(&self, domain: &str) {
        let _ = self.virsh.destroy(domain).await;
        let _ = self.virsh.undefine(domain).await;
    }

    /// Restores the saved state of `r` onto the defined domain: the saved XML with this run's
    /// paths, bridge and boot record.
    async fn restore_snapshot(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
        paths: &VmPaths,
        r: &WarmRestore,
        boot: &BootRecord,
    ) -> Result<(), LibvirtError> {
        let (memory, _, saved_xml) = self.warm.files(&r.key);
        let saved_xml = std::fs::read_to_string(&saved_xml).map_err(|source| LibvirtError::Io {
            action: "read",
            path: saved_xml.clone(),
            source,
        })?;
        let s = &r.manifest.saved;
        let mut rw = Rewrite {
            spec_hash: vm.spec_hash.clone(),
            boot: boot.clone(),
            ..Rewrite::default()
        };
        for (old, new) in [
            (
                s.overlay.to_string_lossy().into_owned(),
                paths.overlay.to_string_lossy().into_owned(),
            ),
            (
                s.seed.to_string_lossy().into_owned(),
                paths.seed.to_string_lossy().into_owned(),
            ),
            (
                s.console.to_string_lossy().into_owned(),
                paths.console_log.to_string_lossy().into_owned(),
            ),
            (
                s.lab_dir.to_string_lossy().into_owned(),
                lab.dir.to_string_lossy().into_owned(),
            ),
        ] {
            rw.values.insert(old, new);
        }
        // Each NIC's bridge of the saved run becomes this run's, in order.
        let bridges = vm_nics(lab, vm)?;
        for (old, new) in s.bridges().zip(&bridges) {
            rw.values.insert(old.to_string(), new.bridge.clone());
        }
        let xml = crate::warm::rewrite(&saved_xml, &rw)?;
        write_private_atomic(&paths.restore_xml, xml.as_bytes(), "write the restore XML")?;
        let restored = self.virsh.restore(&memory, Some(&paths.restore_xml)).await;
        remove_file_if_exists(&paths.restore_xml)?;
        restored
    }

    /// [`Runtime::wait_ready_reporting`] for a VM, returning when each readiness step was
    /// reached.
    pub async fn wait_ready_vm(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
        handle: &WorkloadHandle,
        wait: &Deadline,
        phases: &PhaseReporter,
    ) -> RuntimeResult<ReadyPhases> {
        let host_key = if vm.ssh_host_key_public.trim().is_empty() {
            ensure_host_key(&lab.dir, &vm.name)
                .map_err(|e| {
                    to_runtime_error(
                        &lab.name,
                        format!("loading the host key of VM {:?}", vm.name),
                        e,
                    )
                })?
                .public_openssh
        } else {
            vm.ssh_host_key_public.clone()
        };
        let Some(info) = self.own_info(handle).await? else {
            return Err(RuntimeError::NotFound {
                lab: lab.name.clone(),
                what: "vm",
                name: vm.name.clone(),
            });
        };
        let hub = info.hub.clone().unwrap_or_default();
        let console = hub
            .file("console")
            .map(PathBuf::from)
            .or(info.console_log.clone())
            .unwrap_or_else(|| VmPaths::new(&lab.dir, &vm.name).console_log);
        let span = tracing::info_span!("vm_ready", lab = %lab.name, workload = %vm.name);
        if hub.pool.is_some() {
            tracing::info!(parent: &span, uri = %self.uri(), "the VM runs on a remote libvirt: its console log stays there and is not read (no kernel phase); readiness is SSH across the lab segment");
        }
        let guest = Guest {
            lab,
            vm,
            domain: &handle.id,
            host_key: &host_key,
            console_log: hub.pool.is_none().then_some(console.as_path()),
            restored: hub.boot.restored,
            ssh_proxy: self.ssh_proxy.as_deref(),
        };
        let (steps, output) = wait_vm_ready(&self.virsh, &guest, wait, self.poll, phases)
            .instrument(span.clone())
            .await?;
        if hub.boot.restored {
            check_restored(lab, vm, &output)?;
            tracing::info!(parent: &span, "restored from warm snapshot; clock set, neighbours flushed");
        } else if let (true, Some(key)) = (vm.warm, hub.boot.warm_key.as_deref()) {
            self.save_warm(lab, vm, handle, &hub, key)
                .instrument(span)
                .await;
        }
        Ok(steps)
    }

    /// Saves a warm VM that booted cold into the cache. A failure is a warning: the VM keeps
    /// running cold.
    async fn save_warm(
        &self,
        lab: &LabContext,
        vm: &VmSpec,
        handle: &WorkloadHandle,
        hub: &crate::domain::HubMetadata,
        key: &str,
    ) {
        let keys = (|| {
            let lab_key =
                ensure_key_pair(&lab_key_path(&lab.dir), &format!("hub-lab-{}", lab.name))?;
            let host_key = ensure_host_key(&lab.dir, &vm.name)?;
            Ok::<(KeyPair, KeyPair), LibvirtError>((lab_key, host_key))
        })();
        let paths = VmPaths::new(&lab.dir, &vm.name);
        // The VM was made with these NICs, so they resolve.
        let bridges: Vec<String> = vm_nics(lab, vm)
            .map(|n| n.into_iter().map(|n| n.bridge).collect())
            .unwrap_or_else(|_| vec![lab.network.bridge.clone()]);
        let saved = SavedPaths {
            overlay: hub
                .file("overlay")
                .map(PathBuf::from)
                .unwrap_or(paths.overlay),
            seed: hub.file("seed").map(PathBuf::from).unwrap_or(paths.seed),
            console: hub
                .file("console")
                .map(PathBuf::from)
                .unwrap_or(paths.console_log),
            bridge: bridges.first().cloned().unwrap_or_default(),
            more_bridges: bridges.iter().skip(1).cloned().collect(),
            lab_dir: lab.dir.clone(),
        };
        let t = Instant::now();
        let result = match keys {
            Ok((lab_key, host_key)) => {
                self.warm
                    .save(
                        &self.virsh,
                        &handle.id,
                        lab,
                        &vm.name,
                        key,
                        saved,
                        &lab_key,
                        &host_key,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(SaveOutcome::Saved { size, paused }) => tracing::info!(
                size, ?paused, took = ?t.elapsed(), "warm snapshot saved"
            ),
            Ok(SaveOutcome::Skipped(why)) => {
                tracing::info!(reason = %why, "warm snapshot not saved")
            }
            Err(e) => {
                tracing::warn!(error = %e, "saving the warm snapshot failed; the VM keeps running cold")
            }
        }
    }

    fn status(handle_lab: &str, info: &DomainInfo, state: WorkloadState) -> WorkloadStatus {
        let hub = info.hub.clone().unwrap_or_default();
        WorkloadStatus {
            handle: WorkloadHandle {
                lab: handle_lab.to_string(),
                name: hub.workload.clone(),
                kind: WorkloadKind::Vm,
                id: info.name.clone(),
            },
            state,
            ip: hub.ip,
            mac: info.mac.as_deref().and_then(|m| m.parse().ok()),
            exit_code: None,
            spec_hash: Some(hub.spec_hash),
            role: Some(Role::Vm),
            boot: Some(hub.boot.describe()),
        }
    }

    async fn state(&self, lab: &str, domain: &str) -> RuntimeResult<Option<WorkloadState>> {
        let st = self.virsh.domstate(domain).await.map_err(|e| {
            to_runtime_error(lab, format!("reading the state of domain {domain:?}"), e)
        })?;
        Ok(st.map(|(state, reason)| match state {
            DomState::Running => WorkloadState::Running,
            // A domain that never ran is shut off for an "unknown" reason.
            DomState::ShutOff if reason == "unknown" => WorkloadState::Created,
            DomState::ShutOff | DomState::Crashed => WorkloadState::Stopped,
            DomState::Paused | DomState::InShutdown | DomState::Other(_) => WorkloadState::Unknown,
        }))
    }
}

/// Checks what the readiness check printed after a restore (see `ready::restored_check`): the
/// guest's clock is the host's (it was set in that login) and the guest holds its planned
/// address. The guest keeps its DHCP lease: netd holds the same reservation for its MAC and
/// answers its renewals.
fn check_restored(lab: &LabContext, vm: &VmSpec, output: &str) -> RuntimeResult<()> {
    let failed = |detail: String| RuntimeError::WorkloadFailed {
        lab: lab.name.clone(),
        workload: vm.name.clone(),
        detail: format!("after its restore from a warm snapshot, {detail}"),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let clock = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("hub-clock:"))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| failed(format!("its clock could not be read:\n{output}")))?;
    if (clock - now).abs() > 5 {
        return Err(failed(format!(
            "its clock is {}s off the host's (setting it with sudo failed?)",
            clock - now
        )));
    }
    // Every NIC's address: netd keeps each reservation, and the guest its leases.
    let addresses = vm.ip.into_iter().chain(vm.networks.iter().map(|a| a.ip));
    for ip in addresses {
        if !output.contains(&format!("inet {ip}/")) {
            return Err(failed(format!(
                "it does not hold its address {ip}:\n{output}"
            )));
        }
    }
    Ok(())
}

/// The NICs of `vm`, in order: one per network it joins (each on its network's bridge, with
/// its own MAC), or the lab network's alone.
pub(crate) fn vm_nics(lab: &LabContext, vm: &VmSpec) -> Result<Vec<Nic>, LibvirtError> {
    if vm.networks.is_empty() {
        return Ok(vec![Nic {
            bridge: lab.network.bridge.clone(),
            mac: vm.mac.to_string(),
        }]);
    }
    vm.networks
        .iter()
        .map(|a| match lab.network_named(&a.network) {
            Some(n) => Ok(Nic {
                bridge: n.bridge.clone(),
                mac: a.mac.to_string(),
            }),
            None => Err(LibvirtError::InvalidSpec {
                vm: vm.name.clone(),
                reason: format!(
                    "its NIC on segment {:?} names network {:?}, which the lab does not have",
                    a.segment, a.network
                ),
            }),
        })
        .collect()
}

impl LibvirtRuntime {
    /// The VM's serial console log: where its domain's hub metadata says, else the lab's.
    async fn console_path(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
    ) -> RuntimeResult<PathBuf> {
        let missing = || RuntimeError::NotFound {
            lab: handle.lab.clone(),
            what: "vm",
            name: handle.name.clone(),
        };
        let info = self.own_info(handle).await?.ok_or_else(missing)?;
        if info.hub.as_ref().is_some_and(|h| h.pool.is_some()) {
            return Err(RuntimeError::Unsupported {
                backend: BACKEND,
                what: format!(
                    "reading the console log of VM {:?}: it runs on a remote libvirt ({}) and \
                     {}; `hub console {}` attaches to its console",
                    handle.name,
                    self.uri(),
                    crate::domain::REMOTE_CONSOLE_NOTE,
                    handle.name
                ),
            });
        }
        Ok(info
            .hub
            .as_ref()
            .and_then(|h| h.file("console").map(PathBuf::from))
            .or(info.console_log)
            .unwrap_or_else(|| VmPaths::new(&lab.dir, &handle.name).console_log))
    }
}

/// Reading the console log of `handle` at `path` failed.
fn console_error(handle: &WorkloadHandle, path: PathBuf, source: std::io::Error) -> RuntimeError {
    to_runtime_error(
        &handle.lab,
        format!("reading the console of VM {:?}", handle.name),
        LibvirtError::Io {
            action: "read",
            path,
            source,
        },
    )
}

fn vm_spec(spec: &WorkloadSpec) -> RuntimeResult<&VmSpec> {
    match spec {
        WorkloadSpec::Vm(vm) => Ok(vm),
        WorkloadSpec::Container(c) => Err(RuntimeError::Unsupported {
            backend: BACKEND,
            what: format!("containers (workload {:?})", c.name),
        }),
    }
}

#[async_trait]
impl Runtime for LibvirtRuntime {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn supports(&self, kind: WorkloadKind) -> bool {
        kind == WorkloadKind::Vm
    }

    async fn create(&self, lab: &LabContext, spec: &WorkloadSpec) -> RuntimeResult<WorkloadHandle> {
        Ok(self.create_vm(lab, vm_spec(spec)?).await?.0)
    }

    async fn start(&self, handle: &WorkloadHandle) -> RuntimeResult<()> {
        let err = |e| to_runtime_error(&handle.lab, format!("starting VM {:?}", handle.name), e);
        match self.virsh.domstate(&handle.id).await.map_err(err)? {
            None => Err(RuntimeError::NotFound {
                lab: handle.lab.clone(),
                what: "vm",
                name: handle.name.clone(),
            }),
            Some((DomState::Running, _)) => Ok(()),
            Some(_) => self.virsh.start(&handle.id).await.map_err(err),
        }
    }

    async fn wait_ready(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> RuntimeResult<()> {
        self.wait_ready_reporting(lab, spec, handle, timeout, cancel, PhaseReporter::none())
            .await
    }

    async fn wait_ready_reporting(
        &self,
        lab: &LabContext,
        spec: &WorkloadSpec,
        handle: &WorkloadHandle,
        timeout: Duration,
        cancel: CancellationToken,
        phases: PhaseReporter,
    ) -> RuntimeResult<()> {
        let wait = Deadline::new(timeout, &cancel);
        self.wait_ready_vm(lab, vm_spec(spec)?, handle, &wait, &phases)
            .await
            .map(|_| ())
    }

    async fn stop(&self, handle: &WorkloadHandle, grace: Duration) -> RuntimeResult<()> {
        let err = |e| to_runtime_error(&handle.lab, format!("stopping VM {:?}", handle.name), e);
        match self.virsh.domstate(&handle.id).await.map_err(err)? {
            None => {
                return Err(RuntimeError::NotFound {
                    lab: handle.lab.clone(),
                    what: "vm",
                    name: handle.name.clone(),
                });
            }
            Some((DomState::ShutOff | DomState::Crashed, _)) => return Ok(()),
            Some(_) => {}
        }
        let wait = Deadline::new(grace, &CancellationToken::new());
        if self.virsh.shutdown(&handle.id).await.map_err(err)? {
            while wait.pause(Duration::from_millis(250)).await.is_ok() {
                match self.virsh.domstate(&handle.id).await.map_err(err)? {
                    None | Some((DomState::ShutOff | DomState::Crashed, _)) => return Ok(()),
                    Some(_) => {}
                }
            }
            tracing::info!(lab = %handle.lab, workload = %handle.name, ?grace, "VM did not shut down in time; destroying it");
        }
        self.virsh.destroy(&handle.id).await.map_err(err)
    }

    async fn remove(&self, handle: &WorkloadHandle) -> RuntimeResult<()> {
        let err = |e| to_runtime_error(&handle.lab, format!("removing VM {:?}", handle.name), e);
        let Some(info) = self.own_info(handle).await? else {
            return Ok(());
        };
        self.virsh.destroy(&handle.id).await.map_err(err)?;
        self.virsh.undefine(&handle.id).await.map_err(err)?;
        let hub = info.hub.unwrap_or_default();
        if let Some(pool) = &hub.pool {
            // Volumes on the VM's host; the shared base image stays.
            self.delete_vm_volumes(pool, &hub.workload)
                .await
                .map_err(err)?;
        } else {
            // Only the files the hub recorded as its own; never the base image.
            for (_, path) in &hub.files {
                remove_file_if_exists(path).map_err(err)?;
            }
            if let Some(dir) = hub.file("overlay").and_then(|p| p.parent()) {
                let _ = std::fs::remove_dir(dir);
            }
        }
        if let (Some(dir), Some(ip)) = (&hub.lab_dir, hub.ip) {
            unpin_host(dir, ip).map_err(err)?;
        }
        tracing::info!(lab = %handle.lab, workload = %handle.name, "VM removed");
        Ok(())
    }

    async fn inspect(&self, handle: &WorkloadHandle) -> RuntimeResult<WorkloadStatus> {
        let missing = || RuntimeError::NotFound {
            lab: handle.lab.clone(),
            what: "vm",
            name: handle.name.clone(),
        };
        let info = self.own_info(handle).await?.ok_or_else(missing)?;
        let state = self
            .state(&handle.lab, &handle.id)
            .await?
            .ok_or_else(missing)?;
        Ok(Self::status(&handle.lab, &info, state))
    }

    async fn labs(&self) -> RuntimeResult<Vec<String>> {
        let names = self
            .virsh
            .list_all()
            .await
            .map_err(|e| to_runtime_error("", "listing domains".into(), e))?;
        let mut labs = std::collections::BTreeSet::new();
        for name in &names {
            // Only domains carrying the hub's metadata; a domain may vanish meanwhile.
            if let Some(hub) = self.info("", name).await?.and_then(|i| i.hub) {
                labs.insert(hub.lab);
            }
        }
        Ok(labs.into_iter().collect())
    }

    async fn list(&self, lab: &str) -> RuntimeResult<Vec<WorkloadStatus>> {
        let names = self
            .virsh
            .list_all()
            .await
            .map_err(|e| to_runtime_error(lab, "listing domains".into(), e))?;
        let prefix = format!("{lab}-");
        let mut out = Vec::new();
        for name in names.iter().filter(|n| n.starts_with(&prefix)) {
            // A domain may vanish between the listing and this look.
            let Some(info) = self.info(lab, name).await? else {
                continue;
            };
            if info.hub.as_ref().is_none_or(|h| h.lab != lab) {
                continue;
            }
            let Some(state) = self.state(lab, name).await? else {
                continue;
            };
            out.push(Self::status(lab, &info, state));
        }
        Ok(out)
    }

    async fn logs(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<String> {
        let path = self.console_path(lab, handle).await?;
        tail_console(&path, tail).map_err(|source| console_error(handle, path, source))
    }

    async fn follow_logs(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        tail: usize,
    ) -> RuntimeResult<hub_runtime::LogStream> {
        let path = self.console_path(lab, handle).await?;
        crate::follow::follow_console(path.clone(), tail)
            .map_err(|source| console_error(handle, path, source))
    }

    async fn exec(
        &self,
        lab: &LabContext,
        handle: &WorkloadHandle,
        cmd: &[String],
    ) -> RuntimeResult<ExecOutput> {
        let (dir, target) = self.ssh_target(handle).await?;
        let dir = if dir.as_os_str().is_empty() {
            lab.dir.clone()
        } else {
            dir
        };
        let out = Tool::new("ssh")
            .args(ssh_args(&dir, &target, Some(&shell_join(cmd))))
            .output()
            .await
            .map_err(|e| {
                to_runtime_error(
                    &handle.lab,
                    format!("running a command in VM {:?}", handle.name),
                    e.into(),
                )
            })?;
        Ok(ExecOutput {
            exit_code: out.status.code().map_or(-1, i64::from),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nic_vm() -> VmSpec {
        let nic = |segment: &str, ip: &str, mac: &str| hub_runtime::Attachment {
            network: format!("lab-{segment}"),
            segment: segment.into(),
            ip: ip.parse().unwrap(),
            mac: mac.parse().unwrap(),
        };
        let mut vm: VmSpec = serde_json::from_value(serde_json::json!({
            "name": "fw", "image": "/base.qcow2", "memory_mb": 512, "vcpus": 1,
            "packages": [], "user": "hub", "ip": "10.99.0.30", "static_ip": false,
            "mac": "52:54:00:00:00:01", "cloud_init": null, "runcmd": [],
            "virt_type": "qemu", "ssh_authorized_key": "", "ssh_host_key_public": "",
            "spec_hash": "",
        }))
        .unwrap();
        vm.networks = vec![
            nic("dmz", "10.99.0.30", "52:54:00:00:00:01"),
            nic("internal", "10.99.1.30", "52:54:00:00:00:02"),
        ];
        vm
    }

    #[test]
    fn each_nic_goes_on_its_networks_bridge_or_the_vm_is_refused_naming_it() {
        let mut lab = LabContext::for_tests("lab");
        lab.network.name = "lab-dmz".into();
        let vm = two_nic_vm();
        let err = vm_nics(&lab, &vm).unwrap_err().to_string();
        assert!(
            err.contains("segment \"internal\" names network \"lab-internal\""),
            "{err}"
        );
        let mut internal = lab.network.clone();
        internal.name = "lab-internal".into();
        internal.bridge = "br-internal".into();
        internal.subnet = "10.99.1.0/24".parse().unwrap();
        lab.segments.push(internal);
        let nics = vm_nics(&lab, &vm).unwrap();
        let got: Vec<(&str, &str)> = nics
            .iter()
            .map(|n| (n.bridge.as_str(), n.mac.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("br-lab", "52:54:00:00:00:01"),
                ("br-internal", "52:54:00:00:00:02")
            ]
        );
        assert!(LibvirtRuntime::check_spec(&lab, &vm).is_ok());
        // A multicast MAC on the second NIC is refused like the first's.
        let mut bad = vm.clone();
        bad.networks[1].mac = "01:00:5e:00:00:01".parse().unwrap();
        assert!(LibvirtRuntime::check_spec(&lab, &bad).is_err());
    }
}
