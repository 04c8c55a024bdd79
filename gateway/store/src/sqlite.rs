//! SQLite implementation of [`super::Store`] (to be written).
