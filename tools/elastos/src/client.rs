//! The protocol client: a hello, then one request and its response at a
//! time, over any byte stream (the vsock socket, or a Unix socket in tests).

use elastos_control::protocol::{DecodeError, MAX_FRAME, MAX_PACKAGE};
use elastos_control::{ControlError, Request, Response, PROTOCOL_VERSION};
use std::io::{self, Read, Write};

/// What can go wrong talking to the Elastos side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The Elastos side refused or failed the request; shown as its kind and
    /// reason (`package refused: ...`).
    #[error("{0}")]
    Refused(ControlError),
    /// No answer within the timeout.
    #[error("the Elastos side did not answer in time (try --timeout with more seconds)")]
    TimedOut,
    /// The connection closed or broke.
    #[error("the connection to the Elastos side broke: {0}")]
    Connection(io::Error),
    /// The answer cannot be read as a response.
    #[error("the Elastos side sent an answer this command cannot read ({0:?})")]
    Unreadable(DecodeError),
    /// The answer is larger than any the protocol allows.
    #[error("the Elastos side sent an answer of {0} bytes, more than the protocol allows")]
    TooLarge(usize),
    /// An answer of another kind than the request asks for.
    #[error("the Elastos side answered a {0} request with something else")]
    Mismatched(&'static str),
    /// A package over the protocol's limit.
    #[error("the package is {0} bytes; a package may be at most {MAX_PACKAGE} bytes")]
    PackageTooLarge(usize),
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Self::TimedOut,
            _ => Self::Connection(error),
        }
    }
}

/// A connection speaking the control protocol.
pub struct Client<S> {
    stream: S,
}

impl<S: Read + Write> Client<S> {
    /// Greets the Elastos side on `stream` and checks its protocol version.
    pub fn connect(stream: S) -> Result<Self, ClientError> {
        let mut client = Self { stream };
        match client.exchange(&Request::Hello { version: PROTOCOL_VERSION })? {
            Response::Welcome { version } if version == PROTOCOL_VERSION => Ok(client),
            Response::Welcome { .. } => Err(ClientError::Mismatched("hello")),
            Response::Error(error) => Err(ClientError::Refused(error)),
            _ => Err(ClientError::Mismatched("hello")),
        }
    }

    /// Sends a request and returns its answer; an error answer is
    /// [`ClientError::Refused`].
    pub fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        if let Request::Install { package } = request {
            if package.len() > MAX_PACKAGE {
                return Err(ClientError::PackageTooLarge(package.len()));
            }
        }
        match self.exchange(request)? {
            Response::Error(error) => Err(ClientError::Refused(error)),
            response if answers(request, &response) => Ok(response),
            _ => Err(ClientError::Mismatched(request.name())),
        }
    }

    fn exchange(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.stream.write_all(&request.to_frame())?;
        self.stream.flush()?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix)?;
        let length = u32::from_le_bytes(prefix) as usize;
        if length > MAX_FRAME {
            return Err(ClientError::TooLarge(length));
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body)?;
        Response::decode(&body).map_err(ClientError::Unreadable)
    }
}

/// Whether `response` is the kind of answer `request` expects.
fn answers(request: &Request, response: &Response) -> bool {
    matches!(
        (request, response),
        (Request::Install { .. }, Response::Installed(_))
            | (Request::List, Response::Dapps(_))
            | (Request::Start { .. }, Response::Started(_))
            | (Request::Stop { .. }, Response::Stopped(_))
            | (Request::Remove { .. }, Response::Removed { .. })
            | (Request::Logs { .. }, Response::Logs(_))
            | (Request::Status, Response::Status(_))
            | (Request::Requests, Response::Requests(_))
            | (Request::Approve { .. }, Response::Approved(_))
            | (Request::Deny { .. }, Response::Denied(_))
            | (Request::Audit, Response::Audit(_))
            | (Request::Identity, Response::Identity(_))
    )
}
