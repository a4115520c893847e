//! Token ledger and policies (fees, burn, base fee, emission, slashing). Filled by the economics issue (#4); empty for now.
