//! Property tests of wg-quick configs: render then parse gives the same config, `strip`
//! parses to the same config without the wg-quick-only keys, and no text makes the parser
//! panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hub_wg::{InterfaceSection, PeerSection, PrivateKey, WgConfig};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn private_key() -> impl Strategy<Value = PrivateKey> {
    any::<[u8; 32]>().prop_map(PrivateKey::from_bytes)
}

fn net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, p)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), p).unwrap())),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, p)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), p).unwrap())),
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
        any::<u128>().prop_map(|a| IpAddr::V6(a.into())),
    ]
}

fn endpoint() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(a, p)| format!("{}:{p}", Ipv4Addr::from(a))),
        (any::<u128>(), any::<u16>()).prop_map(|(a, p)| format!("[{}]:{p}", Ipv6Addr::from(a))),
        ("[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}", any::<u16>())
            .prop_map(|(h, p)| format!("{h}:{p}")),
    ]
}

fn peer() -> impl Strategy<Value = PeerSection> {
    (
        private_key(),
        prop::collection::vec(net(), 0..4),
        prop::option::of(endpoint()),
        prop::option::of(any::<u16>()),
    )
        .prop_map(
            |(key, allowed_ips, endpoint, persistent_keepalive)| PeerSection {
                public_key: key.public_key(),
                allowed_ips,
                endpoint,
                persistent_keepalive,
            },
        )
}

fn config() -> impl Strategy<Value = WgConfig> {
    (
        private_key(),
        prop::collection::vec(net(), 0..3),
        prop::option::of(any::<u16>()),
        prop::collection::vec(ip(), 0..3),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u32>()),
        prop::collection::vec(peer(), 0..5),
    )
        .prop_map(|(key, addresses, listen_port, dns, mtu, fwmark, peers)| {
            let mut interface = InterfaceSection::new(key);
            interface.addresses = addresses;
            interface.listen_port = listen_port;
            interface.dns = dns;
            interface.mtu = mtu;
            interface.fwmark = fwmark;
            WgConfig { interface, peers }
        })
}

/// Lines that look like config lines, so the parser's deeper branches are reached.
fn config_like_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[Interface]".to_string()),
        Just("[Peer]".to_string()),
        "\\[[A-Za-z]{0,10}\\]?",
        (
            prop_oneof![
                Just("PrivateKey"),
                Just("PublicKey"),
                Just("Address"),
                Just("ListenPort"),
                Just("DNS"),
                Just("MTU"),
                Just("FwMark"),
                Just("AllowedIPs"),
                Just("Endpoint"),
                Just("PersistentKeepalive"),
                Just("PostUp"),
                Just("Bogus"),
            ],
            "\\PC{0,60}"
        )
            .prop_map(|(k, v)| format!("{k} = {v}")),
        "\\PC{0,80}",
    ];
    prop::collection::vec(line, 0..20).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn render_then_parse_round_trips(config in config()) {
        let text = config.render();
        let parsed = WgConfig::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&parsed, &config);

        let stripped = WgConfig::parse(&config.strip()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut expected = config.clone();
        expected.interface.addresses.clear();
        expected.interface.dns.clear();
        expected.interface.mtu = None;
        prop_assert_eq!(stripped, expected);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC*") {
        let _ = WgConfig::parse(&text);
    }

    #[test]
    fn parsing_config_like_text_never_panics(text in config_like_text()) {
        if let Err(hub_wg::WgError::Parse { line, .. }) = WgConfig::parse(&text) {
            prop_assert!(line >= 1 && line <= text.lines().count());
        }
    }

    #[test]
    fn parsing_mangled_configs_never_panics(config in config(), cut in any::<prop::sample::Index>(), junk in "\\PC{0,5}") {
        let mut text = config.render();
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &junk);
        // Whatever is wrong, the error never quotes the private key.
        if let Err(e) = WgConfig::parse(&text) {
            let secret = config.interface.private_key.to_base64();
            prop_assert!(!e.to_string().contains(&secret), "{} quotes the key", e);
        }
    }

    #[test]
    fn a_key_line_without_its_name_is_never_quoted(key in private_key(), sep in "[ :\t]{0,2}") {
        let secret = key.to_base64();
        for text in [
            format!("[Interface]\n{secret}\n"),
            format!("[Interface]\nPrivateKey{sep}{secret}\n"),
            format!("{secret}\n"),
        ] {
            let e = WgConfig::parse(&text).err();
            prop_assert!(e.is_some(), "{} was accepted", text);
            let shown = e.map(|e| e.to_string()).unwrap_or_default();
            prop_assert!(!shown.contains(&secret[..40]), "{} quotes the key", shown);
        }
    }
}
