//! Terminal mode end to end: the real binaries chat over loopback.
//! They are built by `cargo test` at the workspace root (both are members).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` at the workspace root",
        path.display()
    );
    path
}

/// A running program whose stdout and stderr lines arrive on channels.
struct Program {
    /// Taken by [`exit_code`] to wait for it.
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
        }
    }
}

impl Program {
    fn running(&mut self) -> bool {
        let child = self.child.as_mut().unwrap();
        child.try_wait().unwrap().is_none()
    }

    /// Stops it at once, like a crash or a power cut: no `bye`.
    fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn start(name: &str, args: &[&str], key: Option<&str>) -> Program {
    let mut command = Command::new(binary(name));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.env_remove("FERNET_CHAT_KEY");
    if let Some(key) = key {
        command.env("FERNET_CHAT_KEY", key);
    }
    let mut child = command.spawn().unwrap();
    let (out, err) = (
        lines(child.stdout.take().unwrap()),
        lines(child.stderr.take().unwrap()),
    );
    Program {
        stdin: child.stdin.take(),
        child: Some(child),
        out,
        err,
    }
}

/// The first line on `rx` that satisfies `pick`.
fn wait_for(rx: &Receiver<String>, what: &str, pick: impl Fn(&str) -> bool) -> String {
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(line) if pick(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line {what}: {e}"),
        }
    }
}

fn say(program: &mut Program, line: &str) {
    writeln!(program.stdin.as_mut().unwrap(), "{line}").unwrap();
}

/// Closes its stdin (EOF) and waits for it to exit.
fn exit_code(program: &mut Program) -> i32 {
    drop(program.stdin.take());
    let mut child = program.child.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().map(|s| s.code().unwrap_or(-1)));
    });
    rx.recv_timeout(WAIT)
        .expect("the program did not exit")
        .unwrap()
}

fn server() -> (Program, String, String) {
    let server = start(
        "server-gui",
        &[
            "--headless",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--name",
            "bob",
        ],
        None,
    );
    let key = wait_for(&server.out, "key: …", |l| l.starts_with("key: "))[5..].to_owned();
    let addr = wait_for(&server.out, "listening: …", |l| {
        l.starts_with("listening: ")
    })[11..]
        .to_owned();
    assert_eq!(key.len(), 44);
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    (server, key, addr)
}

/// A terminal client named alice, connected to the server at `addr`.
fn alice(key: &str, addr: &str) -> Program {
    let client = start(
        "client-gui",
        &["--headless", "--connect", addr, "--name", "alice"],
        Some(key),
    );
    wait_for(&client.err, "connected", |l| {
        l.starts_with("connected to bob")
    });
    client
}

#[test]
fn two_terminals_chat_and_exit_cleanly_on_eof() {
    let (mut server, key, addr) = server();
    let mut client = alice(&key, &addr);
    wait_for(&server.err, "connected", |l| {
        l.starts_with("connected to alice")
    });

    say(&mut client, "hello from alice 😀");
    wait_for(&server.out, "with the client's message", |l| {
        l == "alice: hello from alice 😀"
    });
    say(&mut server, "hi alice, ünïcode ok");
    wait_for(&client.out, "with the server's message", |l| {
        l == "bob: hi alice, ünïcode ok"
    });

    assert_eq!(exit_code(&mut client), 0, "EOF ends the client cleanly");
    wait_for(&server.err, "about the disconnect", |l| {
        l.starts_with("disconnected: alice left")
    });
    assert!(server.running(), "the server keeps waiting");
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn ctrl_c_says_goodbye_and_exits_cleanly() {
    let (mut server, key, addr) = server();
    let mut client = alice(&key, &addr);

    let pid = client.child.as_ref().unwrap().id().to_string();
    let interrupted = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(interrupted.success());
    wait_for(&server.err, "about alice leaving", |l| {
        l.starts_with("disconnected: alice left")
    });
    assert_eq!(exit_code(&mut client), 0, "Ctrl+C ends the client cleanly");
    assert!(server.running(), "the server keeps waiting");
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn a_wrong_key_fails_the_client_and_the_server_keeps_waiting() {
    let (mut server, key, addr) = server();
    let wrong = common::Key::generate().unwrap().to_string();
    let mut client = start(
        "client-gui",
        &["--headless", "--connect", &addr],
        Some(&wrong),
    );
    wait_for(&client.err, "about the key", |l| {
        l.contains("different key")
    });
    assert_ne!(exit_code(&mut client), 0);
    wait_for(&server.err, "about the attempt", |l| {
        l == "127.0.0.1 tried a different key"
    });

    let mut right = start(
        "client-gui",
        &["--headless", "--connect", &addr],
        Some(&key),
    );
    wait_for(&right.err, "connected", |l| {
        l.starts_with("connected to bob")
    });
    assert_eq!(exit_code(&mut right), 0);
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn refused_and_unresolvable_addresses_fail_with_one_line() {
    let key = common::Key::generate().unwrap().to_string();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut refused = start(
        "client-gui",
        &["--headless", "--connect", &free.to_string()],
        Some(&key),
    );
    wait_for(&refused.err, "about the refusal", |l| {
        l.contains("refused the connection")
    });
    assert_ne!(exit_code(&mut refused), 0);
    let mut unknown = start(
        "client-gui",
        &["--headless", "--connect", "no-such-host.invalid"],
        Some(&key),
    );
    wait_for(&unknown.err, "about the host", |l| {
        l.contains("could not find the computer")
    });
    assert_ne!(exit_code(&mut unknown), 0);
}

#[test]
fn a_port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut server = start(
        "server-gui",
        &["--headless", "--bind", "127.0.0.1", "--port", &port],
        None,
    );
    wait_for(&server.err, "about the port", |l| {
        l.contains("already in use")
    });
    assert_ne!(exit_code(&mut server), 0);
}

#[test]
fn a_client_waits_for_a_restarted_server_and_delivers_what_was_typed_meanwhile() {
    let key = common::Key::generate().unwrap().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let args = [
        "--headless",
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--name",
        "bob",
    ];
    let mut server = start("server-gui", &args, Some(&key));
    let addr = wait_for(&server.out, "listening: …", |l| {
        l.starts_with("listening: ")
    })[11..]
        .to_owned();
    let mut client = alice(&key, &addr);

    server.kill();
    wait_for(&client.err, "about the lost connection", |l| {
        l.starts_with("disconnected: ")
    });
    say(&mut client, "typed while the server was down");
    wait_for(&client.err, "about retrying", |l| {
        l.contains("trying again in")
    });

    let mut restarted = start("server-gui", &args, Some(&key));
    wait_for(&restarted.out, "the message typed meanwhile", |l| {
        l == "alice: typed while the server was down"
    });
    wait_for(&client.err, "reconnected", |l| {
        l.starts_with("connected to bob")
    });
    assert_eq!(exit_code(&mut client), 0);
    assert_eq!(exit_code(&mut restarted), 0);
}

#[test]
fn without_a_display_the_windows_say_so_and_point_to_headless() {
    for name in ["server-gui", "client-gui"] {
        let mut command = Command::new(binary(name));
        command
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("FERNET_CHAT_KEY")
            .stdin(Stdio::null());
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("--headless"), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}
