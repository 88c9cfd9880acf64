//! netd's files on another machine's engine, through Docker's archive API only: the config
//! copied in (`PUT /containers/NAME/archive`), the leases and counts read back (`GET
//! /containers/NAME/archive`), each a tar of one file.

use std::io::Read;
use std::time::{Duration, SystemTime};

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, InspectContainerOptions, UploadToContainerOptionsBuilder,
};
use futures::StreamExt;
use hub_net::netd::{CONFIG_FILE, LEASE_FILE, Lease, LeaseFile, NetdStats, STATS_FILE};
use hub_runtime::RuntimeResult;

use super::{NETD_MOUNT, NETD_NAME, fail};
use crate::DockerRuntime;
use crate::error;
use crate::mapping::container_name;

/// A tar holding one regular file `name` (mode `mode`) with `data`, as the archive API takes
/// it. Its modification time is `mtime` to the nanosecond, in a PAX `mtime` record beside the
/// header's whole seconds: Docker sets the extracted file's mtime from it, and netd sees a new
/// config by its (mtime, length), so two configs of one length written within one second
/// still differ.
pub fn pack_file(
    name: &str,
    data: &[u8],
    mode: u32,
    mtime: SystemTime,
) -> std::io::Result<Vec<u8>> {
    let since = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let mut tar = tar::Builder::new(Vec::new());
    let pax = pax_record(
        "mtime",
        &format!("{}.{:09}", since.as_secs(), since.subsec_nanos()),
    );
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(pax.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(since.as_secs());
    h.set_cksum();
    tar.append_data(&mut h, format!("PaxHeaders/{name}"), pax.as_bytes())?;
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(since.as_secs());
    h.set_cksum();
    tar.append_data(&mut h, name, data)?;
    tar.into_inner()
}

/// One PAX extended header record: `LEN KEY=VALUE\n`, where LEN counts the whole record, its
/// own digits included.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len();
    // The length's digits are part of the length: grow until it is a fixed point.
    while (len.to_string().len() + body.len()) != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}")
}

/// The contents of the regular file `name` in `tar` (what Docker's archive of one path holds:
/// the file under its base name), or `None` when the archive has no such file.
pub fn unpack_file(tar: &[u8], name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let mut ar = tar::Archive::new(tar);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let is_file = entry.header().entry_type().is_file();
        let matches = entry
            .path()?
            .to_str()
            .is_some_and(|p| p.trim_start_matches("./") == name);
        if is_file && matches {
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// Copies `config` (netd's config file, as JSON) into `/netd/netd.json` of container
/// `container` of lab `lab` on host `host`, created or running (`/netd` is netd's volume).
///
/// Docker unpacks the tar over the old file in place (it removes it and writes the new one),
/// so a running netd may glimpse no file or half a file; that is safe: netd loads a config
/// only when its (mtime, length) changes, refuses one that does not parse or validate and
/// keeps serving the old, and sees the complete file at its next poll (a second), whose
/// mtime (see [`pack_file`]) differs from the glimpsed one's.
pub async fn copy_config_into(
    docker: &DockerRuntime,
    lab: &str,
    host: &str,
    container: &str,
    config: &str,
) -> RuntimeResult<()> {
    let doing = || format!("copying netd's config into {container:?} on host {host:?}");
    let tar = pack_file(CONFIG_FILE, config.as_bytes(), 0o644, SystemTime::now())
        .map_err(|e| fail(lab, doing(), e))?;
    let opts = UploadToContainerOptionsBuilder::new()
        .path(NETD_MOUNT)
        .build();
    docker
        .client()
        .upload_to_container(container, Some(opts), bollard::body_full(tar.into()))
        .await
        .map_err(|e| error::backend(lab, doing(), e))
}

/// The file `file` of netd's folder (`/netd`) in lab `lab`'s netd container on host `host`,
/// read through the archive API; `None` when netd has not written it (yet). A lab without a
/// netd container is an error.
pub async fn read_netd_file_from(
    docker: &DockerRuntime,
    lab: &str,
    host: &str,
    file: &str,
) -> RuntimeResult<Option<Vec<u8>>> {
    let name = container_name(lab, NETD_NAME);
    let path = format!("{NETD_MOUNT}/{file}");
    let doing = || format!("reading {path} of {name:?} on host {host:?}");
    let opts = DownloadFromContainerOptionsBuilder::new()
        .path(&path)
        .build();
    let mut stream = docker.client().download_from_container(&name, Some(opts));
    let mut tar = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => tar.extend_from_slice(&bytes),
            Err(e) if error::is_not_found(&e) => {
                // 404 is either "no such container" or "no such file": only the first is an
                // error.
                return match docker
                    .client()
                    .inspect_container(&name, None::<InspectContainerOptions>)
                    .await
                {
                    Ok(_) => Ok(None),
                    Err(e) => Err(error::backend(lab, doing(), e)),
                };
            }
            Err(e) => return Err(error::backend(lab, doing(), e)),
        }
    }
    unpack_file(&tar, file).map_err(|e| fail(lab, doing(), e))
}

