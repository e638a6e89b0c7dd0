//! Workflows: definitions, files, planning and execution.
pub mod file;
pub mod plan;
pub mod spec;
