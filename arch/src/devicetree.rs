//! Device-tree reader (being written).
