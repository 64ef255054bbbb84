//! What the client itself costs, measured against a floor: the bare driver loop ([`floor`]), the
//! factory beside it ([`overhead`]), and pacing at fixed rates against running unthrottled
//! ([`pacing`]).

pub mod floor;
pub mod overhead;
pub mod pacing;
