//! The economic designs (issue #12): who gets what of a user's inference
//! fee. (Settlement fees are split the same way under every design:
//! `fees::settlement_fee`.)
//!
//! * `Dual`: the whole fee goes to the GPU node that served the request.
//! * `Single`: the whole fee is burned (GPU nodes live on emission).
//! * `FeesToValidators`: `validator_gpu_share` of the fee (rounded down)
//!   goes to the GPU node, the rest to the validators pro rata to their
//!   bonded stake (each share rounded down), and the rounding remainder to
//!   the treasury.
//!
//! In every case `to_gpu + Σ to_validators + to_treasury + burned = fee`.

use crate::{ppm_of, split_pro_rata};

/// Where users' inference fees go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Design {
    #[default]
    Dual,
    Single,
    FeesToValidators,
}

impl Design {
    /// Whether the split needs the validators' bonded stakes (the caller
    /// may pass an empty slice otherwise).
    pub fn pays_validators(self) -> bool {
        self == Design::FeesToValidators
    }
}

/// One inference fee, split (base units).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InferenceSplit {
    /// To the GPU node that served the request.
    pub to_gpu: u64,
    /// To each validator, in the order of the stakes given.
    pub to_validators: Vec<u64>,
    pub to_treasury: u64,
    pub burned: u64,
}

/// Splits `fee` by `design`. `validator_gpu_share_ppm`: the GPU node's
/// share under `FeesToValidators`, parts per million; `validator_stakes`:
/// the validators' bonded stakes (read only by `FeesToValidators`).
pub fn split_inference_fee(
    design: Design,
    fee: u64,
    validator_gpu_share_ppm: u64,
    validator_stakes: &[u64],
) -> InferenceSplit {
    match design {
        Design::Dual => InferenceSplit {
            to_gpu: fee,
            ..Default::default()
        },
        Design::Single => InferenceSplit {
            burned: fee,
            ..Default::default()
        },
        Design::FeesToValidators => {
            let to_gpu = ppm_of(fee, validator_gpu_share_ppm);
            let (to_validators, to_treasury) = split_pro_rata(fee - to_gpu, validator_stakes);
            InferenceSplit {
                to_gpu,
                to_validators,
                to_treasury,
                burned: 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_fee(s: &InferenceSplit, fee: u64) {
        assert_eq!(
            s.to_gpu + s.to_validators.iter().sum::<u64>() + s.to_treasury + s.burned,
            fee
        );
    }

    #[test]
    fn dual_pays_the_gpu_node_single_burns() {
        let d = split_inference_fee(Design::Dual, 1234, 800_000, &[5, 5]);
        assert_eq!((d.to_gpu, d.burned, d.to_treasury), (1234, 0, 0));
        assert!(d.to_validators.is_empty());
        let s = split_inference_fee(Design::Single, 1234, 800_000, &[5, 5]);
        assert_eq!((s.to_gpu, s.burned, s.to_treasury), (0, 1234, 0));
        assert!(s.to_validators.is_empty());
        assert!(!Design::Dual.pays_validators() && !Design::Single.pays_validators());
    }

    /// By hand, GPU share 80 %:
    ///   fee 1000, stakes 3:1 → GPU 800; 200 → 150, 50; remainder 0.
    ///   fee 1000, stakes 1:1:1 → GPU 800; 200 → 66 each (198); treasury 2.
    ///   fee 1001, stakes 1:1:1 → GPU floor(800.8) = 800; 201 → 67 each; 0.
    ///   fee 7, no validators → GPU floor(5.6) = 5; treasury 2.
    #[test]
    fn fees_to_validators_by_hand() {
        assert!(Design::FeesToValidators.pays_validators());
        let f = |fee, stakes: &[u64]| {
            let s = split_inference_fee(Design::FeesToValidators, fee, 800_000, stakes);
            sums_to_fee(&s, fee);
            assert_eq!(s.burned, 0);
            (s.to_gpu, s.to_validators, s.to_treasury)
        };
        assert_eq!(f(1000, &[3, 1]), (800, vec![150, 50], 0));
        assert_eq!(f(1000, &[1, 1, 1]), (800, vec![66, 66, 66], 2));
        assert_eq!(f(1001, &[1, 1, 1]), (800, vec![67, 67, 67], 0));
        assert_eq!(f(7, &[]), (5, vec![], 2));
        // Share 100 %: validators get nothing; 0 %: all of it.
        let all = split_inference_fee(Design::FeesToValidators, 90, 1_000_000, &[1, 2]);
        assert_eq!((all.to_gpu, all.to_validators), (90, vec![0, 0]));
        let none = split_inference_fee(Design::FeesToValidators, 90, 0, &[1, 2]);
        assert_eq!((none.to_gpu, none.to_validators), (0, vec![30, 60]));
    }
}
