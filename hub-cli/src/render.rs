//! Renders the hub's progress events: a spinner per workload while it is created, booted and
//! waited for (indicatif through tracing-indicatif, so log lines do not tear the bars), and a
//! line per finished step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hub_core::Progress;
use tracing::Span;
use tracing_indicatif::indicatif_eprintln;
use tracing_indicatif::span_ext::IndicatifSpanExt;

/// The tracing target of the progress spans; the progress layer shows only these.
pub const TARGET: &str = "hub_progress";

/// Turns progress events into spinners and lines on stderr.
pub struct Renderer {
    bars: Mutex<HashMap<String, Span>>,
    /// Whether stderr is a terminal: without one no spinner shows, so the phases a workload
    /// passes are printed as lines (a CI log shows a slow boot alive too).
    terminal: bool,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer {
            bars: Mutex::default(),
            terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl Renderer {
    /// A renderer with no bars yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn bar(&self, name: &str, msg: &str) {
        // Without a terminal no bar would show, and tracing-indicatif's debug builds panic when
        // more bars than it draws are pending on a hidden target (its "footer" assertion).
        if !self.terminal {
            return;
        }
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let span = bars.entry(name.to_string()).or_insert_with(|| {
            let span = tracing::info_span!(target: TARGET, "workload", name = %name);
            span.pb_start();
            span
        });
        span.pb_set_message(msg);
    }

    fn finish(&self, name: &str) {
        self.bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Renders one event.
    pub fn on(&self, p: &Progress) {
        match p {
            Progress::Planned {
                create,
                recreate,
                remove,
                unchanged,
            } if create + recreate + remove > 0 => {
                indicatif_eprintln!(
                    "  plan: {create} to create, {recreate} to recreate, {remove} to remove, {unchanged} unchanged"
                );
            }
            Progress::NetworkReady { name, subnet, took } => {
                indicatif_eprintln!("  ✔ network {name} {subnet}  {}", secs(*took));
            }
            Progress::NetdReady {
                ip,
                dhcp,
                domain,
                took,
            } => {
                indicatif_eprintln!(
                    "  ✔ netd {ip} (DHCP {}-{}, DNS {domain})  {}",
                    dhcp.0,
                    dhcp.1,
                    secs(*took)
                );
            }
            Progress::WorkloadStarting { name, kind } => {
                self.bar(name, &format!("{kind}: creating and starting"))
            }
            Progress::WorkloadWaiting { name, kind } => {
                self.bar(name, &format!("{kind}: waiting until ready"))
            }
            Progress::WorkloadPhase {
                name,
                kind,
                phase,
                after,
            } => {
                let msg = format!("{kind}: {phase} ({})", secs(*after));
                if self.terminal {
                    self.bar(name, &msg);
                } else {
                    indicatif_eprintln!("  · {name}: {msg}");
                }
            }
            Progress::WorkloadReady {
                name,
                kind,
                ip,
                took,
                boot,
            } => {
                self.finish(name);
                let ip = ip.map(|i| i.to_string()).unwrap_or_default();
                let ready = if *kind == hub_core::runtime::WorkloadKind::Vm {
                    " ssh ready"
                } else {
                    ""
                };
                let boot = boot.as_ref().map(|b| format!(", {b}")).unwrap_or_default();
                indicatif_eprintln!("  ✔ {name} {ip}{ready}{boot}  {}", secs(*took));
            }
            Progress::WorkloadFailed { name, error } => {
                self.finish(name);
                indicatif_eprintln!("  ✘ {name}: {error}");
            }
            Progress::WorkloadUnchanged { name } => indicatif_eprintln!("  = {name} unchanged"),
            Progress::Removed { what } => indicatif_eprintln!("  - removed {what}"),
            Progress::VpnPeer { name, config } => {
                indicatif_eprintln!("  ✔ vpn {name} → {}", config.display());
            }
            Progress::RollingBack => indicatif_eprintln!("  ↺ rolling back what this up created"),
            Progress::ImageUpload {
                host,
                image,
                volume,
                bytes: (sent, total),
                stage,
            } => {
                let key = format!("upload {host} {}", image.display());
                let mb = |b: &u64| *b as f64 / 1e6;
                match stage {
                    hub_core::UploadStage::Sending => self.bar(
                        &key,
                        &format!(
                            "uploading {} to host {host} {:.1}/{:.1} MB",
                            image.display(),
                            mb(sent),
                            mb(total)
                        ),
                    ),
                    hub_core::UploadStage::Uploaded(took) => {
                        self.finish(&key);
                        indicatif_eprintln!(
                            "  ✔ uploaded {} to host {host} as volume {volume} ({:.1} MB)  {}",
                            image.display(),
                            mb(sent),
                            secs(*took)
                        );
                    }
                    hub_core::UploadStage::Cached => {
                        indicatif_eprintln!(
                            "  = {} already on host {host} (volume {volume}): not uploaded",
                            image.display()
                        );
                    }
                }
            }
            Progress::Pulling {
                image,
                status,
                bytes,
            } => {
                let key = format!("pull {image}");
                if status == hub_core::docker::COPIED_STATUS {
                    self.finish(&key);
                    let size = bytes.map_or(0.0, |(c, _)| c as f64 / 1e6);
                    indicatif_eprintln!("  ✔ copied {image} from another host ({size:.1} MB)");
                } else if status.starts_with("Status:") {
                    self.finish(&key);
                    indicatif_eprintln!("  ✔ pulled {image}");
                } else {
                    let done = bytes
                        .map(|(c, t)| format!(" {:.1}/{:.1} MB", c as f64 / 1e6, t as f64 / 1e6))
                        .unwrap_or_default();
                    self.bar(&key, &format!("{status}{done}"));
                }
            }
            _ => {}
        }
    }
}
