"""Command line: ``auditor scan | demo | rules | explain``.

Exit codes: 0 the gate passed; 1 a failing finding at or above ``--fail-on`` or an ``error``
finding (the gate fails closed); 2 a usage error or a source that cannot be read at all.
Heavy modules are imported inside the commands so ``auditor --version`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from auditor import __version__

FAIL_ON = ("info", "low", "medium", "high", "critical", "never")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="auditor",
        description="Audit whether Azure OpenAI token usage behind APIM is attributed to teams.",
    )
    p.add_argument("--version", action="version", version=f"attribution-auditor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="audit an APIOps tree or a single policy file")
    scan.add_argument(
        "source",
        type=Path,
        help="APIOps artifacts folder (or a repo holding one), or one policy/fragment XML file",
    )
    _output_options(scan)
    scan.add_argument(
        "--include-revisions",
        action="store_true",
        help="also audit non-current API revisions (apis/<name>;rev=N)",
    )

    demo = sub.add_parser("demo", help="audit the bundled demo estate and write its gap report")
    demo.add_argument(
        "--out-dir",
        type=Path,
        default=Path("reports"),
        help="folder for demo-gap-report.md and .json (default: reports)",
    )
    demo.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")

    eff = sub.add_parser(
        "effective",
        help="print the effective policy of an API operation, each statement with its origin",
    )
    eff.add_argument("source", type=Path, help="APIOps folder or policy file")
    eff.add_argument("api", help="API name (as in the report)")
    eff.add_argument("operation", nargs="?", help="operation name (default: every operation)")
    eff.add_argument("--product", help="route through this product (default: every route)")

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")
    explain = sub.add_parser("explain", help="show one rule: why, fix and examples")
    explain.add_argument("rule_id")
    explain.add_argument(
        "--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)"
    )
    return p


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("text", "md", "json"),
        help="output format (default: text, or from the -o file extension)",
    )
    p.add_argument("-o", "--output", type=Path, help="write the report to this file (atomically)")
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="high",
        help="lowest severity of a failing finding that fails the gate (default: high)",
    )
    p.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")


def _report(
    source: Path, rules_file: Path | None, include_revisions: bool = False
) -> dict[str, Any]:
    from auditor import engine, rules, sources
    from auditor.report import to_dict

    catalog = rules.load(rules_file)
    estate = sources.load(source, include_revisions=include_revisions)
    return to_dict(engine.run(estate, catalog))


def _cmd_scan(args: argparse.Namespace) -> int:
    from auditor.files import write_atomic
    from auditor.render import EXTENSIONS, RENDERERS
    from auditor.report import gate_failures

    fmt = args.format
    if fmt is None:
        fmt = EXTENSIONS.get(args.output.suffix.lower(), "text") if args.output else "text"
    report = _report(args.source, args.rules, args.include_revisions)
    text = RENDERERS[fmt](report)
    if args.output:
        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
        if fmt != "text":
            sys.stdout.write(RENDERERS["text"](report))
    else:
        sys.stdout.write(text)
    blocking = gate_failures(report, args.fail_on)
    if blocking:
        print(
            f"gate: FAILED ({len(blocking)} finding(s) at or above '{args.fail_on}', "
            "or unreadable input)",
            file=sys.stderr,
        )
        return 1
    print("gate: passed", file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from auditor.files import write_atomic
    from auditor.render import RENDERERS
    from auditor.sources import demo_path

    report = _report(demo_path(), args.rules)
    # NOTE: the bundled path is machine-specific; the report names the demo instead.
    report["source"]["location"] = "bundled demo estate (contoso-ai-gateway)"
    md = args.out_dir / "demo-gap-report.md"
    js = args.out_dir / "demo-gap-report.json"
    write_atomic(md, RENDERERS["md"](report))
    write_atomic(js, RENDERERS["json"](report))
    sys.stdout.write(RENDERERS["text"](report))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0


def _cmd_effective(args: argparse.Namespace) -> int:
    from auditor import sources
    from auditor.engine import routes_for
    from auditor.model import Operation
    from auditor.render.effective import render

    estate = sources.load(args.source)
    apis = [(s, a) for s in estate.services for a in s.apis if a.name == args.api]
    if not apis:
        known = ", ".join(sorted(a.name for s in estate.services for a in s.apis))
        print(f"auditor: no API '{args.api}' in {args.source} (APIs: {known})", file=sys.stderr)
        return 2
    for service, api in apis:
        ops = list(api.operations) or [Operation("*", None, None, None)]
        if args.operation:
            ops = [op for op in ops if op.name == args.operation]
            if not ops:
                print(
                    f"auditor: API '{api.name}' has no operation '{args.operation}'",
                    file=sys.stderr,
                )
                return 2
        for op in ops:
            for route in routes_for(service, api, op, estate):
                if args.product and route.product != args.product:
                    continue
                title = f"== {api.name} / {op.name} - {route.label}"
                sys.stdout.write(render(route.eff, title) + "\n")
    return 0


def _cmd_rules(args: argparse.Namespace) -> int:
    from auditor import rules

    catalog = rules.load(args.rules)
    print(f"{'id':<7} {'signal':<12} {'severity':<9} title")
    for r in catalog.rules:
        print(f"{r.id:<7} {r.signal or 'source':<12} {r.severity:<9} {r.title}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from auditor import rules

    catalog = rules.load(args.rules)
    try:
        r = catalog.get(args.rule_id.upper())
    except KeyError:
        print(f"auditor: unknown rule '{args.rule_id}' (see 'auditor rules')", file=sys.stderr)
        return 2
    print(
        f"{r.id} {r.name}\n  signal: {r.signal or 'source'}  severity: {r.severity}  "
        f"target: {r.target}  needs: {', '.join(sorted(r.requires)) or '-'}\n"
    )
    print(f"{r.title}\n\nWhy:\n  {r.why}\n\nFix:\n  {r.fix}")
    if r.parameters:
        print("\nParameters:")
        for k, v in r.parameters.items():
            print(f"  {k}: {v}")
    if r.fail_example:
        print("\nFails:\n" + _indent(r.fail_example))
    if r.pass_example:
        print("Passes:\n" + _indent(r.pass_example))
    return 0


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip().splitlines())


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from auditor.errors import AuditorError

    commands = {
        "scan": _cmd_scan,
        "demo": _cmd_demo,
        "rules": _cmd_rules,
        "explain": _cmd_explain,
        "effective": _cmd_effective,
    }
    try:
        return commands[args.command](args)
    except AuditorError as exc:
        print(f"auditor: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"auditor: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("auditor: interrupted; no report was written", file=sys.stderr)
        return 130
