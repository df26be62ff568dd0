-- Budgets per project and per token: prompt + completion tokens and/or cost (nano-dollars) per
-- calendar month (UTC) or lifetime; a budget exists when budget_period is set. And what a
-- stream does when its client disconnects. Keep in step with the sqlite file.

ALTER TABLE projects
    ADD COLUMN budget_period TEXT CHECK (budget_period IN ('month', 'lifetime')),
    ADD COLUMN budget_max_tokens BIGINT CHECK (budget_max_tokens >= 0),
    ADD COLUMN budget_max_cost_nano_usd BIGINT CHECK (budget_max_cost_nano_usd >= 0),
    ADD COLUMN on_disconnect TEXT NOT NULL DEFAULT 'cancel'
        CHECK (on_disconnect IN ('cancel', 'drain'));

ALTER TABLE tokens
    ADD COLUMN budget_period TEXT CHECK (budget_period IN ('month', 'lifetime')),
    ADD COLUMN budget_max_tokens BIGINT CHECK (budget_max_tokens >= 0),
    ADD COLUMN budget_max_cost_nano_usd BIGINT CHECK (budget_max_cost_nano_usd >= 0);

-- Spend of one project since a period start reads the project's buckets from that hour on.
CREATE INDEX usage_hourly_project_hour_idx ON usage_hourly (project_id, hour);
