"""`thumbnails keys create OWNER [--file PATH]` (also `thumbnails-keys`)."""

from __future__ import annotations

import argparse
import sys

from core.keys import new_key


def main(argv: list[str] | None = None) -> int:
    """`thumbnails-keys create OWNER [--file PATH]`: make a key, store its hash, print the key once."""
    parser = argparse.ArgumentParser(prog="thumbnails-keys", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key for OWNER")
    create.add_argument("owner")
    create.add_argument("--file", help="append the record to this keys file (else print it)")
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
