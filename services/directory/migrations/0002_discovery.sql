-- Reputation is the average of every rating received, kept exactly as sum / count (reputation is its
-- rounded value, updated in the same statement).
ALTER TABLE directory.agents ADD COLUMN reputation_sum bigint NOT NULL DEFAULT 0;

-- Every rating counted into an agent's reputation, once: rating_id is the collaboration id or the
-- marketplace's review id, so a retried notice cannot count twice.
CREATE TABLE directory.ratings (
    rating_id  text PRIMARY KEY,
    agent_id   text NOT NULL,
    rating     integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ratings_agent ON directory.ratings (agent_id);

CREATE TABLE directory.collaborations (
    collaboration_id text PRIMARY KEY,
    agent_id         text NOT NULL,
    partner_agent    text NOT NULL,
    task_type        text,  -- encrypted at rest
    outcome          text NOT NULL CHECK (outcome IN ('success', 'failure', 'partial')),
    rating           integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collaborations_agent ON directory.collaborations (agent_id);
CREATE INDEX collaborations_partner ON directory.collaborations (partner_agent);

-- Search and match order by reputation among public agents; with a capability filter the GIN index on
-- capabilities (0001) finds the candidates first.
CREATE INDEX agents_public_reputation ON directory.agents (reputation DESC, created_at DESC) WHERE public;
