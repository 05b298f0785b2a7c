"""Request models of the directory's operations, by concept: agents and keys, profiles and finding agents,
reputation and the public views, presence, templates."""
