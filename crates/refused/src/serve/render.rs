//! Rendering one probe's findings: blackbox exporter's metrics where the meaning is the same,
//! then ours (the failure's cause, one series per address tried).

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use std::net::IpAddr;

use super::config::ProbeModule;
use super::exporter::{Findings, HttpFindings, TlsFindings};
use super::{Format, encode};

type Labels = Vec<(&'static str, String)>;

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn labelled(registry: &mut Registry, name: &str, help: &str, series: &[(Labels, f64)]) {
    let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for (labels, value) in series {
        family.get_or_create(labels).set(*value);
    }
    registry.register(name, help, family);
}

pub(super) fn render(findings: &Findings, module: &ProbeModule, format: Format) -> String {
    let mut registry = Registry::default();
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    gauge(
        &mut registry,
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        findings.dns.as_secs_f64(),
    );
    if let Some(address) = findings.address {
        let version = if address.is_ipv4() { 4.0 } else { 6.0 };
        gauge(
            &mut registry,
            "probe_ip_protocol",
            "Specifies whether probe ip protocol is IP4 or IP6",
            version,
        );
        gauge(
            &mut registry,
            "probe_ip_addr_hash",
            "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
            f64::from(ip_hash(address)),
        );
    }
    if let Some(http) = &findings.http {
        render_http(&mut registry, http);
    }
    if let Some(tls) = &findings.tls {
        render_tls(&mut registry, tls);
    }
    if !findings.attempts.is_empty() {
        let success: Vec<(Labels, f64)> = findings
            .attempts
            .iter()
            .map(|(address, ok, _)| (vec![("address", address.clone())], flag(*ok)))
            .collect();
        labelled(
            &mut registry,
            "probe_attempt_success",
            "Whether the connect to this address succeeded",
            &success,
        );
        let durations: Vec<(Labels, f64)> = findings
            .attempts
            .iter()
            .map(|(address, _, took)| (vec![("address", address.clone())], took.as_secs_f64()))
            .collect();
        labelled(
            &mut registry,
            "probe_attempt_duration_seconds",
            "How long the connect to this address took",
            &durations,
        );
    }
    if let Some(failure) = &findings.failure {
        let labels = vec![
            ("cause", failure.cause.clone()),
            ("outcome", failure.outcome.clone()),
            ("summary", failure.summary.clone()),
        ];
        labelled(
            &mut registry,
            "probe_failure_info",
            "Why the probe failed: the diagnosed cause, the connect outcome and a summary",
            &[(labels, 1.0)],
        );
    }
    gauge(
        &mut registry,
        "probe_module_timeout_seconds",
        "The module's timeout",
        module.timeout.as_secs_f64(),
    );
    gauge(
        &mut registry,
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        findings.duration.as_secs_f64(),
    );
    gauge(
        &mut registry,
        "probe_success",
        "Displays whether or not the probe was a success",
        flag(findings.success),
    );
    encode(&registry, format)
}

fn render_http(registry: &mut Registry, http: &HttpFindings) {
    let last = &http.last;
    gauge(
        registry,
        "probe_http_status_code",
        "Response HTTP status code",
        f64::from(last.status),
    );
    gauge(
        registry,
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        if last.ssl { 1.0 } else { 0.0 },
    );
    gauge(
        registry,
        "probe_http_redirects",
        "The number of redirects",
        f64::from(http.redirects),
    );
    gauge(
        registry,
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
        last.version,
    );
    #[allow(clippy::cast_precision_loss)] // a length past 2^53 bytes is no body a probe reads
    let length = last.content_length as f64;
    gauge(
        registry,
        "probe_http_content_length",
        "Length of http content response",
        length,
    );
    #[allow(clippy::cast_precision_loss)] // as above
    let body = last.body_length as f64;
    gauge(
        registry,
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
        body,
    );
    if let Some(time) = last.last_modified {
        #[allow(clippy::cast_precision_loss)] // seconds: exact to 2^53
        let time = time as f64;
        gauge(
            registry,
            "probe_http_last_modified_timestamp_seconds",
            "Returns the Last-Modified HTTP response header in unixtime",
            time,
        );
    }
    let phases = &http.phases;
    let series: Vec<(Labels, f64)> = [
        ("resolve", phases.resolve),
        ("connect", phases.connect),
        ("tls", phases.tls),
        ("processing", phases.processing),
        ("transfer", phases.transfer),
    ]
    .into_iter()
    .map(|(phase, took)| (vec![("phase", phase.to_owned())], took.as_secs_f64()))
    .collect();
    labelled(
        registry,
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
        &series,
    );
}

fn render_tls(registry: &mut Registry, tls: &TlsFindings) {
    if let Some(expiry) = tls.earliest_expiry {
        gauge(
            registry,
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            expiry as f64,
        );
    }
    labelled(
        registry,
        "probe_tls_version_info",
        "Returns the TLS version used or NaN when unknown",
        &[(vec![("version", tls.version.clone())], 1.0)],
    );
}

/// blackbox exporter's `probe_ip_addr_hash`: FNV-1a (32 bits) of the address's bytes (4 for
/// IPv4, 16 for IPv6), so the two exporters agree on it.
fn ip_hash(address: IpAddr) -> u32 {
    let bytes = match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_of_the_address_bytes() {
        // FNV-1a 32 of the empty input is the offset basis; of "a" (0x61) a known value.
        assert_eq!(
            [0x61_u8]
                .iter()
                .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b))
                    .wrapping_mul(0x0100_0193)),
            0xe40c_292c
        );
        assert_ne!(
            ip_hash("127.0.0.1".parse().unwrap()),
            ip_hash("127.0.0.2".parse().unwrap())
        );
    }
}
