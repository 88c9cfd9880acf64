//! A container's `volumes:` entry, in Compose's short syntax `SOURCE:TARGET[:ro|:rw]`: a bind
//! mount when SOURCE is a path, else a named volume of the lab.

use std::path::PathBuf;

use super::names;

/// Where a mount comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountSource {
    /// A host path, as written (relative to the spec's folder unless absolute).
    Bind(PathBuf),
    /// A named volume owned by the lab.
    Named(String),
}

/// One parsed `volumes:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolumeEntry {
    pub(crate) source: MountSource,
    pub(crate) target: String,
    pub(crate) read_only: bool,
}

/// Parses `SOURCE:TARGET[:ro|:rw]`. SOURCE is a path when it starts with `/`, `./`, `../` or
/// `~` (`~` is refused: the hub does not expand it), else a volume name (a DNS label).
pub(crate) fn parse_volume(s: &str) -> Result<VolumeEntry, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, m] => (*s, *t, Some(*m)),
        _ => {
            return Err(format!(
                "{s:?} is not a mount; write SOURCE:TARGET or SOURCE:TARGET:ro (like \
                 ./conf/nginx.conf:/etc/nginx/nginx.conf:ro or data:/var/lib/data)"
            ));
        }
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("mode {m:?} is not ro or rw")),
    };
    if !target.starts_with('/') {
        return Err(format!(
            "the target {target:?} must be an absolute path in the container"
        ));
    }
    let source = if source.starts_with('~') {
        return Err(format!(
            "the source {source:?} starts with '~': write the path relative to the spec's \
             folder or absolute"
        ));
    } else if source.starts_with('/')
        || source.starts_with("./")
        || source.starts_with("../")
        || source == "."
        || source == ".."
    {
        MountSource::Bind(PathBuf::from(source))
    } else if names::is_dns_label(source) {
        MountSource::Named(source.to_string())
    } else {
        return Err(format!(
            "the source {source:?} is neither a path (start it with ./, ../ or /) nor a volume \
             name ({})",
            names::DNS_LABEL_RULE
        ));
    };
    Ok(VolumeEntry {
        source,
        target: target.to_string(),
        read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_named_volumes_parse() {
        let v = parse_volume("./conf/nginx.conf:/etc/nginx/nginx.conf:ro").unwrap();
        assert_eq!(
            v,
            VolumeEntry {
                source: MountSource::Bind("./conf/nginx.conf".into()),
                target: "/etc/nginx/nginx.conf".into(),
                read_only: true
            }
        );
        let v = parse_volume("data:/var/lib/data").unwrap();
        assert_eq!(v.source, MountSource::Named("data".into()));
        assert!(!v.read_only);
        assert!(matches!(
            parse_volume("/srv/www:/www:rw").unwrap().source,
            MountSource::Bind(_)
        ));
    }

    #[test]
    fn bad_mounts_say_why() {
        for (s, why) in [
            ("data", "is not a mount"),
            ("data:/x:rx", "not ro or rw"),
            ("data:x", "absolute path"),
            ("~/x:/x", "'~'"),
            ("Data_1:/x", "neither a path"),
            ("a:b:c:d", "is not a mount"),
        ] {
            let e = parse_volume(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
