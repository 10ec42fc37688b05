//! The page's Leptos components. Each takes the shared [`crate::AppState`] as a prop (no
//! context lookups that could panic) and only reads signals and calls
//! [`crate::AppState::edit`]; fetching and computing live in [`crate::loader`] and
//! [`crate::compute`].

pub mod attribution;
pub mod controls;
pub mod map;
pub mod status;
pub mod storage;
pub mod time;
