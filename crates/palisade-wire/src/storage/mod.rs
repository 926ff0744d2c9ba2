//! [`Storage`](crate::queue::Storage) implementations for the queue.

#[cfg(feature = "std")]
pub mod file;
pub mod memory;
