"""The directory's operation groups, by what they serve: agents and keys, profiles and finding agents,
reputation, presence, the public views, stats and onboarding, templates, and the operator's panel."""
