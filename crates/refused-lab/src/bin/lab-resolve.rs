//! `lab-resolve NAME`: getaddrinfo as a program run inside a lab namespace sees it (with that
//! namespace's `/etc/netns` files). Prints `ok ADDR...`, or `error CODE` with the `EAI_*` code.

fn main() -> std::process::ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: lab-resolve NAME");
        return std::process::ExitCode::from(2);
    };
    let hints = dns_lookup::AddrInfoHints {
        socktype: libc::SOCK_STREAM,
        ..dns_lookup::AddrInfoHints::default()
    };
    match dns_lookup::getaddrinfo(Some(&name), None, Some(hints)) {
        Ok(answers) => {
            let addrs: Vec<String> = answers
                .filter_map(Result::ok)
                .map(|a| a.sockaddr.ip().to_string())
                .collect();
            println!("ok {}", addrs.join(" "));
        }
        Err(err) => println!("error {}", err.error_num()),
    }
    std::process::ExitCode::SUCCESS
}
