//! What the decorator benchmarks share: polling an in-memory call to completion, and a storage
//! holding one realistic task to call.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bindu::{ContextId, Message, Storage, TaskId, TaskState, TaskUpdate};

pub fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

pub struct Side {
    storage: Box<dyn Storage>,
    message: Message,
    context: ContextId,
    task_id: TaskId,
}

impl Side {
    pub fn new(storage: Box<dyn Storage>) -> Self {
        let context = ContextId::new();
        let message = Message::user_text("a short question for the agent").for_task(TaskId::new());
        let task_id = ready(storage.submit_task(context, &message, None)).unwrap().task.id;
        let mut update = TaskUpdate::to(TaskState::Working);
        for i in 0..4 {
            update =
                update.with_message(Message::agent_text(format!("message number {i} of the conversation")));
        }
        ready(storage.update_task(task_id, &update)).unwrap();
        Self { storage, message, context, task_id }
    }

    pub fn call(&self, operation: &str, turn: usize) {
        const UPDATES: [TaskState; 2] = [TaskState::InputRequired, TaskState::Working];
        match operation {
            "load_task" => drop(black_box(ready(self.storage.load_task(black_box(self.task_id), None)))),
            "update_task" => {
                let update = TaskUpdate::to(UPDATES[turn % 2]);
                drop(black_box(ready(self.storage.update_task(black_box(self.task_id), &update))));
            }
            _ => {
                drop(black_box(ready(self.storage.submit_task(black_box(self.context), &self.message, None))))
            }
        }
    }

    /// Nanoseconds per call over a batch.
    pub fn batch(&self, operation: &str, calls: usize) -> f64 {
        let started = Instant::now();
        for turn in 0..calls {
            self.call(operation, turn);
        }
        started.elapsed().as_nanos() as f64 / calls as f64
    }
}
