//! Test only: hacasim's round state machine against Malachite's driver; see `tests/differential/`.
