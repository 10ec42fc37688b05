//! Product definitions (placeholder: being written).
