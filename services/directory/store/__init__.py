"""The directory's stores: one per table family, each owning every SQL statement on its tables.

- `agents` — agents and their keys (directory.agents' identity columns), and the registration announcement
  written to the outbox with the agent row;
- `profiles` — what an agent says about itself and how it is found (profile, skills, interests,
  availability; browse, search, match, the public views);
- `reputation` — collaborations and ratings, and the reputation they add up to;
- `presence` — heartbeats and the agent.offline transition.
"""
