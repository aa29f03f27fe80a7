//! The one shape of every `Retrying` method.

/// Writes `Retrying` trait methods with the exact signature `#[async_trait]` gives the trait's
/// declarations, returning the retry future boxed as it is.
///
/// `#[async_trait]` on the impl would box an `async` block that awaits that future: one more state
/// machine, and one more move of the arguments and of the result, on every call. Boxing the retry
/// future directly leaves the one allocation every async-trait method makes and nothing else
/// (BENCHMARKS.md, section 1: "retry logic alone").
///
/// The block starts with `role = ROLE, "name";`: the [`RetryPolicy`](super::RetryPolicy) constant
/// used when the decorator has no explicit policy, and the role's name for errors. Each line reads
/// `CALL => fn name<lifetimes of the reference arguments>(args) -> output;`, where `CALL` names the
/// [`Call`](super::Call) entry that says whether the operation is idempotent.
/// Arguments are ids and references, so the operation closure copies them on every attempt.
/// The call's span is made here, where each method has its own name and arguments: it is named
/// after the operation and carries the ids the arguments hold.
macro_rules! forward {
    (role = $role:ident, $what:literal; $($call:ident => fn $name:ident $(<$($lt:lifetime),+>)? ($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {$(
        fn $name<'life0, $($($lt,)+)? 'async_trait>(
            &'life0 self,
            $($arg: $ty),*
        ) -> ::std::pin::Pin<
            Box<dyn ::std::future::Future<Output = $crate::error::Result<$out>> + Send + 'async_trait>,
        >
        where
            'life0: 'async_trait,
            $($($lt: 'async_trait,)+)?
            Self: 'async_trait,
        {
            let span = $crate::telemetry::call_span!(stringify!($name), self.backend(), $what);
            if !span.is_disabled() {
                $($crate::telemetry::trace_arg!(span, $arg = $arg);)*
            }
            Box::pin(self.call(
                ($what, &super::RetryPolicy::$role),
                super::Call::$call,
                span,
                move || self.inner.$name($($arg),*),
                || self.inner.ping(),
            ))
        }
    )*};
}

pub(super) use forward;
