"""Request models of the relay service by concept (limits as observed in the original): messages and their
trace, webhooks, the event stream, pub/sub; `common` holds the empty request and the stats request."""
