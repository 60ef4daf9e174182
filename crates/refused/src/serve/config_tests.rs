//! Tests of the configuration: blackbox's files load, typos fail with their line.

use super::*;

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
    assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
    for bad in ["", "5", "5x", "s", "1m30"] {
        assert_eq!(parse_go_duration(bad), None, "{bad}");
    }
}

#[test]
fn debians_blackbox_yml_loads_unchanged() {
    let config = Config::from_yaml(include_str!("testdata/blackbox-debian.yml")).unwrap();
    let probe = |name: &str| match &config.modules[name] {
        Module::Probe(module) => module.clone(),
        Module::Unsupported(reason) => panic!("{name}: {reason}"),
    };
    assert_eq!(probe("tcp_connect").prober, Prober::Tcp { tls: Tls::Off });
    let http = probe("http_2xx");
    assert!(http.options.http.statuses.contains(204));
    assert!(!http.options.http.statuses.contains(301));
    assert_eq!(
        http.family,
        FamilyChoice::Prefer {
            family: IpFamily::V6,
            fallback: true
        }
    );
    let unsupported: Vec<&str> = config.unsupported().map(|(name, _)| name).collect();
    assert_eq!(
        unsupported,
        [
            "grpc",
            "grpc_plain",
            "http_post_2xx",
            "icmp",
            "icmp_ttl5",
            "irc_banner",
            "pop3s_banner",
            "ssh_banner"
        ]
    );
    let reasons: BTreeMap<&str, &str> = config.unsupported().collect();
    assert!(reasons["ssh_banner"].contains("tcp.query_response"));
    assert!(reasons["http_post_2xx"].contains("http.method"));
}

#[test]
fn an_unknown_field_is_an_error_with_its_line() {
    let text =
        "modules:\n  tcp_connect:\n    prober: tcp\n    tcp:\n      preferred_ip_protcol: ip4\n";
    let err = Config::from_yaml(text).unwrap_err().to_string();
    assert!(
        err.contains("unknown field `preferred_ip_protcol`"),
        "{err}"
    );
    assert!(err.contains("line 5"), "{err}");
}

#[test]
fn bad_values_name_their_place() {
    let cases = [
        (
            "modules:\n  m:\n    prober: tcp\n    timeout: 5 seconds\n",
            "modules.m.timeout",
        ),
        (
            "modules:\n  m:\n    prober: ftp\n",
            "modules.m.prober: unknown prober `ftp`",
        ),
        (
            "modules:\n  m:\n    prober: http\n    http:\n      fail_if_body_not_matches_regexp: ['(']\n",
            "modules.m.http.fail_if_body_not_matches_regexp",
        ),
        (
            "modules:\n  m:\n    prober: http\n    http:\n      valid_status_codes: [700]\n",
            "modules.m.http.valid_status_codes",
        ),
    ];
    for (text, expected) in cases {
        let err = Config::from_yaml(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let err = Config::from_yaml(
        "modules:\n  m:\n    prober: tcp\n    tcp:\n      preferred_ip_protocol: ip5\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ip5") && err.contains("line 5"), "{err}");
}

#[test]
fn modules_map_blackbox_fields_to_the_probe_options() {
    let text = "
modules:
  strict:
    prober: http
    timeout: 2s
    http:
      valid_status_codes: [200, 204]
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      fail_if_not_ssl: true
      fail_if_body_not_matches_regexp: ['ok']
      tls_config:
        insecure_skip_verify: true
  tls_banner:
    prober: tcp
    tcp:
      tls: true
  pg:
    prober: postgres
";
    let config = Config::from_yaml(text).unwrap();
    let Module::Probe(strict) = &config.modules["strict"] else {
        panic!()
    };
    assert_eq!(strict.timeout, Duration::from_secs(2));
    assert!(strict.options.http.statuses.contains(204));
    assert!(!strict.options.http.statuses.contains(201));
    assert!(strict.options.insecure && strict.fail_if_not_ssl);
    assert!(strict.options.http.body_regex.is_some());
    assert_eq!(
        strict.family,
        FamilyChoice::Prefer {
            family: IpFamily::V4,
            fallback: false
        }
    );
    let Module::Probe(banner) = &config.modules["tls_banner"] else {
        panic!()
    };
    assert_eq!(banner.prober, Prober::Tcp { tls: Tls::On });
    let Module::Probe(pg) = &config.modules["pg"] else {
        panic!()
    };
    assert_eq!(
        (pg.prober, pg.family),
        (Prober::Postgres, FamilyChoice::All)
    );
    // The built-in modules are still there.
    assert!(config.modules.contains_key("redis"));
}

#[test]
fn redirects_are_followed_unless_a_module_says_not() {
    let text = "modules:
  plain:
    prober: http
  off:
    prober: http
    http:
      follow_redirects: false
  deprecated_off:
    prober: http
    http:
      no_follow_redirects: true
  deprecated_wins:
    prober: http
    http:
      follow_redirects: false
      no_follow_redirects: false
";
    let config = Config::from_yaml(text).unwrap();
    let follows = |name: &str| match &config.modules[name] {
        Module::Probe(module) => module.follow_redirects,
        Module::Unsupported(reason) => panic!("{name}: {reason}"),
    };
    assert!(follows("plain"));
    assert!(!follows("off"));
    assert!(!follows("deprecated_off"));
    assert!(follows("deprecated_wins"));
    // Built in: blackbox's `http_2xx` follows; our `http` and `https` take a redirect as ready.
    assert!(follows("http_2xx"));
    assert!(!follows("http") && !follows("https"));
}
