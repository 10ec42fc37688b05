//! Ensemble statistics (placeholder: being written).
