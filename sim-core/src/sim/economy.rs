//! The token flows of a run, applied through the `economics` crate's ledger:
//! inference fees (user → GPU node, prover fees), settlement fees (base fee
//! burned, tip to the proposer) with EIP-1559's base-fee rule, emission to
//! bonded stake, and slashing. How much goes where is the `economics`
//! crate's (`designs`, `fees`, `emission`, `slashing`); this is the glue
//! that calls it as events happen, moves the amounts on the ledger and keeps
//! the run's totals. The supply invariant is checked after every block; a
//! violation stops the run (it is a bug).

use std::collections::BTreeSet;

use economics::fees::{gas_target, inference_fee, settlement_fee, tx_gas};
use economics::{
    AccountId, Emission, Ledger, Offence, SlashPolicy, SlashTo as LedgerSlashTo, next_base_fee,
    split_inference_fee,
};

use crate::economy::{EconomicsConfig, FeeTiming, SlashTo, to_base_units, to_ppm};
use crate::mempool::{Tx, TxKind};
use crate::records::LedgerRecord;
use crate::scenario::Scenario;
use crate::summary::EconomicsSummary;
use crate::time::SimTime;

/// What one committed block did to the token.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct BlockFlows {
    pub gas_used: u64,
    pub gas_target: u64,
    pub base_fee: u64,
    pub burned: u64,
    pub tips: u64,
    pub minted: u64,
}

pub(super) struct Economy {
    cfg: EconomicsConfig,
    ledger: Ledger,
    users: Vec<AccountId>,
    background: AccountId,
    validators: Vec<AccountId>,
    delegators: Vec<AccountId>,
    gpus: Vec<AccountId>,
    provers: AccountId,
    treasury: AccountId,
    /// Inference price per stream: base units per (input, output) token.
    prices: Vec<(f64, f64)>,
    pub base_fee: u64,
    gas_target: u64,
    emission: Emission,
    slashing: SlashPolicy,
    slashed_validators: BTreeSet<u16>,
    pending_evidence: BTreeSet<u16>,
    last_row: Option<SimTime>,
    // Cumulative flows, base units.
    fees_to_gpu_nodes: u128,
    fees_to_provers: u128,
    tips_to_proposers: u128,
    emission_to_validators: u128,
    emission_to_delegators: u128,
    emission_to_gpu_nodes: u128,
    to_treasury: u128,
    pub payments_refused: u64,
    /// Multiplier on inference fees: genesis price / current price when fees
    /// are denominated in USD (issue #12), else 1.
    pub fee_scale: f64,
    fees_to_validators: u128,
    inference_fees_burned: u128,
    /// Inference fees users paid, whatever the design (base units).
    pub user_fees_paid: u128,
}

