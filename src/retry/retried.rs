//! The body of every forwarded `Retrying` method (`forwarding.rs` writes the signatures).

/// The inner call through the one retry loop, under the role's policy when the decorator has
/// none of its own: `retried!((ROLE, "role") self, CALL, method, args…)`, where `ROLE` names the
/// [`RetryPolicy`](super::RetryPolicy) constant of the role and `CALL` the [`Call`](super::Call)
/// entry that says whether the operation is idempotent.
///
/// Arguments are ids and references, so the operation closure copies them on every attempt. The
/// call's span is made here, where each method has its own name and arguments: it is named after
/// the operation and carries the ids the arguments hold.
macro_rules! retried {
    (($role:ident, $what:literal) $self:tt, $call:ident, $name:ident, $($arg:ident),*) => {{
        let span = $crate::telemetry::call_span!(stringify!($name), $self.backend(), $what);
        if !span.is_disabled() {
            $($crate::telemetry::trace_arg!(span, $arg = $arg);)*
        }
        Box::pin($self.call(
            ($what, &$crate::retry::RetryPolicy::$role),
            $crate::retry::Call::$call,
            span,
            move || $self.inner.$name($($arg),*),
            || $self.inner.ping(),
        ))
    }};
}

pub(super) use retried;
