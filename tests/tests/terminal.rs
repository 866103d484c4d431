//! Terminal mode end to end: the real binaries chat over loopback.
//! They are built by `cargo test` at the workspace root (both are members).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use tests::programs::binary;

const WAIT: Duration = Duration::from_secs(20);

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
    let (mut program, stdout) = start_to(name, args, key, Stdio::piped());
    program.out = lines(stdout.unwrap());
    program
}

/// [`start`] with stdout going to `stdout`, and given back if a pipe
/// (`out` then receives nothing).
fn start_to(
    name: &str,
    args: &[&str],
    key: Option<&str>,
    stdout: Stdio,
) -> (Program, Option<ChildStdout>) {
    start_command(&mut Command::new(binary(name)), args, key, stdout)
}

/// [`start_to`] for a `command` naming the program (maybe through
/// another, as `nohup` does).
fn start_command(
    command: &mut Command,
    args: &[&str],
    key: Option<&str>,
    stdout: Stdio,
) -> (Program, Option<ChildStdout>) {
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped());
    command.env_remove("FERNET_CHAT_KEY");
    if let Some(key) = key {
        command.env("FERNET_CHAT_KEY", key);
    }
    let mut child = command.spawn().unwrap();
    let (stdout, err) = (child.stdout.take(), lines(child.stderr.take().unwrap()));
    let program = Program {
        stdin: child.stdin.take(),
        child: Some(child),
        out: channel().1,
        err,
    };
    (program, stdout)
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

/// Writes `input` to its stdin, then closes it (EOF), as `printf … |` does,
/// from a thread so that a large input cannot block the test on a full pipe.
fn pipe_in(program: &mut Program, input: String) {
    let mut stdin = program.stdin.take().unwrap();
    std::thread::spawn(move || stdin.write_all(input.as_bytes()));
}

/// Waits for it to exit by itself (stdin untouched).
fn exits_by_itself(program: &mut Program) -> i32 {
    let mut child = program.child.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().map(|s| s.code().unwrap_or(-1)));
    });
    rx.recv_timeout(WAIT)
        .expect("the program did not exit")
        .unwrap()
}

/// Closes its stdin (EOF) and waits for it to exit.
fn exit_code(program: &mut Program) -> i32 {
    drop(program.stdin.take());
    exits_by_itself(program)
}

/// Every line still to come on `rx`, once the program has exited.
fn rest(rx: &Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(line) => lines.push(line),
            Err(RecvTimeoutError::Disconnected) => return lines,
            Err(RecvTimeoutError::Timeout) => panic!("the stream did not end: {lines:?}"),
        }
    }
}

/// `count` numbered lines of input.
fn numbered(count: usize) -> (String, Vec<String>) {
    let lines: Vec<String> = (0..count).map(|i| format!("line {i} of {count}")).collect();
    (lines.iter().map(|l| format!("{l}\n")).collect(), lines)
}

fn server() -> (Program, String, String) {
    server_with(&[])
}