/// The leases netd of lab `lab` has handed out, read from its container on host `host` (its
/// `leases.json`); none when it has written none yet. What it costs: one archive request
/// carrying the whole lease file.
pub async fn read_leases_from(
    docker: &DockerRuntime,
    lab: &str,
    host: &str,
) -> RuntimeResult<Vec<Lease>> {
    let file: LeaseFile = read_json_from(docker, lab, host, LEASE_FILE).await?;
    Ok(file.leases)
}

/// What netd of lab `lab` has counted, read from its container on host `host` (its
/// `stats.json`, written at most once a second); all zeros when it has written none yet.
pub async fn read_netd_stats_from(
    docker: &DockerRuntime,
    lab: &str,
    host: &str,
) -> RuntimeResult<NetdStats> {
    read_json_from(docker, lab, host, STATS_FILE).await
}

/// A JSON file of netd's folder in its container, parsed; the default when it is absent.
async fn read_json_from<T>(
    docker: &DockerRuntime,
    lab: &str,
    host: &str,
    file: &str,
) -> RuntimeResult<T>
where
    T: serde::de::DeserializeOwned + Default,
{
    match read_netd_file_from(docker, lab, host, file).await? {
        None => Ok(T::default()),
        Some(data) => serde_json::from_slice(&data).map_err(|e| {
            fail(
                lab,
                format!("reading netd's {file} on host {host:?}: it is not what netd writes"),
                e,
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_file_unpacks_with_its_mode_and_nanosecond_mtime() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_764_567_890, 123_456_789);
        let tar = pack_file("netd.json", b"{\"a\":1}", 0o640, at).unwrap();
        assert_eq!(
            unpack_file(&tar, "netd.json").unwrap().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(unpack_file(&tar, "leases.json").unwrap(), None);
        // The tar crate reads the PAX record as Docker's (Go's) reader does.
        let mut ar = tar::Archive::new(&tar[..]);
        let mut entry = ar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("netd.json"));
        assert_eq!(entry.header().mode().unwrap(), 0o640);
        assert_eq!(entry.header().mtime().unwrap(), 1_764_567_890);
        let pax: Vec<(String, String)> = entry
            .pax_extensions()
            .unwrap()
            .expect("a PAX header")
            .map(|e| {
                let e = e.unwrap();
                (e.key().unwrap().to_string(), e.value().unwrap().to_string())
            })
            .collect();
        assert_eq!(
            pax,
            vec![("mtime".to_string(), "1764567890.123456789".to_string())]
        );
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for value in [
            "",
            "1",
            "1764567890.123456789",
            &"x".repeat(95),
            &"y".repeat(1000),
        ] {
            let r = pax_record("mtime", value);
            let (len, _) = r.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len(), "{r:?}");
            assert!(r.ends_with(&format!("mtime={value}\n")));
        }
    }

    #[test]
    fn unpacking_finds_the_file_among_others_and_refuses_garbage() {
        // Docker's archive of a folder: the folder, then its files under it.
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_mode(0o755);
        dir.set_cksum();
        b.append_data(&mut dir, "netd/", &b""[..]).unwrap();
        for (name, data) in [
            ("stats.json", &b"{}"[..]),
            ("leases.json", b"{\"leases\":[]}"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        assert_eq!(
            unpack_file(&tar, "leases.json").unwrap().as_deref(),
            Some(&b"{\"leases\":[]}"[..])
        );
        assert_eq!(
            unpack_file(&tar, "netd").unwrap(),
            None,
            "a folder is no file"
        );
        assert_eq!(unpack_file(&[], "x").unwrap(), None, "an empty archive");
        assert!(unpack_file(&[7u8; 700], "x").is_err(), "not a tar");
    }
}
