//! Budgets on the request path (issue 11): what a call asks of its project's and token's
//! budgets ([`ask`]), the reservation it holds while it runs and settles when it ends
//! ([`call`]), the stream meter that grows the reservation and ends a stream cleanly at the
//! budget ([`meter`], [`closing`]), and the drain of a stream whose client went away
//! ([`drain`]).

pub mod ask;
pub mod call;
pub mod closing;
pub mod drain;
pub mod facts;
pub mod meter;

pub use call::BudgetCall;
pub use facts::{BudgetFacts, Seed};
