"""`yekuo peers`: the simulated 95598, marketing, call centre and SMS systems, for demos next to `make run`."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from api.cli.common import Context, Subparsers


def add_parsers(sub: Subparsers) -> None:
    peers = sub.add_parser("peers", help="simulated peer systems").add_subparsers(dest="peers_cmd", required=True)
    s = peers.add_parser("serve", help="serve the simulated systems (those with a secret) at /<system>")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8701)
    s.add_argument("--yekuo", default="http://127.0.0.1:8000", help="Yekuo's base URL, for the peers' calls")
    s.add_argument("--timeouts", type=int, default=0, help="answer each message's first N deliveries late")
    s.add_argument("--failures", type=int, default=0, help="then answer N deliveries with 503")
    s.add_argument("--delay", type=float, default=15.0, help="seconds a late answer waits")
    s.add_argument("--duplicate", action="store_true", help="send each call to Yekuo twice")
    s.add_argument("--reverse", action="store_true", help="send queued calls newest first")
    s.add_argument("--every", type=float, default=5.0, help="seconds between sending queued calls")
    s.set_defaults(func=cmd_peers_serve)
    s = peers.add_parser("send", help="sign and send one call (a JSON file) to Yekuo as a system")
    s.add_argument("system", choices=["95598", "marketing", "callcenter", "sms", "verification"])
    s.add_argument("file", type=Path)
    s.add_argument("--id", help="message id (default: a fresh one)")
    s.add_argument("--yekuo", default="http://127.0.0.1:8000")
    s.set_defaults(func=cmd_peers_send)


def _peers(args: argparse.Namespace, faults: object = None) -> dict[str, object]:
    from engine.connectors import config
    from engine.connectors.simulator import Faults, SimulatedPeer, http_transport

    peers = {}
    for system in config.SYSTEMS:
        secret = config.get(system).secret
        if secret:
            peers[system] = SimulatedPeer(system, secret, faults or Faults(), transport=http_transport(args.yekuo))
    if not peers:
        raise SystemExit("set YEKUO_CONNECTOR_<SYSTEM>_SECRET (the same value Yekuo uses) for at least one of "
                         + ", ".join(config.SYSTEMS))
    return peers


def cmd_peers_serve(args: argparse.Namespace, ctx: Context) -> int:
    from engine.connectors.simulator import Faults, serve

    faults = Faults(timeouts=args.timeouts, failures=args.failures, delay=args.delay,
                    duplicate_calls=args.duplicate, reverse_calls=args.reverse)
    peers = _peers(args, faults)
    server = serve(peers, args.host, args.port)  # type: ignore[arg-type]
    for system in peers:
        print(f"{system}: http://{args.host}:{server.server_port}/{system} "
              f"(YEKUO_CONNECTOR_{system.upper()}_URL)")
    print(f"calling Yekuo at {args.yekuo}; pid {os.getpid()}; Ctrl-C stops")
    try:
        while True:
            time.sleep(args.every)
            for system, peer in peers.items():
                for status, body in peer.flush():  # type: ignore[attr-defined]
                    print(f"{system} -> yekuo: {status} {json.dumps(body, ensure_ascii=False)[:200]}")
    finally:
        server.shutdown()


def cmd_peers_send(args: argparse.Namespace, ctx: Context) -> int:
    peer = _peers(args).get(args.system)
    if peer is None:
        raise SystemExit(f"set YEKUO_CONNECTOR_{args.system.upper()}_SECRET first")
    status, body = peer.send(json.loads(args.file.read_text(encoding="utf-8")), message_id=args.id)  # type: ignore[attr-defined]
    print(f"{status} {json.dumps(body, ensure_ascii=False)}")
    return 0 if status == 200 else 1
