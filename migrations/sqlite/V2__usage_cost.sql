-- Cost in the usage ledger: nano-dollars (1e-9 USD) from the configured price table, 0 when the
-- model has no price. Integers, so sums are exact. Keep in step with the postgres file.

ALTER TABLE usage_hourly ADD COLUMN cost_nano_usd INTEGER NOT NULL DEFAULT 0;
CREATE INDEX usage_hourly_model_idx ON usage_hourly (model, hour);
