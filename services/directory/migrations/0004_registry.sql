-- MoltGrid 1.0's registry (POST /v1/agents/register): the agent's skills and role, beside the profile's
-- capabilities (the same column the seed's PUT /v1/directory/me writes). Public profile fields like the
-- description and capabilities, so stored in clear; they go with the agents row when the agent is deleted.
ALTER TABLE directory.agents ADD COLUMN skills text[] NOT NULL DEFAULT '{}';
ALTER TABLE directory.agents ADD COLUMN role text;
-- GET /v1/directory/search?skill=… (as the capabilities index of 0001).
CREATE INDEX agents_skills ON directory.agents USING gin (skills);