impl Economy {
    pub(super) fn new(s: &Scenario) -> Economy {
        let cfg = s.economics.clone();
        let mut ledger = Ledger::new();
        let users = s
            .workload
            .iter()
            .map(|w| {
                ledger.open(
                    format!("user:{}", w.name),
                    to_base_units(cfg.user_balance),
                    0,
                )
            })
            .collect();
        let background = ledger.open("user:background", to_base_units(cfg.user_balance), 0);
        let (mut validators, mut delegators) = (Vec::new(), Vec::new());
        for v in s.validator_specs() {
            let stake = to_base_units(cfg.stake_per_power * v.power as f64);
            let delegated = (stake as f64 * cfg.delegated_fraction).round() as u64;
            validators.push(ledger.open(format!("validator:{}", v.name), 0, stake - delegated));
            delegators.push(ledger.open(format!("delegators:{}", v.name), 0, delegated));
        }
        let n_gpus: usize = s.gpu_nodes.iter().map(|g| g.count + s.gpu_entrants()).sum();
        let gpus = (0..n_gpus)
            .map(|i| ledger.open(format!("gpu:{i}"), 0, to_base_units(cfg.gpu_node_stake)))
            .collect();
        let provers = ledger.open("provers", 0, 0);
        let treasury = ledger.open("treasury", to_base_units(cfg.treasury), 0);
        let per_mtok = economics::BASE_UNITS_PER_TOKEN as f64 / 1e6;
        let prices = s
            .workload
            .iter()
            .map(|w| match cfg.prices.get(&w.model) {
                Some(p) => (p.input_per_mtok, p.output_per_mtok),
                None => {
                    let p = cfg.price_per_mtok_per_bparam * s.models[&w.model].params / 1e9;
                    (p, p)
                }
            })
            // Tokens per million tokens → base units per token.
            .map(|(i, o)| (i * per_mtok, o * per_mtok))
            .collect();
        let genesis = ledger.supply();
        let slashing = SlashPolicy {
            fraud_ppm: to_ppm(cfg.slash_fraction_fraud),
            double_sign_ppm: to_ppm(cfg.slash_fraction_double_sign),
            to: match cfg.slash_to {
                SlashTo::Burn => LedgerSlashTo::Burn,
                SlashTo::Treasury => LedgerSlashTo::Account(treasury),
            },
        };
        Economy {
            base_fee: cfg.initial_base_fee,
            gas_target: gas_target(cfg.block_gas_limit, cfg.elasticity),
            emission: Emission::new((cfg.annual_inflation * 1e9).round() as u64, genesis),
            slashing,
            cfg,
            ledger,
            users,
            background,
            validators,
            delegators,
            gpus,
            provers,
            treasury,
            prices,
            slashed_validators: BTreeSet::new(),
            pending_evidence: BTreeSet::new(),
            last_row: None,
            fees_to_gpu_nodes: 0,
            fees_to_provers: 0,
            tips_to_proposers: 0,
            emission_to_validators: 0,
            emission_to_delegators: 0,
            emission_to_gpu_nodes: 0,
            to_treasury: 0,
            payments_refused: 0,
            fee_scale: 1.0,
            fees_to_validators: 0,
            inference_fees_burned: 0,
            user_fees_paid: 0,
        }
    }

    pub(super) fn block_gas_limit(&self) -> u64 {
        self.cfg.block_gas_limit
    }

    /// A transaction of `bytes`, paid by `payer` (a stream; `u16::MAX` = background load).
    pub(super) fn tx(&self, kind: TxKind, bytes: u64, payer: u16) -> Tx {
        Tx {
            kind,
            bytes: bytes as u32,
            gas: tx_gas(bytes, self.cfg.tx_base_gas, self.cfg.gas_per_byte),
            tip: self.cfg.tip_per_gas,
            max_fee: self.cfg.max_fee_per_gas,
            payer,
            compute: 0,
        }
    }

    fn payer(&self, stream: u16) -> AccountId {
        if stream == u16::MAX {
            self.background
        } else {
            self.users[stream as usize]
        }
    }

    /// Flow 1: the user pays for a request, and the design
    /// (`economics::designs`) says who gets the fee.
    fn pay_inference(&mut self, stream: u16, gpu: u16, prompt: u32, output: u32) {
        let (pi, po) = self.prices[stream as usize];
        let fee = inference_fee(pi, po, prompt, output, self.fee_scale);
        let user = self.users[stream as usize];
        if self.ledger.balance(user) < fee {
            self.payments_refused += 1;
            return;
        }
        self.user_fees_paid += fee as u128;
        let design = economics::Design::from(self.cfg.design);
        let stakes: Vec<u64> = if design.pays_validators() {
            self.validators
                .iter()
                .map(|&v| self.ledger.bonded(v))
                .collect()
        } else {
            Vec::new()
        };
        let split = split_inference_fee(design, fee, to_ppm(self.cfg.validator_gpu_share), &stakes);
        // The parts sum to the fee, which the user holds: none is refused.
        let paid = "balance checked";
        self.ledger
            .transfer(user, self.gpus[gpu as usize], split.to_gpu)
            .expect(paid);
        for (&v, &x) in self.validators.iter().zip(&split.to_validators) {
            self.ledger.transfer(user, v, x).expect(paid);
        }
        self.ledger
            .transfer(user, self.treasury, split.to_treasury)
            .expect(paid);
        self.ledger.burn(user, split.burned).expect(paid);
        self.fees_to_gpu_nodes += split.to_gpu as u128;
        self.fees_to_validators += split.to_validators.iter().map(|&x| x as u128).sum::<u128>();
        self.to_treasury += split.to_treasury as u128;
        self.inference_fees_burned += split.burned as u128;
    }

