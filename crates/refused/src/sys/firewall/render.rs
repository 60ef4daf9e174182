//! Writes a rule back in nft's own syntax, as far as the common expressions go (used when nft's own listing of the rule is not at hand).

use std::fmt::Write as _;

use serde_json::Value;

/// Writes a rule back in nft's own syntax, as far as the common expressions go.
pub fn render(exprs: &[Value]) -> String {
    let mut text = String::new();
    for expr in exprs {
        let part = render_one(expr);
        if !part.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&part);
        }
    }
    text
}

fn render_one(expr: &Value) -> String {
    if let Some(m) = expr.get("match") {
        // `tcp flags syn / fin,syn,rst,ack`, as nft writes a masked comparison of the flags
        // (iptables' `--syn`).
        if let Some([inner, mask]) = m["left"]
            .get("&")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            if inner.get("payload").is_some_and(|p| p["field"] == "flags") {
                let op = if m["op"] == "!=" { "!= " } else { "" };
                return format!(
                    "{} {op}{} / {}",
                    render_left(inner),
                    render_value(&m["right"]),
                    render_value(mask)
                );
            }
        }
        let op = match m["op"].as_str() {
            Some("==" | "in") | None => String::new(),
            Some(op) => format!(" {op}"),
        };
        let value = render_keyed(&m["left"], &m["right"]);
        return format!("{}{op} {value}", render_left(&m["left"]));
    }
    let Some((key, value)) = expr.as_object().and_then(|o| o.iter().next()) else {
        return String::new();
    };
    match key.as_str() {
        "counter" => String::new(),
        "reject" => {
            let mut text = "reject".to_owned();
            if let (Some(kind), Some(code)) = (value["type"].as_str(), value["expr"].as_str()) {
                let _ = write!(text, " with {kind} {code}");
            } else if let Some(kind) = value["type"].as_str() {
                let _ = write!(text, " with {}", kind.replace('_', " "));
            }
            text
        }
        "jump" | "goto" => format!("{key} {}", plain(&value["target"])),
        "dnat" => {
            let mut text = "dnat to ".to_owned();
            // `dnat to :PORT` has no address.
            let addr = value.get("addr").map_or_else(String::new, render_value);
            let port = value.get("port").map(render_value);
            match port {
                Some(port) if addr.contains(':') => {
                    let _ = write!(text, "[{addr}]:{port}");
                }
                Some(port) => {
                    let _ = write!(text, "{addr}:{port}");
                }
                None => text.push_str(&addr),
            }
            text
        }
        "redirect" => match value.get("port") {
            Some(port) => format!("redirect to :{}", render_value(port)),
            None => "redirect".to_owned(),
        },
        "vmap" => format!(
            "{} vmap {}",
            render_left(&value["key"]),
            render_keyed(&value["key"], &value["data"])
        ),
        "xt" => format!("xt {} {}", plain(&value["type"]), plain(&value["name"])),
        "limit" => render_limit(value),
        // `ct count over 2`
        "ct count" => {
            let over = if value["inv"] == true { "over " } else { "" };
            format!("ct count {over}{}", plain(&value["val"]))
        }
        // `meter NAME { ip saddr limit rate over 10/second }`
        "meter" => format!(
            "meter {} {{ {} {} }}",
            plain(&value["name"]),
            render_left(&value["key"]),
            render_statements(&value["stmt"])
        ),
        // `update @NAME { ip saddr limit rate over 10/second }`
        "set" => {
            let stmts = render_statements(&value["stmt"]);
            let stmts = if stmts.is_empty() {
                stmts
            } else {
                format!(" {stmts}")
            };
            format!(
                "{} {} {{ {}{stmts} }}",
                plain(&value["op"]),
                plain(&value["set"]),
                render_left(&value["elem"])
            )
        }
        other => other.to_owned(),
    }
}

/// `limit rate [over] 10/second [burst 5 packets]`, or in bytes (`10 kbytes/second`).
fn render_limit(limit: &Value) -> String {
    let over = if limit["inv"] == true { "over " } else { "" };
    let unit = |key: &str| {
        limit
            .get(key)
            .and_then(Value::as_str)
            .filter(|u| *u != "packets")
    };
    let rate = match unit("rate_unit") {
        Some(unit) => format!("{} {unit}", plain(&limit["rate"])),
        None => plain(&limit["rate"]),
    };
    let mut text = format!("limit rate {over}{rate}/{}", plain(&limit["per"]));
    match (
        limit.get("burst").and_then(Value::as_u64),
        unit("burst_unit"),
    ) {
        (None | Some(0), _) => {}
        (Some(burst), Some(unit)) => {
            let _ = write!(text, " burst {burst} {unit}");
        }
        (Some(burst), None) => {
            let _ = write!(text, " burst {burst} packets");
        }
    }
    text
}

