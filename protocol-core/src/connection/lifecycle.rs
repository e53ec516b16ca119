//! What both roles share: the two states, the timers, the close handshake, and the events
//! that end a connection (each reported exactly once).

use super::timer::{Timer, TimerTable};
use super::{CallError, Config, Event, Exit, Initiator, ProtocolError, State, Transmit};
use crate::codec::{CodecSet, EncodeError, MessageKind};
use crate::limits::MAX_CLOSE_REASON_LEN;
use crate::time::Instant;

/// What to do with a received message.
pub(crate) enum Admission<W> {
    /// Decode it with this codec.
    Process(W),
    /// Drop it: we have sent our close frame (RFC 6455 §5.5.1).
    Ignore,
    /// The peer broke the protocol; the core queued a close.
    Closing(ProtocolError),
}

/// The terminal event's progress: it is reported once, and only after the connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Running,
    Pending(Event),
    Reported,
}

/// `SERVER` says which side this connection is: the *local* state is the application's on a
/// server and the client's on a client; the *peer* state is the other one. A constant, so
/// that a one-role firmware image carries no code for the other role.
#[derive(Debug)]
pub(crate) struct Lifecycle<const SERVER: bool> {
    pub(crate) config: Config,
    pub(crate) client: State,
    pub(crate) app: State,
    accepted: bool,
    timers: TimerTable,
    /// The code of the close frame we sent (or queued), once we close.
    local_close: Option<u16>,
    /// A close the core decided on, waiting for `poll_transmit`.
    queued_close: Option<(u16, &'static str)>,
    ping_due: bool,
    protocol_error: Option<ProtocolError>,
    ending: Ending,
}

impl<const SERVER: bool> Lifecycle<SERVER> {
    pub(crate) fn new(now: Instant, config: Config) -> Self {
        let mut timers = TimerTable::default();
        timers.set(Timer::Handshake, now + config.handshake_timeout);
        Self {
            config,
            client: State::Connecting,
            app: State::Connecting,
            accepted: false,
            timers,
            local_close: None,
            queued_close: None,
            ping_due: false,
            protocol_error: None,
            ending: Ending::Running,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.client == State::Connected && self.app == State::Connected
    }

    fn local(&self) -> State {
        if SERVER { self.app } else { self.client }
    }

    fn peer(&self) -> State {
        if SERVER { self.client } else { self.app }
    }

    fn set_local(&mut self, state: State) {
        if SERVER {
            self.app = state;
        } else {
            self.client = state;
        }
    }

    /// The client's side of the handshake happened.
    pub(crate) fn client_connected(&mut self) -> Result<(), CallError> {
        match self.client {
            State::Connecting => {
                self.client = State::Connected;
                Ok(())
            }
            State::Connected => Err(CallError::AlreadyConnected),
            State::Disconnected => Err(CallError::ReceiveAfterDisconnect),
        }
    }

    /// Checks that the application side may accept or reject now.
    pub(crate) fn check_can_answer_handshake(&self) -> Result<(), CallError> {
        match (self.client, self.app) {
            (_, State::Connected | State::Disconnected) => Err(CallError::AlreadyAccepted),
            (State::Connecting, _) => Err(CallError::NotConnected),
            (State::Disconnected, _) => Err(CallError::ReceiveAfterDisconnect),
            (State::Connected, State::Connecting) => Ok(()),
        }
    }

    pub(crate) fn accept(&mut self, now: Instant) -> Result<(), CallError> {
        self.check_can_answer_handshake()?;
        self.app = State::Connected;
        self.accepted = true;
        self.timers.stop(Timer::Handshake);
        self.touch(now);
        Ok(())
    }

    /// The handshake failed (rejected by the application, or refused by the server).
    pub(crate) fn reject(&mut self, outcome: Option<Event>) -> Result<(), CallError> {
        self.check_can_answer_handshake()?;
        self.app = State::Disconnected;
        self.client = State::Disconnected;
        self.timers.stop_all();
        self.ending = outcome.map_or(Ending::Reported, Ending::Pending);
        Ok(())
    }

    /// Something arrived from the peer: it is alive.
    pub(crate) fn touch(&mut self, now: Instant) {
        if let Some(idle) = self.config.idle_timeout {
            self.timers.set(Timer::Idle, now + idle);
        }
        if let Some(interval) = self.config.keepalive_interval {
            self.timers.set(Timer::KeepAlive, now + interval);
        }
    }

    /// Checks that this side may send a data frame now.
    pub(crate) fn check_can_send(&self) -> Result<(), CallError> {
        if self.client == State::Connecting || self.app == State::Connecting {
            return Err(CallError::NotAccepted);
        }
        if self.local() == State::Disconnected || self.peer() == State::Disconnected {
            return Err(CallError::SendAfterClose);
        }
        Ok(())
    }

    /// Checks that a message may be received now: `Ok(true)` to process it, `Ok(false)` to
    /// ignore it (we are closing: RFC 6455 §5.5.1 lets data after our close frame go).
    pub(crate) fn check_can_receive(&self) -> Result<bool, CallError> {
        if self.client == State::Connecting {
            return Err(CallError::NotConnected);
        }
        if self.app == State::Connecting {
            return Err(CallError::NotAccepted);
        }
        if self.peer() == State::Disconnected {
            return Err(CallError::ReceiveAfterDisconnect);
        }
        Ok(self.local() == State::Connected)
    }

    /// The common first steps for a received message: may it be received, is the peer alive,
    /// is it the negotiated message type.
    pub(crate) fn admit<W: CodecSet>(
        &mut self,
        now: Instant,
        kind: MessageKind,
        codec: Option<W>,
    ) -> Result<Admission<W>, CallError> {
        if !self.check_can_receive()? {
            return Ok(Admission::Ignore);
        }
        let codec = codec.ok_or(CallError::NotAccepted)?;
        self.touch(now);
        if kind != codec.message_kind() {
            let error = ProtocolError::UnsupportedMessageKind;
            self.fail(now, error);
            return Ok(Admission::Closing(error));
        }
        Ok(Admission::Process(codec))
    }

    /// Validates a close by this side, writes its reason into `out` and moves the local state
    /// to DISCONNECTED. Nothing changes on error.
    pub(crate) fn close(
        &mut self,
        now: Instant,
        code: u16,
        reason: &str,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        self.check_can_send()?;
        if !is_sendable_close_code(code) {
            return Err(CallError::InvalidCloseCode);
        }
        if reason.len() > MAX_CLOSE_REASON_LEN {
            return Err(CallError::CloseReasonTooLong);
        }
        let transmit = write_close(code, reason, out)?;
        self.start_close(now, code);
        Ok(transmit)
    }

    /// The core closes because of `error`: queued for `poll_transmit`, reported once.
    pub(crate) fn fail(&mut self, now: Instant, error: ProtocolError) {
        if self.local() != State::Connected {
            return;
        }
        let (code, reason) = error.close();
        self.queued_close = Some((code, reason));
        self.protocol_error.get_or_insert(error);
        self.start_close(now, code);
    }

    fn start_close(&mut self, now: Instant, code: u16) {
        self.set_local(State::Disconnected);
        self.local_close = Some(code);
        self.ping_due = false;
        self.timers.stop_all();
        self.timers
            .set(Timer::Close, now + self.config.close_timeout);
    }

    /// The peer's close frame arrived.
    pub(crate) fn peer_closed(&mut self, code: Option<u16>) -> Result<(), CallError> {
        if self.client == State::Connecting {
            return Err(CallError::NotConnected);
        }
        match self.peer() {
            State::Connecting => return Err(CallError::NotAccepted),
            State::Disconnected => return Err(CallError::ReceiveAfterDisconnect),
            State::Connected => {}
        }
        let exit = match self.local_close {
            // Ours went first: this is the answer.
            Some(ours) => Exit {
                initiator: Initiator::Local,
                code: Some(ours),
                clean: true,
            },
            // Theirs went first: the WebSocket layer echoes it.
            None => Exit {
                initiator: Initiator::Peer,
                code,
                clean: true,
            },
        };
        self.end(exit);
        Ok(())
    }

    /// The transport is gone (TCP closed or failed), with or without close frames.
    pub(crate) fn transport_closed(&mut self) {
        if self.client == State::Disconnected && self.app == State::Disconnected {
            return;
        }
        let exit = match self.local_close {
            Some(ours) => Exit {
                initiator: Initiator::Local,
                code: Some(ours),
                clean: false,
            },
            None => Exit {
                initiator: Initiator::Transport,
                code: None,
                clean: false,
            },
        };
        self.end(exit);
    }

    fn end(&mut self, exit: Exit) {
        self.client = State::Disconnected;
        self.app = State::Disconnected;
        self.queued_close = None;
        self.ping_due = false;
        self.timers.stop_all();
        if self.ending == Ending::Running {
            self.ending = if self.accepted {
                Ending::Pending(Event::Exit(exit))
            } else {
                Ending::Reported
            };
        }
    }

    pub(crate) fn set_timer(&mut self, timer: Timer, at: Option<Instant>) {
        match at {
            Some(at) => self.timers.set(timer, at),
            None => self.timers.stop(timer),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<(Instant, Timer)> {
        self.timers.next()
    }

    /// Fires the lifecycle timers due at `now`. Early calls do nothing.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.timers.is_expired(Timer::Handshake, now) {
            self.timers.stop_all();
            if self.app == State::Connecting {
                self.client = State::Disconnected;
                self.app = State::Disconnected;
                self.ending = Ending::Pending(Event::HandshakeTimedOut);
            }
            return;
        }
        if self.timers.is_expired(Timer::Close, now) {
            let exit = Exit {
                initiator: Initiator::Local,
                code: self.local_close,
                clean: false,
            };
            self.end(exit);
            return;
        }
        if self.timers.is_expired(Timer::Idle, now) {
            self.fail(now, ProtocolError::IdleTimeout);
            return;
        }
        if self.timers.is_expired(Timer::KeepAlive, now) {
            self.ping_due = true;
            match self.config.keepalive_interval {
                Some(interval) => self.timers.set(Timer::KeepAlive, now + interval),
                None => self.timers.stop(Timer::KeepAlive),
            }
        }
    }

    pub(crate) fn take_ping(&mut self) -> bool {
        core::mem::take(&mut self.ping_due)
    }

    /// The ping the keep-alive asked for, if any.
    pub(crate) fn poll_ping(&mut self) -> Option<Transmit> {
        self.take_ping().then_some(Transmit::Ping)
    }

    /// The close frame the core decided on, written into `out`. It stays queued when `out`
    /// is too small.
    pub(crate) fn poll_queued_close(
        &mut self,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, EncodeError> {
        let Some((code, reason)) = self.queued_close else {
            return Ok(None);
        };
        let transmit = write_close(code, reason, out).map_err(|_| EncodeError::BufferTooSmall {
            required: Some(reason.len()),
        })?;
        self.queued_close = None;
        Ok(Some(transmit))
    }

    pub(crate) fn poll_protocol_error(&mut self) -> Option<Event> {
        // Reported once: the error stays recorded, the flag that it is unreported goes.
        self.protocol_error.take().map(Event::ProtocolError)
    }

    /// The terminal event, once everything else has been reported.
    pub(crate) fn poll_ending(&mut self) -> Option<Event> {
        match self.ending {
            Ending::Pending(event) => {
                self.ending = Ending::Reported;
                Some(event)
            }
            Ending::Running | Ending::Reported => None,
        }
    }

    pub(crate) fn is_drained(&self) -> bool {
        self.ending == Ending::Reported && self.queued_close.is_none()
    }
}

/// Writes a close frame's reason into `out`.
fn write_close(code: u16, reason: &str, out: &mut [u8]) -> Result<Transmit, CallError> {
    let Some(dst) = out.get_mut(..reason.len()) else {
        let required = Some(reason.len());
        return Err(CallError::Encode(EncodeError::BufferTooSmall { required }));
    };
    dst.copy_from_slice(reason.as_bytes());
    Ok(Transmit::Close {
        code,
        reason_len: reason.len(),
    })
}

/// Codes an endpoint may put in a close frame (RFC 6455 §7.4): 1000-1003, 1007-1011, 1012-1014
/// (registered since), and 3000-4999.
pub(crate) const fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_close_codes() {
        for ok in [1000, 1001, 1003, 1008, 1011, 3000, 4401, 4999] {
            assert!(is_sendable_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!is_sendable_close_code(bad), "{bad}");
        }
    }
}
