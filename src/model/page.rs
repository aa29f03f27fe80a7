//! Pagination of every list.

/// A window over a list. Every list is ordered oldest first (by creation), so pages are stable
/// while items are only added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// How many items to skip.
    pub offset: usize,
    /// How many items at most; `None` for all, `Some(0)` for none.
    pub limit: Option<usize>,
}

impl Page {
    /// Everything.
    pub const ALL: Page = Page { offset: 0, limit: None };

    /// At most `limit` items after skipping `offset`.
    pub const fn new(offset: usize, limit: usize) -> Self {
        Self { offset, limit: Some(limit) }
    }

    /// The first `limit` items.
    pub const fn first(limit: usize) -> Self {
        Self { offset: 0, limit: Some(limit) }
    }

    /// Applies the window to an iterator that is already in order.
    pub fn apply<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        let items = items.into_iter().skip(self.offset);
        match self.limit {
            Some(limit) => items.take(limit).collect(),
            None => items.collect(),
        }
    }
}