/// The statements of a meter or a set statement: one object or a list.
fn render_statements(stmt: &Value) -> String {
    match stmt {
        Value::Array(stmts) => render(stmts),
        Value::Null => String::new(),
        one => render_one(one),
    }
}

/// The keys nft writes without `meta` (its `meta_key_is_unqualified`).
const UNQUALIFIED: &[&str] = &["iifname", "oifname", "iif", "oif", "iifgroup", "oifgroup"];

fn meta_key(left: &Value) -> Option<&str> {
    left.get("meta").and_then(|m| m["key"].as_str())
}

/// The values `right` a key `left` is compared with, written as nft writes them for that key:
/// interface names quoted, marks in hex, each part of a concatenation (`10.0.0.1 . 80`) as its
/// own key's.
fn render_keyed(left: &Value, right: &Value) -> String {
    if let Some(set) = right.get("set").and_then(Value::as_array) {
        let items: Vec<String> = set.iter().map(|item| render_keyed(left, item)).collect();
        return format!("{{ {} }}", items.join(", "));
    }
    if let Some(inner) = right.get("elem").and_then(|e| e.get("val")) {
        return render_keyed(left, inner);
    }
    // A map element: `[key, verdict]`.
    if let Some([key, verdict]) = right.as_array().map(Vec::as_slice) {
        if verdict.is_object() {
            return format!("{} : {}", render_keyed(left, key), render_one(verdict));
        }
    }
    if let (Some(keys), Some(values)) = (
        left.get("concat").and_then(Value::as_array),
        right.get("concat").and_then(Value::as_array),
    ) {
        if keys.len() == values.len() {
            let parts: Vec<String> = keys
                .iter()
                .zip(values)
                .map(|(key, value)| render_keyed(key, value))
                .collect();
            return parts.join(" . ");
        }
    }
    let mark =
        meta_key(left) == Some("mark") || left.get("ct").is_some_and(|ct| ct["key"] == "mark");
    match right {
        Value::String(name) if meta_key(left).is_some_and(|key| UNQUALIFIED.contains(&key)) => {
            format!("\"{name}\"")
        }
        Value::Number(n) if mark => n
            .as_u64()
            .map_or_else(|| n.to_string(), |n| format!("0x{n:08x}")),
        _ => render_value(right),
    }
}

/// The left side of a match or a map's key: `tcp dport`, `oifname`, `ct state`.
fn render_left(left: &Value) -> String {
    if let Some(parts) = left.get("concat").and_then(Value::as_array) {
        let parts: Vec<String> = parts.iter().map(render_left).collect();
        parts.join(" . ")
    } else if let Some(p) = left.get("payload") {
        format!("{} {}", plain(&p["protocol"]), plain(&p["field"]))
    } else if let Some(meta) = left.get("meta") {
        let key = plain(&meta["key"]);
        if UNQUALIFIED.contains(&key.as_str()) {
            key
        } else {
            format!("meta {key}")
        }
    } else if let Some(ct) = left.get("ct") {
        format!("ct {}", plain(&ct["key"]))
    } else if let Some([inner, mask]) = left.get("&").and_then(Value::as_array).map(Vec::as_slice) {
        format!("{} & {}", render_left(inner), render_value(mask))
    } else if let Some(fib) = left.get("fib") {
        let flags: Vec<String> = match &fib["flags"] {
            Value::Array(flags) => flags.iter().map(plain).collect(),
            other => vec![plain(other)],
        };
        format!("fib {} {}", flags.join(" . "), plain(&fib["result"]))
    } else {
        left.to_string()
    }
}

fn render_value(value: &Value) -> String {
    if let Some(set) = value.get("set").and_then(Value::as_array) {
        let items: Vec<String> = set.iter().map(render_value).collect();
        return format!("{{ {} }}", items.join(", "));
    }
    if let Some([lo, hi]) = value
        .get("range")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return format!("{}-{}", plain(lo), plain(hi));
    }
    if let Some(prefix) = value.get("prefix") {
        return format!("{}/{}", plain(&prefix["addr"]), plain(&prefix["len"]));
    }
    if let Some(parts) = value.get("concat").and_then(Value::as_array) {
        let parts: Vec<String> = parts.iter().map(render_value).collect();
        return parts.join(" . ");
    }
    // Flags or'ed: `syn | ack`.
    if let Some(parts) = value.get("|").and_then(Value::as_array) {
        let parts: Vec<String> = parts.iter().map(render_value).collect();
        return parts.join(" | ");
    }
    if let Some(list) = value.as_array() {
        // A map element is `[key, verdict]`; any other list is a set of flags.
        if let [key, verdict] = list.as_slice() {
            if verdict.is_object() {
                return format!("{} : {}", render_value(key), render_one(verdict));
            }
        }
        let items: Vec<String> = list.iter().map(render_value).collect();
        return items.join(",");
    }
    plain(value)
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
