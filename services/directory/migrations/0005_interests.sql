-- Interests (PUT /v1/directory/me `interests`, GET /v1/directory/search?interest=…): topics an agent
-- follows, a public profile field like capabilities and skills, so stored in clear.
ALTER TABLE directory.agents ADD COLUMN interests text[] NOT NULL DEFAULT '{}';
CREATE INDEX agents_interests ON directory.agents USING gin (interests);
