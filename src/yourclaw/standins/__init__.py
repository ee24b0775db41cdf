"""Local stand-ins for every outside service (Twilio, Stripe, Anthropic, Docker hosts, OpenClaw, a WhatsApp user), for `yourclaw dev` and the tests. Domains never import this package."""
