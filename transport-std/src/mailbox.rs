//! A connection's mailbox: commands and events for its task, from anywhere.
//!
//! Three queues behind one lock: commands (unbounded: at most a shutdown and a close are
//! ever sent), events from the connection's own handlers (bounded: a handler waits for
//! room), and events from the server handle (bounded: a full queue is reported at once, and
//! the caller applies the slow-reader policy). Queues hold no memory while empty, and the
//! task peeks at one flag instead of registering its waker on every step.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::extract::Disconnected;
use crate::server::{Control, Outbound};

pub(crate) struct Mailbox {
    queues: Mutex<Queues>,
    /// Set while a queue holds something; read without the lock.
    ready: AtomicBool,
    /// The connection task, once it waits.
    task: AtomicWaker,
    /// Handlers waiting for room in `events`.
    room: Notify,
    /// The bound of `events` and of `pushes`.
    capacity: usize,
}

#[derive(Default)]
struct Queues {
    control: VecDeque<Control>,
    events: VecDeque<Outbound>,
    pushes: VecDeque<Outbound>,
    closed: bool,
}

impl Queues {
    fn is_empty(&self) -> bool {
        self.control.is_empty() && self.events.is_empty() && self.pushes.is_empty()
    }
}

/// Why [`Mailbox::try_push`] did not queue an event.
pub(crate) enum PushError {
    Full,
    Closed,
}

/// Pops the front of `queue`, giving its memory back once it is empty.
fn pop<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let item = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    item
}

impl Mailbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queues: Mutex::new(Queues::default()),
            ready: AtomicBool::new(false),
            task: AtomicWaker::new(),
            room: Notify::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        // Nothing panics while holding the lock, and the queues stay consistent anyway.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues something under the lock (unless closed) and wakes the task.
    fn put(&self, put: impl FnOnce(&mut Queues) -> bool) -> bool {
        let queued = {
            let mut queues = self.lock();
            let queued = !queues.closed && put(&mut queues);
            if queued {
                self.ready.store(true, Ordering::Release);
            }
            queued
        };
        if queued {
            self.task.wake();
        }
        queued
    }

    /// Sends a command; `false` when the connection has ended.
    pub(crate) fn control(&self, control: Control) -> bool {
        self.put(|queues| {
            queues.control.push_back(control);
            true
        })
    }

    /// Queues a server event without waiting.
    pub(crate) fn try_push(&self, event: Outbound) -> Result<(), PushError> {
        let mut full = false;
        let queued = self.put(|queues| {
            full = queues.pushes.len() >= self.capacity;
            if !full {
                queues.pushes.push_back(event);
            }
            !full
        });
        match (queued, full) {
            (true, _) => Ok(()),
            (false, true) => Err(PushError::Full),
            (false, false) => Err(PushError::Closed),
        }
    }

    /// Queues an event from a handler, waiting while the queue is full.
    pub(crate) async fn send_event(&self, event: Outbound) -> Result<(), Disconnected> {
        let mut event = Some(event);
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before the check: room made after it is not missed.
            room.as_mut().enable();
            {
                let mut queues = self.lock();
                if queues.closed {
                    return Err(Disconnected);
                }
                if queues.events.len() < self.capacity {
                    queues.events.extend(event.take());
                    self.ready.store(true, Ordering::Release);
                }
            }
            if event.is_none() {
                self.task.wake();
                return Ok(());
            }
            room.await;
        }
    }

    /// Whether anything is queued (a peek: the task's waker is not registered).
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn take<T>(&self, pick: impl FnOnce(&mut Queues, usize) -> Option<T>) -> Option<T> {
        if !self.is_ready() {
            return None;
        }
        let mut queues = self.lock();
        let item = pick(&mut queues, self.capacity);
        self.ready.store(!queues.is_empty(), Ordering::Release);
        item
    }

    #[inline]
    pub(crate) fn take_control(&self) -> Option<Control> {
        if !self.is_ready() {
            return None;
        }
        self.take(|queues, _| pop(&mut queues.control))
    }

    #[inline]
    pub(crate) fn take_event(&self) -> Option<Outbound> {
        if !self.is_ready() {
            return None;
        }
        self.take_event_locked()
    }

    fn take_event_locked(&self) -> Option<Outbound> {
        let mut was_full = false;
        let event = self.take(|queues, capacity| {
            was_full = queues.events.len() >= capacity;
            pop(&mut queues.events)
        });
        if was_full && event.is_some() {
            self.room.notify_waiters();
        }
        event
    }

    #[inline]
    pub(crate) fn take_push(&self) -> Option<Outbound> {
        if !self.is_ready() {
            return None;
        }
        self.take(|queues, _| pop(&mut queues.pushes))
    }

    /// The task is about to wait: wake it when something is queued.
    pub(crate) fn register(&self, waker: &Waker) {
        self.task.register(waker);
    }

    /// The connection has ended: nothing more is queued, and waiting handlers return.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut queues = self.lock();
            queues.closed = true;
            self.ready.store(false, Ordering::Release);
            (
                std::mem::take(&mut queues.control),
                std::mem::take(&mut queues.events),
                std::mem::take(&mut queues.pushes),
            )
        };
        drop(dropped);
        self.room.notify_waiters();
    }
}

/// The task's end of a mailbox: closes it when dropped.
pub(crate) struct Inbox(pub(crate) std::sync::Arc<Mailbox>);

impl Drop for Inbox {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl std::ops::Deref for Inbox {
    type Target = Mailbox;

    fn deref(&self) -> &Mailbox {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn event(n: u32) -> Outbound {
        Outbound::event(Cow::Borrowed("n"), Arc::new(n))
    }

    #[test]
    fn bounded_pushes_and_commands() {
        let mailbox = Mailbox::new(2);
        assert!(!mailbox.is_ready());
        assert!(mailbox.try_push(event(1)).is_ok());
        assert!(mailbox.try_push(event(2)).is_ok());
        assert!(matches!(mailbox.try_push(event(3)), Err(PushError::Full)));
        assert!(mailbox.control(Control::Close {
            code: 1000,
            reason: Cow::Borrowed(""),
        }));
        assert!(mailbox.is_ready());
        assert!(mailbox.take_event().is_none());
        assert!(mailbox.take_control().is_some());
        assert!(mailbox.take_push().is_some());
        assert!(mailbox.take_push().is_some());
        assert!(mailbox.take_push().is_none());
        assert!(!mailbox.is_ready());
        mailbox.close();
        assert!(matches!(mailbox.try_push(event(4)), Err(PushError::Closed)));
        assert!(!mailbox.control(Control::Shutdown {
            deadline: tokio::time::Instant::now(),
        }));
        assert!(!mailbox.is_ready());
    }

    #[tokio::test]
    async fn a_full_event_queue_makes_handlers_wait() {
        let mailbox = Arc::new(Mailbox::new(1));
        mailbox.send_event(event(1)).await.unwrap();
        let waiting = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.send_event(event(2)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        assert!(mailbox.take_event().is_some());
        waiting.await.unwrap().unwrap();
        assert!(mailbox.take_event().is_some());
        assert!(mailbox.take_event().is_none());
    }

    #[tokio::test]
    async fn closing_releases_waiting_handlers() {
        let mailbox = Arc::new(Mailbox::new(1));
        mailbox.send_event(event(1)).await.unwrap();
        let waiting = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.send_event(event(2)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(Inbox(mailbox.clone()));
        assert_eq!(waiting.await.unwrap(), Err(Disconnected));
        assert_eq!(mailbox.send_event(event(3)).await, Err(Disconnected));
    }
}
