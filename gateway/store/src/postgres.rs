//! PostgreSQL implementation of [`super::Store`] (to be written).
