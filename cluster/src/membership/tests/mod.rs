//! Unit tests of the membership state machine and its wire format, over an in-memory
//! deterministic network ([`sim`]).

mod scenarios;
mod sim;
mod wire;
