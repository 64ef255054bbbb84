//! What the client itself costs, measured against a floor: the bare driver loop ([`floor`]), the
//! factory beside it ([`overhead`]), and pacing at fixed rates against running unthrottled
//! ([`pacing`]), or counted in instructions under callgrind ([`instructions`]); and what a target
//! rate would cost in loaders, on paper ([`plan`]).

pub mod floor;
pub mod instructions;
pub mod overhead;
pub mod pacing;
pub mod plan;
