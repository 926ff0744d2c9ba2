//! This package only hosts the runnable examples of the Palisade SDK (see
//! the `[[example]]` entries of its manifest); it has no code of its own.
#![forbid(unsafe_code)]
