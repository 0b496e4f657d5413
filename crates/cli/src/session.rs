//! Sending one request to the service and turning its answers into output
//! and an exit code.

use std::io::Write;
use std::os::fd::BorrowedFd;
use wslp_config::Paths;
use wslp_ipc::client::{connect, ClientError};
use wslp_ipc::conn::Conn;
use wslp_ipc::protocol::{ClientMessage, DistroListing, Request, ServerMessage};

pub fn paths() -> Paths {
    Paths::from_env()
}

/// Prints a failure the way wslp prints every failure: to stderr, as given.
pub fn fail(text: &str, code: i32) -> i32 {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{}", text.trim_end());
    code
}

/// A failure wslp itself found, in WSL's two-line form: the message, then
/// `Error code: Wsl/<code>` (e.g. `E_INVALIDARG`, `Service/RPC_E_DISCONNECTED`).
pub fn fail_code(message: &str, code: &str, exit: i32) -> i32 {
    fail(
        &format!("{}\nError code: Wsl/{code}", message.trim_end()),
        exit,
    )
}

pub fn client_error(e: ClientError) -> i32 {
    let code = match &e {
        ClientError::NotRunningNotRoot => "Service/E_ACCESSDENIED",
        ClientError::Protocol(_) => "Service/RPC_E_DISCONNECTED",
        _ => "Service/ERROR_SERVICE_NOT_ACTIVE",
    };
    fail_code(&e.to_string(), code, 1)
}

pub fn open() -> Result<Conn, i32> {
    connect(&paths()).map_err(client_error)
}

/// Sends `req` (with `fds`) and returns the connection for the caller to read answers.
pub fn send(req: Request, fds: &[BorrowedFd<'_>]) -> Result<Conn, i32> {
    let conn = open()?;
    conn.send_with_fds(&ClientMessage::Request(req), fds)
        .map_err(|e| {
            fail(
                &format!("Cannot send the request to the wslp service: {e}"),
                1,
            )
        })?;
    Ok(conn)
}

/// For requests whose answers are text, a list, then Done or Failed.
pub fn simple(req: Request, on_list: impl FnOnce(Vec<DistroListing>) -> i32) -> i32 {
    let conn = match send(req, &[]) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut list_code = None;
    let mut on_list = Some(on_list);
    loop {
        match conn.recv::<ServerMessage>() {
            Ok((ServerMessage::Stdout(s), _)) => {
                print!("{s}");
                let _ = std::io::stdout().flush();
            }
            Ok((ServerMessage::Stderr(s), _)) => eprint!("{s}"),
            Ok((ServerMessage::List(l), _)) => {
                if let Some(f) = on_list.take() {
                    list_code = Some(f(l));
                }
            }
            Ok((ServerMessage::Done, _)) => return list_code.unwrap_or(0),
            Ok((ServerMessage::Failed { text, exit_code }, _)) => return fail(&text, exit_code),
            Ok((other, _)) => {
                return fail_code(
                    &format!("Unexpected answer from the wslp service: {other:?}"),
                    "Service/E_UNEXPECTED",
                    1,
                )
            }
            Err(e) => {
                return fail_code(
                    &format!("Lost the connection to the wslp service: {e}"),
                    "Service/RPC_E_DISCONNECTED",
                    1,
                )
            }
        }
    }
}
