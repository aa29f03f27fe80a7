//! The spans: a task followed by its id from `submit_task` to its result write, through the
//! worker's span for its run, under which the storage and scheduler calls nest.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindu::worker::Worker;
use bindu::{InMemoryScheduler, InMemoryStorage, Retrying, Scheduler, Storage, TaskState};
use common::{TestAgent, fast_options, submit, wait_for_state};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One span as seen: its name, its fields (as text) and its parent's id.
#[derive(Clone, Debug)]
struct Seen {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
}

/// Every span of the thread's subscriber, by id.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, Seen>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx.span(id).and_then(|span| span.parent()).map(|parent| parent.id().into_u64());
        let seen = Seen { name: attrs.metadata().name(), fields, parent };
        self.0.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(seen) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }
}

impl Spans {
    fn all(&self) -> Vec<(u64, Seen)> {
        self.0.lock().unwrap().iter().map(|(id, seen)| (*id, seen.clone())).collect()
    }

    /// The names of the span's ancestors, nearest first.
    fn ancestors(&self, mut id: u64) -> Vec<&'static str> {
        let spans = self.0.lock().unwrap();
        let mut names = Vec::new();
        while let Some(parent) = spans.get(&id).and_then(|seen| seen.parent) {
            names.push(spans[&parent].name);
            id = parent;
        }
        names
    }
}

#[tokio::test]
async fn a_task_is_followed_from_submit_task_to_its_result_write() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let storage: Arc<dyn Storage> = Arc::new(Retrying::new(InMemoryStorage::new()).named("memory"));
    let scheduler: Arc<dyn Scheduler> = Arc::new(Retrying::new(InMemoryScheduler::new()).named("memory"));
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), TestAgent::echo())
        .with_options(fast_options(1))
        .spawn();
    let task = submit(&*storage, &*scheduler, "follow me").await;
    wait_for_state(&*storage, task.id, TaskState::Completed, Duration::from_secs(20)).await;
    worker.shutdown(Duration::from_secs(5)).await;

    let task_id = task.id.to_string();
    let all = spans.all();
    let of_task = |name: &str| {
        all.iter()
            .filter(|(_, seen)| seen.name == name && seen.fields.get("task_id") == Some(&task_id))
            .collect::<Vec<_>>()
    };
    let submitted = of_task("submit_task");
    assert_eq!(submitted.len(), 1, "the submit's span carries the message's task id");
    let fields = &submitted[0].1.fields;
    assert_eq!((fields["backend"].as_str(), fields["role"].as_str()), ("memory", "storage"));
    assert_eq!((fields["operation"].as_str(), fields["attempt"].as_str()), ("submit_task", "1"));

    let enqueued = of_task("enqueue");
    assert_eq!(enqueued.len(), 1);
    let operation_id = enqueued[0].1.fields["operation_id"].clone();

    let runs = of_task("operation");
    assert_eq!(runs.len(), 1, "one span for the run: {runs:?}");
    let (_, run) = runs[0];
    assert_eq!(run.fields["action"], "run");
    assert_eq!(run.fields["operation_id"], operation_id, "the run's span names the enqueued operation");
    assert_eq!(run.fields["context_id"], task.context_id.to_string());

    // The claim, the result write and the acknowledgement nest under the run's span.
    let under_run = |name: &str| {
        all.iter().any(|(id, seen)| seen.name == name && spans.ancestors(*id).first() == Some(&"operation"))
    };
    for call in ["claim_task", "update_task"] {
        assert!(under_run(call), "no {call} span under the run");
    }
    let claims = of_task("claim_task");
    assert_eq!(claims[0].1.fields["operation_id"], operation_id, "the claim names its run");
    let writes = of_task("update_task");
    assert!(
        writes.iter().any(|(id, _)| spans.ancestors(*id).contains(&"operation")),
        "the result write is followed by the task id under the run"
    );
    assert!(run.parent.is_none(), "the run's span is a root");
}
