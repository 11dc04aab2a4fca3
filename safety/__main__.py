"""Command line: `python -m safety assess TEXT --from ADDR` and `python -m safety eval FILE`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from safety.evaluation import evaluate, format_report, load_cases
from safety.triage import assess


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m safety", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("assess", help="triage one message and print the assessment as JSON")
    one.add_argument("text")
    one.add_argument("--from", dest="sender", default=None, help="whatsapp:+E164 sender")
    one.add_argument("--history", action="append", default=[], help="earlier message (repeat)")
    one.add_argument("--language", default=None, help="force the reply language")
    ev = sub.add_parser("eval", help="evaluate the rules on a labelled JSONL file")
    ev.add_argument("file")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return 0 on success and 2 on a usage error."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "assess":
        result = assess(
            args.text, history=tuple(args.history), sender=args.sender, language=args.language
        )
        out = {
            "level": result.level.value,
            "rule_ids": list(result.rule_ids),
            "categories": sorted(result.categories),
            "escalate": result.escalate,
            "language": result.language,
            "subject": result.subject,
            "contact": dataclasses.asdict(result.contact),
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    try:
        cases = load_cases(args.file)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = evaluate(cases)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
