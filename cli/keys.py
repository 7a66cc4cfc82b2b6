"""`thumbnails keys create OWNER [--file PATH]` and `thumbnails keys webhook-secret OWNER`
(also `thumbnails-keys`)."""

from __future__ import annotations

import argparse
import os
import sys

from core.callbacks import owner_signing_secret
from core.keys import new_key


def main(argv: list[str] | None = None) -> int:
    """`thumbnails-keys create OWNER [--file PATH]`: make a key, store its hash, print the key once."""
    parser = argparse.ArgumentParser(prog="thumbnails-keys", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key for OWNER")
    create.add_argument("owner")
    create.add_argument("--file", help="append the record to this keys file (else print it)")
    secret = commands.add_parser("webhook-secret", help="print OWNER's webhook signing secret (needs WEBHOOK_SECRET)")
    secret.add_argument("owner")
    args = parser.parse_args(argv)
    master = os.environ.get("WEBHOOK_SECRET", "").strip()
    if args.command == "webhook-secret":
        if not master:
            parser.error("WEBHOOK_SECRET is not set: the signing secrets are derived from it")
        print(f"webhook signing secret for {args.owner} (give it to them only):", file=sys.stderr)
        print(owner_signing_secret(master, args.owner))
        return 0
    try:
        key, record = new_key(args.owner)
    except ValueError as error:
        parser.error(str(error))
    if args.file:
        with open(args.file, "a", encoding="utf-8") as keys_file:
            keys_file.write(record.line() + "\n")
        print(f"stored the hash in {args.file}", file=sys.stderr)
    else:
        print(f"record for API_KEYS / API_KEYS_FILE: {record.line()}", file=sys.stderr)
    print(f"key for {args.owner} (shown once, keep it secret):", file=sys.stderr)
    print(key)
    if master:
        # On stderr with its label: stdout stays the key alone, for scripts that capture it.
        print(f"webhook signing secret for {args.owner} (verifies X-Thumbnails-Signature): "
              f"{owner_signing_secret(master, args.owner)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