    pub(super) fn on_delivered(&mut self, stream: u16, gpu: u16, prompt: u32, output: u32) {
        if self.cfg.inference_fee_timing == FeeTiming::Delivery {
            self.pay_inference(stream, gpu, prompt, output);
        }
    }

    pub(super) fn on_settled(&mut self, stream: u16, gpu: u16, prompt: u32, output: u32) {
        if self.cfg.inference_fee_timing == FeeTiming::Settlement {
            self.pay_inference(stream, gpu, prompt, output);
        }
    }

    pub(super) fn on_proof(&mut self, stream: u16) {
        let fee = to_base_units(self.cfg.zk_prover_fee);
        match self
            .ledger
            .transfer(self.users[stream as usize], self.provers, fee)
        {
            Ok(()) => self.fees_to_provers += fee as u128,
            Err(_) => self.payments_refused += 1,
        }
    }

    /// Slashes `account` for `offence` by the policy (`economics::slashing`).
    fn slash(&mut self, account: AccountId, offence: Offence) {
        let p = self.slashing;
        let amount = self
            .ledger
            .slash(account, p.ppm(offence), p.to)
            .expect("slashing stays within the stake");
        if let LedgerSlashTo::Account(_) = p.to {
            self.to_treasury += amount as u128;
        }
    }

    /// A GPU node's wrong result was caught.
    pub(super) fn on_fraud(&mut self, gpu: u16) {
        self.slash(self.gpus[gpu as usize], Offence::Fraud);
    }

    /// A validator double-signed; the evidence goes into the next block.
    pub(super) fn on_double_sign(&mut self, validator: u16) {
        if !self.slashed_validators.contains(&validator) {
            self.pending_evidence.insert(validator);
        }
    }

    /// Flow 2, emission, evidence and the invariant, for a committed block.
    /// `serving`: whether each GPU node's operator serves (emission goes to those only).
    pub(super) fn on_block(
        &mut self,
        now: SimTime,
        proposer: u16,
        txs: &[Tx],
        serving: &[bool],
    ) -> Result<BlockFlows, String> {
        let base_fee = self.base_fee;
        let mut flows = BlockFlows {
            gas_target: self.gas_target,
            base_fee,
            ..Default::default()
        };
        let burn_ppm = to_ppm(self.cfg.burn_fraction);
        for tx in txs {
            flows.gas_used += tx.gas;
            let payer = self.payer(tx.payer);
            let fee = settlement_fee(base_fee, tx.gas, tx.tip, tx.max_fee, burn_ppm);
            if self.ledger.balance(payer) < fee.total() {
                self.payments_refused += 1;
                continue;
            }
            self.ledger
                .burn(payer, fee.burned)
                .expect("balance checked");
            self.ledger
                .transfer(payer, self.treasury, fee.to_treasury)
                .expect("balance checked");
            self.ledger
                .transfer(payer, self.validators[proposer as usize], fee.tip)
                .expect("balance checked");
            self.to_treasury += fee.to_treasury as u128;
            flows.burned += fee.burned;
            flows.tips += fee.tip;
        }
        self.tips_to_proposers += flows.tips as u128;
        self.base_fee = next_base_fee(
            base_fee,
            flows.gas_used,
            self.gas_target,
            self.cfg.base_fee_denominator,
        );
        for v in std::mem::take(&mut self.pending_evidence) {
            self.slash(self.validators[v as usize], Offence::DoubleSign);
            self.slash(self.delegators[v as usize], Offence::DoubleSign);
            self.slashed_validators.insert(v);
        }
        flows.minted = self.emit(now, serving)?;
        self.ledger.check().map_err(|e| e.to_string())?;
        Ok(flows)
    }

