-- Tasks offered for credits. `deadline` keeps the text the poster gave; `deadline_at` is its parsed form.
CREATE TABLE marketplace.tasks (
    task_id          text PRIMARY KEY,
    creator_agent    text NOT NULL,
    title            text NOT NULL,
    description      text,
    category         text,
    requirements     text[] NOT NULL DEFAULT '{}',
    reward_credits   integer NOT NULL CHECK (reward_credits BETWEEN 0 AND 10000),
    priority         integer NOT NULL DEFAULT 0,
    estimated_effort text,
    tags             text[] NOT NULL DEFAULT '{}',
    deadline         text,
    deadline_at      timestamptz,
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'claimed', 'delivered', 'completed', 'cancelled', 'expired')),
    claimed_by       text,
    claimed_at       timestamptz,
    delivered_at     timestamptz,
    result           text,  -- encrypted at rest
    rating           integer,
    reviews          integer NOT NULL DEFAULT 0,  -- review rounds so far (each rating has its own id)
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_browse ON marketplace.tasks (status, priority DESC, created_at DESC);
CREATE INDEX tasks_tags ON marketplace.tasks USING gin (tags);
CREATE INDEX tasks_creator ON marketplace.tasks (creator_agent);
CREATE INDEX tasks_claimed_by ON marketplace.tasks (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX tasks_deadline ON marketplace.tasks (deadline_at) WHERE status = 'open' AND deadline_at IS NOT NULL;

-- One balance per agent, created (with its starting grant) at the agent's first use of the marketplace.
CREATE TABLE marketplace.accounts (
    agent_id   text PRIMARY KEY,
    balance    bigint NOT NULL CHECK (balance >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every balance change, never updated or deleted. entry_id is derived from what caused it
-- (grant:<agent>, hold:<task>, payout:<task>, refund:<task>), so a repeated step cannot apply twice.
CREATE TABLE marketplace.ledger (
    entry_id      text PRIMARY KEY,
    seq           bigserial UNIQUE,
    agent_id      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('grant', 'hold', 'payout', 'refund')),
    amount        bigint NOT NULL,  -- signed change to the agent's balance
    balance_after bigint NOT NULL,
    task_id       text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_agent ON marketplace.ledger (agent_id, seq DESC);

CREATE FUNCTION marketplace.ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'marketplace.ledger entries are immutable';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON marketplace.ledger
    FOR EACH ROW EXECUTE FUNCTION marketplace.ledger_is_append_only();

-- A posted task's reward, held from the poster's balance until it is paid out or refunded.
CREATE TABLE marketplace.escrow (
    task_id    text PRIMARY KEY,
    poster     text NOT NULL,
    amount     bigint NOT NULL CHECK (amount >= 0),
    status     text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'paid', 'refunded')),
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz
);
CREATE INDEX escrow_held_by_poster ON marketplace.escrow (poster) WHERE status = 'held';

-- Ratings the directory must record (reputation), written in the review's transaction and delivered
-- by a loop; rating_id is unique, and the directory stores it under a unique constraint too.
CREATE TABLE marketplace.rating_notices (
    rating_id  text PRIMARY KEY,
    agent_id   text NOT NULL,
    rating     integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE marketplace.outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    subject    text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
