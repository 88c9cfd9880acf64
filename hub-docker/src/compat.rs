//! Compatibility with engines older than API 1.44.
//!
//! bollard 0.21's models follow API 1.53, where a container's MAC address is set on its network
//! endpoint (`EndpointSettings.MacAddress`). Engines below API 1.44 (Debian 12's speaks 1.41)
//! ignore that field and read the container-wide `Config.MacAddress` instead, which the new
//! models no longer have. This request modifier copies the endpoint's MAC into the top-level
//! field on container-create requests sent at such an API version.

use bollard::BollardRequest;
use http_body_util::{BodyExt, Either};

/// The API version from which engines read the endpoint's MAC address.
const ENDPOINT_MAC_SINCE: (u32, u32) = (1, 44);

/// The API version in a request path (`/v1.41/containers/create`), if any.
fn path_version(path: &str) -> Option<(u32, u32)> {
    let v = path.strip_prefix("/v")?.split('/').next()?;
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Rewrites a create-container body: when an endpoint carries a MAC address and the body has
/// no top-level one, the MAC is copied there. Returns `None` when nothing changes.
pub(crate) fn add_top_level_mac(body: &[u8]) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    if obj
        .get("MacAddress")
        .and_then(|m| m.as_str())
        .is_some_and(|m| !m.is_empty())
    {
        return None;
    }
    let mac = obj
        .get("NetworkingConfig")?
        .get("EndpointsConfig")?
        .as_object()?
        .values()
        .find_map(|ep| ep.get("MacAddress")?.as_str().filter(|m| !m.is_empty()))?
        .to_string();
    obj.insert("MacAddress".to_string(), serde_json::Value::String(mac));
    serde_json::to_vec(&v).ok()
}

/// The request modifier installed on the hub's client.
pub(crate) fn legacy_mac_address(req: BollardRequest) -> BollardRequest {
    let path = req.uri().path();
    // bollard 0.21 joins the absolute API path onto its versioned base URL, which drops the
    // `/v1.xx` prefix: requests then go out unversioned and the engine answers at its own
    // version, which may be below 1.44. So an unversioned request is treated as an old one;
    // engines from 1.44 on accept the top-level MAC when it equals the endpoint's.
    let applies = req.method().as_str() == "POST"
        && path.ends_with("/containers/create")
        && path_version(path).is_none_or(|v| v < ENDPOINT_MAC_SINCE);
    if !applies {
        return req;
    }
    let (parts, body) = req.into_parts();
    let Either::Left(full) = body else {
        return BollardRequest::from_parts(parts, body);
    };
    // A full body is ready at once: collecting it never waits.
    let bytes = match futures::executor::block_on(full.collect()) {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let new = match add_top_level_mac(&bytes) {
        Some(new) => bytes::Bytes::from(new),
        None => bytes,
    };
    BollardRequest::from_parts(parts, bollard::body_full(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_path() {
        assert_eq!(path_version("/v1.41/containers/create"), Some((1, 41)));
        assert_eq!(path_version("/containers/create"), None);
        assert!(path_version("/v1.41/x").is_some_and(|v| v < ENDPOINT_MAC_SINCE));
        assert!(path_version("/v1.44/x").is_some_and(|v| v >= ENDPOINT_MAC_SINCE));
    }

    #[test]
    fn endpoint_mac_is_copied_to_the_top() {
        let body = br#"{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"n":{"MacAddress":"02:42:0a:00:00:05"}}}}"#;
        let out = add_top_level_mac(body).expect("rewritten");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["MacAddress"], "02:42:0a:00:00:05");
        assert_eq!(v["Image"], "x");
    }

    #[test]
    fn body_without_mac_is_left_alone() {
        assert!(add_top_level_mac(br#"{"Image":"x"}"#).is_none());
        assert!(add_top_level_mac(br#"{"MacAddress":"02:00:00:00:00:01","NetworkingConfig":{"EndpointsConfig":{"n":{"MacAddress":"02:42:0a:00:00:05"}}}}"#).is_none());
        assert!(add_top_level_mac(b"not json").is_none());
    }
}
