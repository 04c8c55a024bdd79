//! PostgreSQL implementation of [`super::Store`] (being written).
