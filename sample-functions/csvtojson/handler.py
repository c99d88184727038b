"""Turns a CSV document (first row: column names) into a JSON array of objects."""

import csv
import json
import sys


def main() -> int:
    """Convert stdin to stdout; a malformed document exits 1 with the reason on stderr."""
    text = sys.stdin.read()
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|") if text else csv.excel
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.DictReader(text.splitlines(), dialect=dialect, strict=True))
    except csv.Error as error:
        print(f"csvtojson: malformed CSV: {error}", file=sys.stderr)
        return 1
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            print(f"csvtojson: line {number} has the wrong number of fields", file=sys.stderr)
            return 1
    json.dump(rows, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
