//! The span of one call through `Retrying`, and the ids its arguments add to it.

/// A DEBUG span named after the operation, with the fields every call span has. `attempt` starts
/// at 1 and is recorded again on each retry; the ids are recorded from the arguments by
/// [`trace_arg!`]. A span no subscriber wants is a no-op handle: creating it is a cached check.
macro_rules! call_span {
    ($name:expr, $backend:expr, $role:expr) => {
        ::tracing::debug_span!(
            target: "bindu::call",
            $name,
            operation = $name,
            backend = $backend,
            role = $role,
            attempt = 1u32,
            task_id = ::tracing::field::Empty,
            context_id = ::tracing::field::Empty,
            operation_id = ::tracing::field::Empty,
        )
    };
}

/// Records on `span` the ids an argument carries, picked by the argument's name (`task_id`,
/// `context_id`, `message`, `operation`, `request`); other arguments add nothing.
macro_rules! trace_arg {
    ($span:ident, task_id = $value:ident) => {
        $span.record("task_id", ::tracing::field::display(&$value));
    };
    ($span:ident, context_id = $value:ident) => {
        $span.record("context_id", ::tracing::field::display(&$value));
    };
    ($span:ident, message = $value:ident) => {
        if let Some(task_id) = &$value.task_id {
            $span.record("task_id", ::tracing::field::display(task_id));
        }
    };
    ($span:ident, operation = $value:ident) => {
        $span.record("operation_id", ::tracing::field::display(&$value.id));
        $span.record("task_id", ::tracing::field::display(&$value.action.task_id()));
    };
    ($span:ident, request = $value:ident) => {
        $span.record("operation_id", ::tracing::field::display(&$value.run));
    };
    ($span:ident, $other:ident = $value:ident) => {};
}

pub(crate) use {call_span, trace_arg};
