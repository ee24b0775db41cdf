"""The `yourclaw` command."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from yourclaw.cli import rollouts, support, volumes
from yourclaw.cli.daemons import cmd_dev, cmd_reconcile, cmd_serve, cmd_worker
from yourclaw.cli.operator import (
    cmd_certs_host,
    cmd_certs_init,
    cmd_db_upgrade,
    cmd_hosts_add,
    cmd_hosts_drain,
    cmd_hosts_list,
    cmd_keys_generate,
    cmd_keys_rotate,
    cmd_say,
)

DESCRIPTION = """\
YourClaw control plane: a personal OpenClaw assistant on WhatsApp for everyone who signs up.

Start here:
  yourclaw dev              the whole product locally (API, background work, dashboard) on embedded defaults
  yourclaw say TEXT         be a WhatsApp user of the local product (a signed webhook), print the replies
  yourclaw serve            the API for production (needs DATABASE_URL, SUPABASE_URL, ENCRYPTION_KEY, ...)
  yourclaw worker           routes inbound WhatsApp messages and sends the outbox (several may run)
  yourclaw reconcile        the reconciler alone (several may run: one acts, the others stand by)
  yourclaw certs init       the CA and client certificate for the Docker hosts' mutual TLS
  yourclaw hosts add NAME   register a Docker host (then: hosts list, hosts drain NAME, hosts evacuate NAME)
  yourclaw users show EMAIL one user for support: subscription, credits, assistant, last poll, last error
  yourclaw backups list U   a user's volume backups (then: backups restore USER)
  yourclaw db upgrade       apply the database migrations
  yourclaw keys rotate      re-encrypt stored secrets with the first ENCRYPTION_KEY

Settings come from the environment and a .env file; .env.example lists every variable.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yourclaw", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    dev = add("dev", cmd_dev, "run the whole product locally on embedded defaults")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)

    say = add("say", cmd_say, "send a WhatsApp message to the local `yourclaw dev` as a user would, print the replies")
    say.add_argument("--phone", default="+14155552671", help="the sender's number (E.164)")
    say.add_argument("--port", type=int, default=8000, help="the port `yourclaw dev` listens on")
    say.add_argument("--wait", type=float, default=30.0, help="seconds to wait for replies")
    say.add_argument(
        "--replies",
        type=int,
        metavar="N",
        help="wait for N replies (a later proactive message, say) rather than for 3 quiet seconds",
    )
    say.add_argument("text", nargs="+")

    serve = add("serve", cmd_serve, "serve the API (production settings unless YOURCLAW_ENV=development)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", metavar="ACTION")
    db.required = True
    up = db.add_parser("upgrade", help="apply every migration up to the latest")
    up.set_defaults(func=cmd_db_upgrade)

    add("worker", cmd_worker, "route inbound WhatsApp messages and send the outbox (run several: they share work)")
    add("reconcile", cmd_reconcile, "run the reconciler: converge containers toward the assistants' desired state")

    certs = sub.add_parser("certs", help="TLS for the Docker hosts").add_subparsers(
        dest="certs_command", metavar="ACTION"
    )
    certs.required = True
    init = certs.add_parser("init", help="make the CA and the control plane's client certificate")
    init.add_argument("--force", action="store_true", help="replace existing ones")
    init.set_defaults(func=cmd_certs_init)
    host_cert = certs.add_parser("host", help="make a server certificate for one host's dockerd")
    host_cert.add_argument("name")
    host_cert.add_argument("--ip", action="append", help="an address the control plane uses (repeatable)")
    host_cert.add_argument("--dns", action="append", help="a DNS name the control plane uses (repeatable)")
    host_cert.set_defaults(func=cmd_certs_host)

    hosts = sub.add_parser("hosts", help="Docker hosts").add_subparsers(dest="hosts_command", metavar="ACTION")
    hosts.required = True
    host_add = hosts.add_parser("add", help="register a host after checking its engine over mutual TLS")
    host_add.add_argument("name")
    host_add.add_argument("--docker-url", required=True, help="tcp://IP:2376")
    host_add.add_argument("--max-containers", type=int, default=20)
    host_add.add_argument("--runtime-api-url", help="what this host's containers call (default RUNTIME_API_URL)")
    host_add.set_defaults(func=cmd_hosts_add)
    hosts.add_parser("list", help="capacity, assistants, reachability, last contact").set_defaults(func=cmd_hosts_list)
    drain = hosts.add_parser("drain", help="stop placing new assistants on a host")
    drain.add_argument("name")
    drain.set_defaults(func=cmd_hosts_drain)
    undrain = hosts.add_parser("undrain", help="place assistants on a host again")
    undrain.add_argument("name")
    undrain.set_defaults(func=lambda a: cmd_hosts_drain(a, draining=False))
    volumes.add_host_parsers(hosts)

    rollouts.add_parser(sub)
    support.add_parser(sub)
    volumes.add_parser(sub)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="keys_command", metavar="ACTION")
    keys.required = True
    keys.add_parser("rotate", help="re-encrypt stored secrets with the first ENCRYPTION_KEY").set_defaults(
        func=cmd_keys_rotate
    )
    keys.add_parser("generate", help="print a new Fernet key for ENCRYPTION_KEY").set_defaults(func=cmd_keys_generate)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        raise SystemExit(0)
    args.func(args)


if __name__ == "__main__":
    main()