    /// Mints what emission owes up to `now`, paid out by
    /// `economics::emission::pay_out`: a share to the GPU nodes that serve,
    /// the rest pro rata to bonded validator and delegator stake, with
    /// commission, and the rounding remainders to the treasury.
    fn emit(&mut self, now: SimTime, serving: &[bool]) -> Result<u64, String> {
        let due = self.emission.mint_due(now.0, self.ledger.supply()) as u64;
        if due == 0 {
            return Ok(0);
        }
        debug_assert_eq!(serving.len(), self.gpus.len(), "one flag per GPU node");
        let stakes: Vec<(u64, u64)> = self
            .validators
            .iter()
            .zip(&self.delegators)
            .map(|(&v, &d)| (self.ledger.bonded(v), self.ledger.bonded(d)))
            .collect();
        let p = economics::emission::pay_out(
            due,
            to_ppm(self.cfg.gpu_emission_share),
            serving,
            &stakes,
            to_ppm(self.cfg.commission),
        );
        for (&g, &x) in self.gpus.iter().zip(&p.to_gpus) {
            self.ledger.mint(g, x).map_err(overflow)?;
        }
        self.emission_to_gpu_nodes += p.to_gpus.iter().map(|&x| x as u128).sum::<u128>();
        for (i, (&v, &d)) in p.to_validators.iter().zip(&p.to_delegators).enumerate() {
            self.ledger.mint(self.validators[i], v).map_err(overflow)?;
            self.ledger.mint(self.delegators[i], d).map_err(overflow)?;
            self.emission_to_validators += v as u128;
            self.emission_to_delegators += d as u128;
        }
        self.ledger
            .mint(self.treasury, p.to_treasury)
            .map_err(overflow)?;
        self.to_treasury += p.to_treasury as u128;
        Ok(due)
    }

    fn net_issuance_annualised_pct(&self, now: SimTime) -> f64 {
        let years = now.0 as f64 / economics::emission::YEAR_NS as f64;
        let genesis = self.ledger.genesis as f64;
        if years <= 0.0 || genesis <= 0.0 {
            return 0.0;
        }
        (self.ledger.supply() as f64 - genesis) / genesis / years * 100.0
    }

    /// A `ledger` row, at most every `ledger_every`.
    pub(super) fn row(&mut self, now: SimTime, height: u64, force: bool) -> Option<LedgerRecord> {
        if !force
            && self
                .last_row
                .is_some_and(|t| now.since(t) < self.cfg.ledger_every)
        {
            return None;
        }
        self.last_row = Some(now);
        let l = &self.ledger;
        Some(LedgerRecord {
            time_s: now.as_secs_f64(),
            height,
            supply: l.supply() as u64,
            minted: l.minted as u64,
            burned: l.burned as u64,
            slashed: l.slashed as u64,
            net_issuance_annualised_pct: self.net_issuance_annualised_pct(now),
            base_fee: self.base_fee,
            fees_to_gpu_nodes: self.fees_to_gpu_nodes as u64,
            fees_to_provers: self.fees_to_provers as u64,
            tips_to_proposers: self.tips_to_proposers as u64,
            emission_to_validators: self.emission_to_validators as u64,
            emission_to_delegators: self.emission_to_delegators as u64,
            emission_to_gpu_nodes: self.emission_to_gpu_nodes as u64,
            to_treasury: self.to_treasury as u64,
        })
    }

    /// A GPU node's account balance (base units).
    pub(super) fn gpu_balance(&self, gpu: usize) -> u128 {
        self.ledger.balance(self.gpus[gpu]) as u128
    }

    /// Cumulative minted, burned, supply and fees to GPU nodes (base units).
    pub(super) fn totals(&self) -> (u128, u128, u128, u128) {
        let l = &self.ledger;
        (l.minted, l.burned, l.supply(), self.fees_to_gpu_nodes)
    }

    pub(super) fn summary(&self, now: SimTime) -> EconomicsSummary {
        let l = &self.ledger;
        EconomicsSummary {
            token_decimals: economics::TOKEN_DECIMALS,
            genesis_supply: l.genesis,
            final_supply: l.supply(),
            minted: l.minted,
            burned: l.burned,
            slashed: l.slashed,
            fees_to_gpu_nodes: self.fees_to_gpu_nodes,
            fees_to_provers: self.fees_to_provers,
            tips_to_proposers: self.tips_to_proposers,
            fees_to_validators: self.fees_to_validators,
            inference_fees_burned: self.inference_fees_burned,
            net_issuance_annualised_pct: self.net_issuance_annualised_pct(now),
            final_base_fee: self.base_fee,
            payments_refused: self.payments_refused,
            invariant_checks: l.invariant_checks,
        }
    }
}

/// A mint that would overflow an account: the scenario's checks
/// (`economy::genesis_overflow`) bound the supply so that this cannot
/// happen; should it, the run stops with this error rather than panicking.
fn overflow(e: economics::LedgerError) -> String {
    format!("emission: {e} (the ledger holds at most u64::MAX base units)")
}
