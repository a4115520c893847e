//! Malachite's `Context` for hacasim's types: validators are hacasim's
//! `NodeId`s, values its `BlockId`s, and signatures are carried, never
//! checked (the driver does not verify them), so the signing scheme is `()`.

use std::fmt;

use malachitebft_core_types::{
    self as mt, NilOrVal, Round, SignedExtension, SigningScheme, VoteType,
};
use sim_core::consensus::BlockId;
use sim_core::network::NodeId;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ctx;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr(pub NodeId);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}
impl mt::Address for Addr {}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl mt::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);
    fn increment_by(&self, n: u64) -> Self {
        Height(self.0 + n)
    }
    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }
    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A block, named by hacasim's `BlockId`; it is its own id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Block(pub BlockId);

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}
impl mt::Value for Block {
    type Id = Block;
    fn id(&self) -> Block {
        *self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vote {
    pub kind: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<Block>,
    pub from: Addr,
}

impl mt::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<Block> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<Block> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.kind
    }
    fn validator_address(&self) -> &Addr {
        &self.from
    }
    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        None
    }
    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        None
    }
    fn extend(self, _: SignedExtension<Ctx>) -> Self {
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: Block,
    pub pol_round: Round,
    pub from: Addr,
}

impl mt::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &Block {
        &self.value
    }
    fn take_value(self) -> Block {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Addr {
        &self.from
    }
}

/// Proposals travel whole here; parts are never used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part;

impl mt::ProposalPart<Ctx> for Part {
    fn is_first(&self) -> bool {
        true
    }
    fn is_last(&self) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: Addr,
    pub power: u64,
}

impl mt::Validator<Ctx> for Validator {
    fn address(&self) -> &Addr {
        &self.address
    }
    fn public_key(&self) -> &() {
        &()
    }
    fn voting_power(&self) -> u64 {
        self.power
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet(pub Vec<Validator>);

impl ValidatorSet {
    /// Validator `i` of hacasim's power table is `Addr(i)`.
    pub fn from_powers(powers: &[u64]) -> ValidatorSet {
        ValidatorSet(
            powers
                .iter()
                .enumerate()
                .map(|(i, &power)| Validator {
                    address: Addr(i as NodeId),
                    power,
                })
                .collect(),
        )
    }
}

impl mt::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn total_voting_power(&self) -> u64 {
        self.0.iter().map(|v| v.power).sum()
    }
    fn get_by_address(&self, address: &Addr) -> Option<&Validator> {
        self.0.get(address.0 as usize)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.0.get(index)
    }
}

/// No signatures: the driver carries them and checks none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoSigning;

impl SigningScheme for NoSigning {
    type DecodingError = fmt::Error;
    type Signature = ();
    type PublicKey = ();
    type PrivateKey = ();
    fn decode_signature(_: &[u8]) -> Result<(), fmt::Error> {
        Ok(())
    }
    fn encode_signature(_: &()) -> Vec<u8> {
        Vec::new()
    }
}

impl mt::Context for Ctx {
    type Address = Addr;
    type Height = Height;
    type ProposalPart = Part;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = Block;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = NoSigning;

    /// Never called by the driver (the host names each round's proposer in
    /// `Input::NewRound`); the test's schedule is in `harness.rs`.
    fn select_proposer<'a>(&self, set: &'a ValidatorSet, _: Height, round: Round) -> &'a Validator {
        let r = round.as_u32().unwrap_or(0) as usize;
        &set.0[r % set.0.len()]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: Block,
        pol_round: Round,
        from: Addr,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            from,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<Block>,
        from: Addr,
    ) -> Vote {
        Vote {
            kind: VoteType::Prevote,
            height,
            round,
            value,
            from,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<Block>,
        from: Addr,
    ) -> Vote {
        Vote {
            kind: VoteType::Precommit,
            height,
            round,
            value,
            from,
        }
    }
}