/// [`server`] with `extra` arguments.
fn server_with(extra: &[&str]) -> (Program, String, String) {
    let mut args = vec![
        "--headless",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--name",
        "bob",
    ];
    args.extend(extra);
    let server = start("server-gui", &args, None);
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

fn client(addr: &str, key: Option<&str>, name: &str) -> Program {
    client_with(addr, key, name, &[])
}

/// [`client`] with `extra` arguments.
fn client_with(addr: &str, key: Option<&str>, name: &str, extra: &[&str]) -> Program {
    let mut args = vec!["--headless", "--connect", addr, "--name", name];
    args.extend(extra);
    start("client-gui", &args, key)
}

/// A terminal client named alice, connected to the server at `addr` (its
/// first two stderr lines, checked).
fn alice(key: &str, addr: &str) -> Program {
    let client = client(addr, Some(key), "alice");
    connected(&client, addr);
    client
}

/// alice's stderr begins with connecting to bob at `addr`, and who is in
/// the room.
fn connected(client: &Program, addr: &str) {
    let next = || client.err.recv_timeout(WAIT).unwrap();
    assert_eq!(next(), format!("connecting to {addr}…"));
    assert_eq!(next(), format!("connected to bob ({addr})"));
    assert_eq!(next(), "in the room: bob, you (alice)");
}

/// The server's stderr line for `name` joining from loopback.
fn joined(name: &str) -> impl Fn(&str) -> bool {
    let start = format!("{name} joined (127.0.0.1:");
    move |line: &str| line.starts_with(&start)
}

#[test]
fn two_terminals_chat_and_exit_cleanly_on_eof() {
    let (mut server, key, addr) = server();
    let mut client = alice(&key, &addr);
    wait_for(&server.err, "alice joining", joined("alice"));

    say(&mut client, "hello from alice 😀");
    wait_for(&server.out, "with the client's message", |l| {
        l == "alice: hello from alice 😀"
    });
    say(&mut server, "hi alice, ünïcode ok");
    wait_for(&client.out, "with the server's message", |l| {
        l == "bob: hi alice, ünïcode ok"
    });

    assert_eq!(exit_code(&mut client), 0, "EOF ends the client cleanly");
    wait_for(&server.err, "about alice leaving", |l| l == "alice left");
    assert!(server.running(), "the server keeps waiting");
    assert_eq!(exit_code(&mut server), 0);
    assert_eq!(rest(&client.out), Vec::<String>::new());
    assert_eq!(rest(&server.out), Vec::<String>::new());
}

#[test]
fn a_thousand_piped_lines_reach_the_server_once_in_order_before_the_client_says_bye() {
    // `… | client-gui --headless`: stdin ends before the client has even
    // connected; it connects, delivers everything, then says bye.
    let (mut server, key, addr) = server();
    let mut client = client(&addr, Some(&key), "alice");
    let (input, lines) = numbered(1000);
    pipe_in(&mut client, input);
    assert_eq!(exits_by_itself(&mut client), 0, "{:?}", rest(&client.err));
    wait_for(&server.err, "about the goodbye", |l| l == "alice left");
    assert_eq!(exit_code(&mut server), 0);
    let expected: Vec<String> = lines.iter().map(|l| format!("alice: {l}")).collect();
    assert_eq!(rest(&server.out), expected);
}

#[test]
fn a_server_with_piped_lines_waits_for_someone_and_delivers_a_thousand_once_in_order() {
    // `… | server-gui --headless`: stdin ends before anyone connects; it
    // waits, delivers everything, says bye and exits by itself.
    let (mut server, key, addr) = server();
    let (input, lines) = numbered(1000);
    pipe_in(&mut server, input);
    assert_eq!(
        server.err.recv_timeout(WAIT).unwrap(),
        "waiting for someone to connect…"
    );
    assert_eq!(
        server.err.recv_timeout(WAIT).unwrap(),
        "end of input: 1000 typed lines still to deliver; leaving once delivered (Ctrl+C leaves now)"
    );
    assert!(server.running(), "it waits for someone");

    let mut client = alice(&key, &addr);
    assert_eq!(exits_by_itself(&mut server), 0, "{:?}", rest(&server.err));
    // The client's stdin is still open: bob's goodbye ends it.
    assert_eq!(exits_by_itself(&mut client), 0);
    assert_eq!(rest(&client.err), ["disconnected: bob left (closed)"]);
    let expected: Vec<String> = lines.iter().map(|l| format!("bob: {l}")).collect();
    assert_eq!(rest(&client.out), expected);
}

#[test]
fn ctrl_c_leaves_at_once_and_exits_cleanly_when_everything_was_delivered() {
    let (mut server, key, addr) = server();
    // Ctrl+C is handled from before the first line a program prints, so
    // seeing alice's lines means SIGINT cannot kill her unhandled.
    let mut client = alice(&key, &addr);
    say(&mut client, "before the interrupt");
    wait_for(&server.out, "the message", |l| {
        l == "alice: before the interrupt"
    });

    interrupt(&client);
    wait_for(&server.err, "about alice leaving", |l| l == "alice left");
    assert_eq!(
        exits_by_itself(&mut client),
        0,
        "Ctrl+C ends the client cleanly"
    );
    assert_eq!(
        rest(&client.err),
        ["interrupted: everything typed was delivered"]
    );
    assert!(server.running(), "the server keeps waiting");
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn ctrl_c_says_how_many_lines_were_not_delivered_and_fails() {
    let (mut server, key, addr) = server();
    let mut client = alice(&key, &addr);
    server.kill();
    wait_for(&client.err, "about the lost connection", |l| {
        l.starts_with("disconnected: ")
    });
    // EOF while nobody can take the lines: the client keeps trying.
    pipe_in(&mut client, "one\ntwo\n".into());
    wait_for(&client.err, "about the end of input", |l| {
        l == "end of input: 2 typed lines still to deliver; leaving once delivered (Ctrl+C leaves now)"
    });
    wait_for(&client.err, "about retrying", |l| {
        l.contains("trying again in")
    });
    assert!(client.running(), "it keeps trying to deliver");

    interrupt(&client);
    assert_ne!(exits_by_itself(&mut client), 0);
    assert_eq!(
        rest(&client.err).last().map(String::as_str),
        Some("interrupted: 2 typed lines not delivered")
    );
}

/// Ctrl+C.
fn interrupt(program: &Program) {
    signal(program, "-INT");
}

/// `kill`, as a script, `timeout` or a service manager stops a program.
fn terminate(program: &Program) {
    signal(program, "-TERM");
}

fn signal(program: &Program, which: &str) {
    let pid = program.child.as_ref().unwrap().id().to_string();
    let sent = Command::new("kill").args([which, &pid]).status().unwrap();
    assert!(sent.success());
}

#[test]
fn a_server_told_to_stay_hosts_with_stdin_empty_and_sigterm_says_goodbye() {
    // A service's stdin: empty from the start.
    let (mut server, key, addr) = server_with(&["--stay"]);
    drop(server.stdin.take());
    let mut client = alice(&key, &addr);
    say(&mut client, "anyone there?");
    wait_for(&server.out, "alice's line", |l| l == "alice: anyone there?");
    assert!(server.running(), "the end of input did not end the room");

    terminate(&server);
    assert_eq!(exits_by_itself(&mut server), 0, "SIGTERM ends it cleanly");
    assert_eq!(
        rest(&server.err).last().map(String::as_str),
        Some("interrupted: everything typed was delivered")
    );
    // Told goodbye, not cut off: alice stops instead of reconnecting.
    wait_for(&client.err, "the goodbye", |l| {
        l == "disconnected: bob left (closed)"
    });
    assert_eq!(exits_by_itself(&mut client), 0);
}

#[test]
fn a_server_with_an_empty_stdin_says_why_it_leaves_and_how_to_stay() {
    let (mut server, _, _) = server();
    drop(server.stdin.take());
    assert_eq!(exits_by_itself(&mut server), 0);
    assert_eq!(
        rest(&server.err),
        [
            "waiting for someone to connect…",
            "end of input before anything was typed: leaving (--stay keeps the chat going after it)"
        ]
    );
}

#[test]
fn a_client_told_to_stay_follows_the_room_and_sigterm_says_goodbye() {
    let (mut server, key, addr) = server();
    // stdin empty from the start: without --stay it would say goodbye as
    // soon as it connected.
    let mut client = client_with(&addr, Some(&key), "alice", &["--stay"]);
    drop(client.stdin.take());
    connected(&client, &addr);
    say(&mut server, "still with us?");
    wait_for(&client.out, "bob's line", |l| l == "bob: still with us?");
    assert!(client.running(), "the end of input did not end the chat");

    terminate(&client);
    wait_for(&server.err, "alice saying goodbye", |l| l == "alice left");
    assert_eq!(exits_by_itself(&mut client), 0);
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn a_hangup_says_goodbye_as_sigterm_does() {
    let (server, key, addr) = server();
    let mut client = alice(&key, &addr);
    // The terminal it ran in was closed.
    signal(&client, "-HUP");
    wait_for(&server.err, "alice saying goodbye", |l| l == "alice left");
    assert_eq!(exits_by_itself(&mut client), 0);
}

#[test]
fn under_nohup_a_hangup_changes_nothing() {
    let (mut server, key, addr) = server();
    // nohup starts it with SIGHUP ignored, and that must hold.
    let args = ["--headless", "--connect", &addr, "--name", "alice"];
    let (mut client, stdout) = start_command(
        Command::new("nohup").arg(binary("client-gui")),
        &args,
        Some(&key),
        Stdio::piped(),
    );
    client.out = lines(stdout.unwrap());
    connected(&client, &addr);
    signal(&client, "-HUP");
    // Still chatting both ways after it.
    say(&mut server, "still there?");
    wait_for(&client.out, "bob's line", |l| l == "bob: still there?");
    say(&mut client, "yes");
    wait_for(&server.out, "alice's line", |l| l == "alice: yes");
    assert!(client.running(), "the hangup was ignored");
}

#[test]
fn a_client_whose_stdout_is_on_a_full_disk_pauses_and_says_what_it_could_not_write() {
    let (mut server, key, addr) = server();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let args = ["--headless", "--connect", &addr, "--name", "alice"];
    let (mut client, _) = start_to("client-gui", &args, Some(&key), full.into());
    connected(&client, &addr);
    say(&mut server, "hello");
    wait_for(&client.err, "about the full disk", |l| {
        l.starts_with("cannot write to stdout (No space left on device")
            && l.ends_with("the chat pauses until it can (trying again every 1 s)")
    });
    assert!(client.running(), "a full disk is waited out");

    interrupt(&client);
    assert_ne!(exits_by_itself(&mut client), 0);
    assert_eq!(
        rest(&client.err),
        [
            "interrupted: everything typed was delivered",
            "1 received message could not be written to stdout"
        ]
    );
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn a_client_whose_stdout_reader_goes_away_says_goodbye_and_fails() {
    let (mut server, key, addr) = server();
    let args = ["--headless", "--connect", &addr, "--name", "alice"];
    let (mut client, stdout) = start_to("client-gui", &args, Some(&key), Stdio::piped());
    connected(&client, &addr);
    // `| head -1`: one line read, then the reader is gone.
    let mut reader = BufReader::new(stdout.unwrap());
    say(&mut server, "first");
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "bob: first\n");
    drop(reader);

    say(&mut server, "second");
    wait_for(&server.err, "alice saying goodbye", |l| l == "alice left");
    assert_ne!(exits_by_itself(&mut client), 0);
    assert_eq!(
        rest(&client.err),
        ["stdout was closed (nothing reads it any more): leaving; 1 received message not shown"]
    );
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn a_wrong_key_fails_the_client_with_one_line_and_the_server_keeps_waiting() {
    let (mut server, key, addr) = server();
    let wrong = common::Key::generate().unwrap().to_string();
    let mut client = client(&addr, Some(&wrong), "alice");
    drop(client.stdin.take());
    assert_ne!(exits_by_itself(&mut client), 0);
    assert_eq!(
        rest(&client.err),
        [
            format!("connecting to {addr}…"),
            "error: the server uses a different key: paste the key its window shows".into(),
        ]
    );
    wait_for(&server.err, "about the attempt", |l| {
        l == "127.0.0.1 tried a different key"
    });

    let mut right = alice(&key, &addr);
    assert_eq!(exit_code(&mut right), 0);
    assert_eq!(exit_code(&mut server), 0);
}

#[test]
fn refused_and_unresolvable_addresses_fail_with_one_line() {
    let key = common::Key::generate().unwrap().to_string();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut refused = client(&free, Some(&key), "alice");
    drop(refused.stdin.take());
    assert_ne!(exits_by_itself(&mut refused), 0);
    assert_eq!(
        rest(&refused.err),
        [
            format!("connecting to {free}…"),
            format!(
                "error: {free} refused the connection: is the server window open, and the port right?"
            ),
        ]
    );
    // `</dev/null`: nothing typed, and still an error.
    let mut unknown = client("no-such-host.invalid", Some(&key), "alice");
    drop(unknown.stdin.take());
    assert_ne!(exits_by_itself(&mut unknown), 0);
    assert_eq!(
        rest(&unknown.err),
        [
            "connecting to no-such-host.invalid:7878…",
            "error: could not find the computer \"no-such-host.invalid\": check the address",
        ]
    );
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
    assert_ne!(exit_code(&mut server), 0);
    assert_eq!(
        rest(&server.err),
        [format!(
            "error: port {port} is already in use by another program: pick another port"
        )]
    );
    assert_eq!(rest(&server.out), Vec::<String>::new());
}

/// A server named bob with `key` on 127.0.0.1:`port`, and its address.
fn server_at(key: &str, port: &str) -> (Program, String) {
    let args = [
        "--headless",
        "--bind",
        "127.0.0.1",
        "--port",
        port,
        "--name",
        "bob",
    ];
    let server = start("server-gui", &args, Some(key));
    assert_eq!(
        server.out.recv_timeout(WAIT).unwrap(),
        format!("key: {key}")
    );
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(
        server.out.recv_timeout(WAIT).unwrap(),
        format!("listening: {addr}")
    );
    (server, addr)
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
    let (mut server, addr) = server_at(&key, &port);
    let mut client = alice(&key, &addr);

    server.kill();
    wait_for(&client.err, "about the lost connection", |l| {
        l.starts_with("disconnected: ")
    });
    say(&mut client, "typed while the server was down");
    wait_for(&client.err, "about retrying", |l| {
        l.contains("trying again in")
    });

    let (mut restarted, _) = server_at(&key, &port);
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
fn what_a_peer_sends_cannot_act_on_the_terminal() {
    let (mut server, key, addr) = server();
    // A right-to-left override in the name, and in the text: OSC 52 (write
    // the clipboard), clear screen, C1 CSI, and a CR to overwrite the line.
    let mut client = client(&addr, Some(&key), "mallory\u{202e}gnp.exe");
    say(
        &mut client,
        "\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{9b}31mhi\rthere",
    );
    let joined = wait_for(&server.err, "joined", |l| l.contains(" joined ("));
    assert!(
        joined.starts_with("mallorygnp.exe joined (127.0.0.1:"),
        "{joined}"
    );
    assert_eq!(
        server.out.recv_timeout(WAIT).unwrap(),
        r"mallorygnp.exe: \u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{9b}31mhi\u{d}there"
    );
    assert_eq!(exit_code(&mut client), 0);
    assert_eq!(exit_code(&mut server), 0);
    assert_eq!(rest(&server.out), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn a_key_file_other_users_can_read_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;

    let (mut server, key, addr) = server();
    let path = std::env::temp_dir().join(format!("fernet-chat-key-{}", std::process::id()));
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let path_arg = path.to_str().unwrap();
    let with_file = || {
        start(
            "client-gui",
            &[
                "--headless",
                "--connect",
                &addr,
                "--key-file",
                path_arg,
                "--name",
                "alice",
            ],
            None,
        )
    };

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut shared = with_file();
    assert_eq!(
        shared.err.recv_timeout(WAIT).unwrap(),
        format!(
            "warning: other users have access to the key file {path_arg} (mode 644); \
             only you should: chmod 600 {path_arg}"
        )
    );
    connected(&shared, &addr);
    assert_eq!(exit_code(&mut shared), 0);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut private = with_file();
    connected(&private, &addr);
    assert_eq!(exit_code(&mut private), 0);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(exit_code(&mut server), 0);
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

#[test]
fn a_room_size_out_of_range_is_one_clear_line() {
    for size in ["1", "257", "many"] {
        let mut server = start(
            "server-gui",
            &["--headless", "--bind", "127.0.0.1", "--max-members", size],
            None,
        );
        assert_eq!(exit_code(&mut server), 2, "a usage error");
        let err = rest(&server.err);
        assert!(
            err[0].contains(&format!(
                "a room holds 2 to 256 members, you included; `{size}` is not one of those numbers"
            )),
            "{err:?}"
        );
        assert_eq!(rest(&server.out), Vec::<String>::new(), "nothing started");
    }
}

#[test]
fn three_terminals_in_one_room_each_line_reaches_both_others_and_joins_and_leaves_are_told() {
    let (mut server, key, addr) = server();
    let mut alice = alice(&key, &addr);
    wait_for(&server.err, "alice joining", joined("alice"));
    let mut carol = client(&addr, Some(&key), "carol");
    let next = || carol.err.recv_timeout(WAIT).unwrap();
    assert_eq!(next(), format!("connecting to {addr}…"));
    assert_eq!(next(), format!("connected to bob ({addr})"));
    assert_eq!(next(), "in the room: bob, alice, you (carol)");
    wait_for(&server.err, "carol joining", joined("carol"));
    assert!(
        joined("carol")(&alice.err.recv_timeout(WAIT).unwrap()),
        "alice is told of carol first"
    );

    say(&mut alice, "from alice");
    say(&mut carol, "from carol");
    say(&mut server, "from bob");
    let two_lines = |program: &Program| {
        let mut got = [
            program.out.recv_timeout(WAIT).unwrap(),
            program.out.recv_timeout(WAIT).unwrap(),
        ];
        got.sort();
        got
    };
    assert_eq!(
        two_lines(&server),
        ["alice: from alice", "carol: from carol"]
    );
    assert_eq!(two_lines(&alice), ["bob: from bob", "carol: from carol"]);
    assert_eq!(two_lines(&carol), ["alice: from alice", "bob: from bob"]);

    assert_eq!(exit_code(&mut carol), 0, "EOF ends carol cleanly");
    assert_eq!(alice.err.recv_timeout(WAIT).unwrap(), "carol left");
    wait_for(&server.err, "carol leaving", |l| l == "carol left");
    assert_eq!(exit_code(&mut alice), 0);
    wait_for(&server.err, "alice leaving", |l| l == "alice left");
    assert_eq!(exit_code(&mut server), 0);
    for program in [&server, &alice, &carol] {
        assert_eq!(rest(&program.out), Vec::<String>::new(), "nothing twice");
    }
}
