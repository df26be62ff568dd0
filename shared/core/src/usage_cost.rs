//! What a call cost: the price table (USD per million tokens, by exact model name or glob) and
//! the arithmetic in nano-dollars, so sums stay exact integers in the ledger and in Redis.

use serde::{Deserialize, Serialize};

/// One billionth of a US dollar. A price of `p` USD per million tokens costs `p × 1000` of
/// these per token, so prices with up to three decimals are exact.
pub type NanoUsd = u64;

pub const NANOS_PER_USD: f64 = 1_000_000_000.0;

pub fn nanos_to_usd(nanos: NanoUsd) -> f64 {
    nanos as f64 / NANOS_PER_USD
}

/// `None` for negative, non-finite or absurdly large amounts.
pub fn usd_to_nanos(usd: f64) -> Option<NanoUsd> {
    if !usd.is_finite() || usd < 0.0 {
        return None;
    }
    let nanos = (usd * NANOS_PER_USD).round();
    (nanos < 9.0e15).then_some(nanos as NanoUsd)
}

/// Token counts of one call, as the price table charges them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Every input token, cached ones included.
    pub prompt: u64,
    pub completion: u64,
    /// The part of `prompt` read from the provider's prompt cache.
    pub cached: u64,
}

/// One row of the price table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// An exact model name (`gpt-4o-mini`) or a glob (`gpt-4o-mini*`, `claude-?-haiku*`);
    /// compared without regard to ASCII case.
    pub model: String,
    /// Only for this provider (as named in the config); any provider when unset.
    #[serde(default)]
    pub provider: Option<String>,
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million cached input tokens; the input price when unset.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

impl ModelPrice {
    fn is_glob(&self) -> bool {
        self.model.contains(['*', '?'])
    }

    fn matches(&self, provider: &str, model: &str) -> bool {
        self.provider.as_deref().is_none_or(|p| p == provider) && glob_match(&self.model, model)
    }

    /// Exact names beat globs, a provider-bound row beats a general one, and among globs the
    /// one with more literal characters is the more specific.
    fn specificity(&self) -> (bool, bool, usize) {
        let literal = self
            .model
            .chars()
            .filter(|c| !matches!(c, '*' | '?'))
            .count();
        (!self.is_glob(), self.provider.is_some(), literal)
    }

    /// Nano-dollars per token.
    fn per_token(usd_per_million: f64) -> f64 {
        usd_per_million * 1000.0
    }

    /// The cost of one call at this price, rounded to the nano-dollar.
    pub fn cost(&self, tokens: TokenCounts) -> NanoUsd {
        let cached = tokens.cached.min(tokens.prompt);
        let fresh = tokens.prompt - cached;
        let cached_price = self.cached_input.unwrap_or(self.input);
        let nanos = fresh as f64 * Self::per_token(self.input)
            + cached as f64 * Self::per_token(cached_price)
            + tokens.completion as f64 * Self::per_token(self.output);
        nanos.round().max(0.0) as NanoUsd
    }

    /// Nano-dollars per output token, rounded up (what a reservation of output costs).
    pub fn output_nanos_per_token(&self) -> NanoUsd {
        Self::per_token(self.output).ceil().max(0.0) as NanoUsd
    }

    pub fn input_nanos_per_token(&self) -> NanoUsd {
        Self::per_token(self.input).ceil().max(0.0) as NanoUsd
    }
}

/// The configured prices (`[[pricing.models]]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable(pub Vec<ModelPrice>);

