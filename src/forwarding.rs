//! How the wrappers forward the trait methods: one table of each trait's forwardable methods (in
//! `storage.rs` and `scheduler.rs`, beside the traits) and one writer of their signatures.
//!
//! The pointer types, `Retrying` and `Faulty` (feature `conformance`) wrap a
//! backend and do the same thing around every method. Each of them expands the table with a body
//! of its own, so a method added to a trait is written into its table once and every wrapper
//! forwards it; `#[deny(clippy::missing_trait_methods)]` on the wrappers keeps the table complete.

/// Writes trait methods with the exact signature `#[async_trait]` gives the trait's declarations,
/// each returning the future its body builds, boxed once.
///
/// `#[async_trait]` on the impl would box an `async` block that awaits that future: one more state
/// machine, and one more move of the arguments and of the result, on every call (`BENCHMARKS.md`,
/// section 1: "retry logic alone").
///
/// The input starts with `body = name(extra…);`: each method's body is
/// `name!((extra…) self, CALL, method, args…)`, an expression of type
/// `Pin<Box<dyn Future<Output = Result<output>> + Send>>`. Then one line per method, as the tables
/// write them: `CALL => fn name<lifetimes of the reference arguments>(args) -> output;`, where
/// `CALL` names the method's [`Call`](crate::retry::Call) entry (whether it is idempotent).
macro_rules! boxed_methods {
    (
        body = $body:ident $extra:tt;
        $($call:ident => fn $name:ident $(<$($lt:lifetime),+>)? ($($arg:ident: $ty:ty),*) -> $out:ty;)*
    ) => {$(
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
            $body!($extra self, $call, $name, $($arg),*)
        }
    )*};
}

/// The body of a pointer type's methods: the pointee's future as it is (already boxed).
macro_rules! through_pointer {
    (() $self:tt, $call:ident, $name:ident, $($arg:ident),*) => {
        (**$self).$name($($arg),*)
    };
}

pub(crate) use {boxed_methods, through_pointer};
