"""The relay's operation groups, by what they serve: messages, webhooks, the event stream, pub/sub, and the
stats and admin views."""