impl PriceTable {
    pub fn new(rows: Vec<ModelPrice>) -> Self {
        Self(rows)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The most specific row for this model (see [`ModelPrice`]); the first one on a tie.
    pub fn find(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        find_price(&self.0, provider, model)
    }

    /// `None` when no price is configured for the model.
    pub fn cost(&self, provider: &str, model: &str, tokens: TokenCounts) -> Option<NanoUsd> {
        self.find(provider, model).map(|p| p.cost(tokens))
    }

    /// Each problem names the row (`pricing.models[2].input`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, row) in self.0.iter().enumerate() {
            let key = |field: &str| format!("pricing.models[{i}].{field}");
            if row.model.trim().is_empty() {
                return Err((key("model"), "must not be empty".to_owned()));
            }
            let prices = [
                ("input", Some(row.input)),
                ("output", Some(row.output)),
                ("cached_input", row.cached_input),
            ];
            for (field, price) in prices {
                if let Some(p) = price {
                    if !p.is_finite() || !(0.0..=1_000_000.0).contains(&p) {
                        return Err((
                            key(field),
                            "must be a price in USD per million tokens between 0 and 1000000"
                                .to_owned(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// [`PriceTable::find`] over borrowed rows.
pub fn find_price<'a>(
    rows: &'a [ModelPrice],
    provider: &str,
    model: &str,
) -> Option<&'a ModelPrice> {
    let mut best: Option<&ModelPrice> = None;
    for row in rows.iter().filter(|r| r.matches(provider, model)) {
        if best.is_none_or(|b| row.specificity() > b.specificity()) {
            best = Some(row);
        }
    }
    best
}

/// `*` matches any run of characters, `?` exactly one; ASCII case is ignored.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn price(model: &str, input: f64, output: f64) -> ModelPrice {
        ModelPrice {
            model: model.to_owned(),
            provider: None,
            input,
            output,
            cached_input: None,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("gpt-4o*", "gpt-4o-mini-2024-07-18"));
        assert!(glob_match("GPT-4O", "gpt-4o"));
        assert!(glob_match("claude-?-haiku*", "claude-3-haiku-20240307"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*mini*", "o4-mini-high"));
        assert!(!glob_match("gpt-4o", "gpt-4o-mini"));
        assert!(!glob_match("claude-?-haiku", "claude-35-haiku"));
        assert!(!glob_match("a*b", "acbd"));
    }

    #[test]
    fn the_most_specific_row_wins() {
        let mut anthropic_only = price("*", 9.0, 9.0);
        anthropic_only.provider = Some("anthropic".into());
        let table = PriceTable::new(vec![
            price("*", 1.0, 1.0),
            price("gpt-4o*", 2.5, 10.0),
            price("gpt-4o-mini*", 0.15, 0.6),
            price("gpt-4o-mini", 0.1, 0.5),
            anthropic_only,
        ]);
        assert_eq!(table.find("openai", "gpt-4o-mini").unwrap().input, 0.1);
        assert_eq!(
            table
                .find("openai", "gpt-4o-mini-2024-07-18")
                .unwrap()
                .input,
            0.15
        );
        assert_eq!(
            table.find("openai", "gpt-4o-2024-08-06").unwrap().input,
            2.5
        );
        assert_eq!(table.find("openai", "o3").unwrap().input, 1.0);
        assert_eq!(table.find("anthropic", "claude-x").unwrap().input, 9.0);
        assert!(PriceTable::default().find("openai", "gpt-4o").is_none());
    }

    #[test]
    fn cost_in_nano_dollars() {
        let mut p = price("gpt-4o-mini", 0.15, 0.6);
        // 1000 input tokens at $0.15/M = $0.00015; 500 output at $0.60/M = $0.0003.
        let tokens = TokenCounts {
            prompt: 1000,
            completion: 500,
            cached: 0,
        };
        assert_eq!(p.cost(tokens), 150_000 + 300_000);
        p.cached_input = Some(0.075);
        let cached = TokenCounts {
            cached: 400,
            ..tokens
        };
        assert_eq!(p.cost(cached), 600 * 150 + 400 * 75 + 300_000);
        assert_eq!(p.output_nanos_per_token(), 600);
        assert_eq!(usd_to_nanos(25.0), Some(25_000_000_000));
        assert_eq!(usd_to_nanos(-1.0), None);
        assert!((nanos_to_usd(450_000) - 0.00045).abs() < 1e-12);
    }

    #[test]
    fn bad_rows_are_named() {
        let table = PriceTable::new(vec![price("a", 1.0, 1.0), price("b", -1.0, 1.0)]);
        assert_eq!(table.validate().unwrap_err().0, "pricing.models[1].input");
        let table = PriceTable::new(vec![price(" ", 1.0, 1.0)]);
        assert_eq!(table.validate().unwrap_err().0, "pricing.models[0].model");
    }
}
