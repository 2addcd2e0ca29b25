//! A small fake PostgreSQL server for attack tests: it asks every client for a
//! cleartext password and records what it receives (startup parameters,
//! password, queries). It can refuse the password, or accept any and then
//! answer queries until one it was told to stall on, which it never answers.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// What one client session told the fake server.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub startup: Vec<(String, String)>,
    pub password: Option<String>,
    pub queries: Vec<String>,
}

impl Session {
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.startup
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Ask for a password, record it, answer "password authentication failed".
    RejectPassword,
    /// Ask for a password, then answer with an error message this many bytes long.
    RejectWithMessageOf(usize),
    /// Accept any password; answer simple queries with one NULL; never answer
    /// a query containing `stall_on`.
    AcceptAnyPassword { stall_on: Option<&'static str> },
}

pub struct FakePostgres {
    pub port: u16,
    sessions: Arc<Mutex<Vec<Session>>>,
    accepted: Arc<Mutex<usize>>,
    task: JoinHandle<()>,
}

impl FakePostgres {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake server");
        let port = listener.local_addr().expect("local address").port();
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0));
        let (recorded, counted) = (sessions.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                *counted.lock().unwrap() += 1;
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, behaviour, recorded).await;
                });
            }
        });
        Self {
            port,
            sessions,
            accepted,
            task,
        }
    }

    /// Every session that got as far as its startup message.
    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }

    /// TCP connections accepted, whatever they said.
    pub fn connections(&self) -> usize {
        *self.accepted.lock().unwrap()
    }

    /// Every password any client sent.
    pub fn passwords(&self) -> Vec<String> {
        self.sessions()
            .into_iter()
            .filter_map(|s| s.password)
            .collect()
    }
}

impl Drop for FakePostgres {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut socket: TcpStream,
    behaviour: Behaviour,
    sessions: Arc<Mutex<Vec<Session>>>,
) -> std::io::Result<()> {
    let startup = loop {
        let length = socket.read_i32().await?;
        let mut body = vec![0; usize::try_from(length - 4).unwrap_or(0)];
        socket.read_exact(&mut body).await?;
        let code = i32::from_be_bytes(body[..4].try_into().unwrap_or_default());
        match code {
            // SSLRequest, GSSENCRequest: "not here", then the real startup follows.
            80_877_103 | 80_877_104 => socket.write_all(b"N").await?,
            _ => break body[4..].to_vec(),
        }
    };
    let index = {
        let mut sessions = sessions.lock().unwrap();
        sessions.push(Session {
            startup: parameters(&startup),
            ..Session::default()
        });
        sessions.len() - 1
    };
    // AuthenticationCleartextPassword.
    socket
        .write_all(&message(b'R', &3i32.to_be_bytes()))
        .await?;
    let (kind, body) = read_message(&mut socket).await?;
    if kind != b'p' {
        return Ok(());
    }
    let password = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
    sessions.lock().unwrap()[index].password = Some(password);
    let stall_on = match behaviour {
        Behaviour::RejectPassword => {
            socket
                .write_all(&error(
                    "28P01",
                    "password authentication failed for user \"reader\"",
                ))
                .await?;
            return Ok(());
        }
        Behaviour::RejectWithMessageOf(length) => {
            socket
                .write_all(&error("28P01", &"x".repeat(length)))
                .await?;
            return Ok(());
        }
        Behaviour::AcceptAnyPassword { stall_on } => stall_on,
    };
    let mut greeting = message(b'R', &0i32.to_be_bytes());
    for (name, value) in [
        ("server_version", "15.0"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
    ] {
        greeting.extend(message(
            b'S',
            &[name.as_bytes(), b"\0", value.as_bytes(), b"\0"].concat(),
        ));
    }
    greeting.extend(message(
        b'K',
        &[1i32.to_be_bytes(), 2i32.to_be_bytes()].concat(),
    ));
    greeting.extend(ready());
    socket.write_all(&greeting).await?;
    loop {
        let (kind, body) = read_message(&mut socket).await?;
        match kind {
            b'Q' => {
                let query =
                    String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
                sessions.lock().unwrap()[index].queries.push(query.clone());
                if stall_on.is_some_and(|s| query.contains(s)) {
                    // Holds the socket open and never answers: a wedged server.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return Ok(());
                }
                socket.write_all(&one_null_row()).await?;
            }
            // The extended protocol is not spoken here: refuse at once.
            b'P' => {
                socket
                    .write_all(&error(
                        "0A000",
                        "the fake server only answers simple queries",
                    ))
                    .await?;
            }
            b'S' => socket.write_all(&ready()).await?,
            b'X' => return Ok(()),
            _ => {}
        }
    }
}

fn parameters(body: &[u8]) -> Vec<(String, String)> {
    let parts: Vec<String> = body
        .split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    parts
        .chunks(2)
        .filter(|pair| pair.len() == 2 && !pair[0].is_empty())
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

async fn read_message(socket: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let kind = socket.read_u8().await?;
    let length = socket.read_i32().await?;
    let mut body = vec![0; usize::try_from(length - 4).unwrap_or(0)];
    socket.read_exact(&mut body).await?;
    Ok((kind, body))
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let length = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    [&[kind][..], &length.to_be_bytes(), body].concat()
}

fn ready() -> Vec<u8> {
    message(b'Z', b"I")
}

fn error(code: &str, text: &str) -> Vec<u8> {
    let fields = [
        b"SERROR\0".as_slice(),
        b"VERROR\0",
        b"C",
        code.as_bytes(),
        b"\0M",
        text.as_bytes(),
        b"\0\0",
    ]
    .concat();
    message(b'E', &fields)
}

/// RowDescription (one text column), DataRow (NULL), CommandComplete, ReadyForQuery.
fn one_null_row() -> Vec<u8> {
    let column = [
        1i16.to_be_bytes().as_slice(),
        b"value\0",
        &0i32.to_be_bytes(),
        &0i16.to_be_bytes(),
        &25i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &(-1i32).to_be_bytes(),
        &0i16.to_be_bytes(),
    ]
    .concat();
    let row = [1i16.to_be_bytes().as_slice(), &(-1i32).to_be_bytes()].concat();
    [
        message(b'T', &column),
        message(b'D', &row),
        message(b'C', b"SELECT 1\0"),
        ready(),
    ]
    .concat()
}
