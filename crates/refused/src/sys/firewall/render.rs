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
        let op = match m["op"].as_str() {
            Some("==" | "in") | None => String::new(),
            Some(op) => format!(" {op}"),
        };
        let right = &m["right"];
        let value = match right.as_str() {
            // nft writes interface names quoted.
            Some(name) if is_ifname(&m["left"]) => format!("\"{name}\""),
            _ => render_value(right),
        };
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
            let addr = render_value(&value["addr"]);
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
            render_value(&value["data"])
        ),
        "xt" => format!("xt {} {}", plain(&value["type"]), plain(&value["name"])),
        other => other.to_owned(),
    }
}

fn is_ifname(left: &Value) -> bool {
    left.get("meta")
        .and_then(|m| m["key"].as_str())
        .is_some_and(|key| matches!(key, "iifname" | "oifname" | "iif" | "oif"))
}

/// The left side of a match or a map's key: `tcp dport`, `oifname`, `ct state`.
fn render_left(left: &Value) -> String {
    if let Some(p) = left.get("payload") {
        format!("{} {}", plain(&p["protocol"]), plain(&p["field"]))
    } else if let Some(meta) = left.get("meta") {
        let key = plain(&meta["key"]);
        // nft writes these without `meta`.
        if matches!(
            key.as_str(),
            "iifname" | "oifname" | "iif" | "oif" | "mark" | "skuid"
        ) {
            key
        } else {
            format!("meta {key}")
        }
    } else if let Some(ct) = left.get("ct") {
        format!("ct {}", plain(&ct["key"]))
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
