"""Command line: ``auditor scan | demo | rules | explain``.

Exit codes: 0 the gate passed; 1 a failing finding at or above ``--fail-on`` or an ``error``
finding (the gate fails closed); 2 a usage error or a source that cannot be read at all.
Heavy modules are imported inside the commands so ``auditor --version`` stays instant.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.errors import ConfigError
from auditor.usage import options as usage_options

if TYPE_CHECKING:
    from auditor.sources.parts import Splittable

FAIL_ON = ("info", "low", "medium", "high", "critical", "never")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="auditor",
        description="Audit whether Azure OpenAI token usage behind APIM is attributed to teams.",
    )
    p.add_argument("--version", action="version", version=f"attribution-auditor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="audit an estate and gate on its findings")
    _source_options(scan)
    _output_options(scan)
    usage_options.add_price_option(scan)

    snap = sub.add_parser("snapshot", help="store an estate as a replayable JSON snapshot")
    _source_options(snap)
    snap.add_argument("-o", "--output", type=Path, required=True, help="snapshot file to write")
    usage_options.add_price_option(snap)

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
    _source_options(eff, live=False)
    eff.add_argument("api", help="API name (as in the report)")
    eff.add_argument("operation", nargs="?", help="operation name (default: every operation)")
    eff.add_argument("--product", help="route through this product (default: every route)")

    tui = sub.add_parser("tui", help="triage interactively (default: the bundled demo estate)")
    _source_options(tui)
    tui.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")
    tui.add_argument("--waivers", type=Path, help="YAML file of accepted findings")
    tui.add_argument("--baseline", type=Path, help="fingerprints of known findings")
    usage_options.add_price_option(tui)

    usage_options.add_prices_command(sub)

    fix = sub.add_parser(
        "fix", help="apply the exact patches of failing findings to the policy XML files"
    )
    _source_options(fix, live=False)
    fix.add_argument("--rule", action="append", default=[], metavar="ID",
                     help="only this rule's findings (repeatable)")  # fmt: skip
    fix.add_argument("--api", action="append", default=[], metavar="NAME",
                     help="only this API's findings (repeatable)")  # fmt: skip
    fix.add_argument("--dry-run", action="store_true", help="print the diffs, change nothing")
    fix.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")
    explain = sub.add_parser("explain", help="show one rule: why, fix and examples")
    explain.add_argument("rule_id", help="a rule's id (COV001) or name (llm-calls-not-metered)")
    explain.add_argument(
        "--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)"
    )
    return p


SOURCE_TYPES = ("auto", "apiops", "arm", "bicep", "terraform", "snapshot", "file")
FORMATS = ("text", "md", "json", "sarif", "junit", "html", "csv", "focus")


def _source_options(p: argparse.ArgumentParser, *, live: bool = True) -> None:
    p.add_argument(
        "source",
        type=Path,
        nargs="?" if live else None,
        help="APIOps tree, ARM/Bicep/Terraform files or a repo holding them, a snapshot, "
        "or one policy/fragment XML file" + (" (or --azure)" if live else ""),
    )
    if live:
        _live_options(p)
    p.add_argument(
        "--source-type",
        choices=SOURCE_TYPES,
        default="auto",
        help="what SOURCE is (default: detect)",
    )
    p.add_argument(
        "--include-revisions",
        action="store_true",
        help="also audit non-current API revisions (apis/<name>;rev=N)",
    )


def _live_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live Azure scan (read-only; Reader role is enough)")
    g.add_argument("--azure", action="store_true", help="scan Azure now instead of files")
    g.add_argument(
        "--subscription",
        action="append",
        default=[],
        metavar="ID",
        help="subscription to scan (repeatable; default: every one you can read)",
    )
    g.add_argument("--resource-group", metavar="RG", help="only this resource group")
    g.add_argument("--apim", metavar="NAME", help="only this API Management service")
    g.add_argument("--tenant", metavar="ID", help="tenant to sign in to")
    g.add_argument(
        "--cloud",
        choices=("public", "usgov", "china"),
        default="public",
        help="Azure cloud (default: public)",
    )
    g.add_argument(
        "--arm-endpoint",
        metavar="URL",
        help="another Resource Manager endpoint (Azure Stack Hub, private clouds)",
    )
    g.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="parallel requests to Resource Manager (default: 8)",
    )
    usage_options.add_live_options(g)


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: text, or from the -o file extension)",
    )
    p.add_argument("-o", "--output", type=Path, help="write the report to this file (atomically)")
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="high",
        help="lowest severity of a failing finding that fails the gate (default: high)",
    )
    p.add_argument(
        "--fail-on-unknown",
        action="store_true",
        help="also fail when an LLM API (or an API that may be one) has an unknown verdict",
    )
    p.add_argument("--rules", type=Path, help="rule catalog (default: the bundled rules.yaml)")
    p.add_argument(
        "--waivers",
        type=Path,
        help="YAML file of accepted findings (rule, target, reason, owner, expires)",
    )
    p.add_argument(
        "--baseline", type=Path, help="fingerprints of known findings: only new ones fail"
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes for large estates (default: the available cores, at most 4)",
    )
    p.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="write the fingerprints of this run's failing findings to FILE",
    )


def _load_estate(args: argparse.Namespace) -> Any:
    from auditor import sources
    from auditor.errors import SourceError

    if getattr(args, "azure", False):
        if args.source is not None:
            raise SourceError("give either SOURCE or --azure, not both")
        from auditor.sources import live  # imported only here: offline runs never load azure

        return live.load(live.LiveOptions.from_args(args))
    if args.source is None:
        raise SourceError("SOURCE is required (or --azure for a live scan)")
    _usage_needs_azure(args)
    return sources.load(
        args.source, kind=args.source_type, include_revisions=args.include_revisions
    )


def _usage_needs_azure(args: argparse.Namespace) -> None:
    from auditor.errors import SourceError

    if getattr(args, "usage", None) and not getattr(args, "azure", False):
        raise SourceError(
            "--usage measures a live estate (--azure); a snapshot replays the usage it holds"
        )


def _report(args: argparse.Namespace) -> dict[str, Any]:
    """Load, audit with suppressions, and return the JSON report (plus gate notes)."""
    # NOTE: a scan allocates millions of small objects that all live to the end; the cyclic
    # collector only slows it down (25% at 10,000 APIs). Reference counting still frees.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _audit(args)
    finally:
        if gc.get_freeze_count() == 0:
            # NOTE: the scan's objects go to the collector's oldest generation (frozen, then
            # let go): left in the youngest, its first pass after it is turned back on walked
            # them all (75 ms at 1,000 APIs) while the report was written. Not done where the
            # caller keeps objects frozen (the TUI): unfreezing would hand those back too.
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


class _Setup:
    """The catalog, the waivers and the baseline, and the engine's imports (a tenth of a second):
    done once."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sup: Any = None

    def __call__(self) -> None:
        if self.sup is not None:
            return
        from auditor import engine, partition, report, rules, suppress  # noqa: F401 - see above

        args = self.args
        self.catalog = rules.load(args.rules)
        self.sup = suppress.Suppressor(
            waivers=suppress.load_waivers(args.waivers) if args.waivers else [],
            baseline=suppress.load_baseline(args.baseline) if args.baseline else frozenset(),
        )


def _audit(args: argparse.Namespace) -> dict[str, Any]:
    from auditor.parallel import default_workers

    jobs = getattr(args, "jobs", None) or default_workers()
    _usage_needs_azure(args)
    setup = _Setup(args)
    try:
        source = _splittable(args)
    except Exception:
        setup()  # a bad rules, waivers or baseline file is reported first, as it always was
        raise
    setup()
    from auditor import engine, partition, suppress
    from auditor.report import to_dict

    catalog, sup = setup.catalog, setup.sup
    gap = None
    # NOTE: measured usage is judged per API on the whole estate (which deployments each API's
    # tokens went to), so a source that holds it is audited in one process.
    if (
        source is not None
        and getattr(source, "usage", None) is None
        and partition.wanted(source, jobs)
    ):

        def suppressor(ignores: list[Any]) -> Any:
            sup.ignores = ignores
            return sup.apply

        audit = partition.run(source, catalog, suppressor, workers=jobs)
    else:
        estate = source.estate() if source is not None else _load_estate(args)
        if getattr(args, "usage_file", None) is not None:
            estate = usage_options.attach_file(estate, args.usage_file)
        gap = usage_options.gap_for(estate, args)
        sup.ignores = suppress.inline_ignores(estate)
        audit = engine.run(estate, catalog, sup.apply, workers=jobs)
    report = to_dict(audit)
    report["source"]["root"] = _source_root(args)
    report["source"].update(_provenance(args, audit.estate))
    if getattr(args, "source", None) is not None and not getattr(args, "azure", False):
        from auditor.remedy import attach

        attach(report, audit, Path(args.source))
    report["warnings"] = sup.warnings()
    report["expired_waivers"] = [
        {"rule": w.rule, "target": w.target, "owner": w.owner, "expires": w.expires.isoformat()}
        for w in sup.expired()
    ]
    if gap is not None:
        report["usage"] = gap.report()
    return report


def _splittable(args: argparse.Namespace) -> Splittable | None:
    """The source, read as far as it can be before it is split across workers (None for a live
    scan, a policy file or a folder of several kinds: those are loaded whole)."""
    from auditor import sources

    source = getattr(args, "source", None)
    if getattr(args, "azure", False) or source is None:
        return None
    return sources.splittable(
        source, kind=args.source_type, include_revisions=args.include_revisions
    )


def _provenance(args: argparse.Namespace, estate: Any) -> dict[str, Any]:
    """When the scan ran; the git state of the scanned folder (not of the bundled demo, which
    is part of the tool, nor of a live scan); for a replay, the snapshot and its source's."""
    from auditor.provenance import git_state, scan_time
    from auditor.sources import is_demo

    out: dict[str, Any] = {"scanned_at": scan_time()}
    replayed = estate.replayed
    if replayed is not None:
        if replayed.get("git") is not None:
            out["git"] = replayed["git"]
        out["snapshot"] = {"file": replayed["file"], "taken_at": replayed.get("taken_at")}
        return out
    source = getattr(args, "source", None)
    if source is None or getattr(args, "azure", False):
        return out
    if is_demo(source):
        out["bundled_demo"] = True
        return out
    git = git_state(Path(source))
    if git is not None:
        out["git"] = git
    return out


def _source_root(args: argparse.Namespace) -> str:
    """The scanned folder relative to the working folder (file paths in findings hang off it)."""
    source = getattr(args, "source", None)
    if source is None:
        return ""
    folder = Path(source).resolve()
    if folder.is_file():
        folder = folder.parent
    try:
        rel = folder.relative_to(Path.cwd().resolve())
    except ValueError:
        return folder.as_posix()
    return "" if rel == Path(".") else rel.as_posix()


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, in plain words; missing folders are made,
    and said to be."""
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{path}: {parent} is a file, not a folder")
            break
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        print(f"made folder {path.parent}", file=sys.stderr)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a file")


def _cmd_scan(args: argparse.Namespace) -> int:
    from auditor.render import RENDERERS, format_for, unknown_extension

    fmt = args.format
    if fmt is None and args.output:
        fmt = format_for(args.output)
        if fmt is None:
            raise ConfigError(f"{unknown_extension(args.output)}; or say the format with --format")
    fmt = fmt or "text"
    if args.output:
        check_output(args.output)
    # NOTE: the engine's modules are imported by _report, while a large source may already be
    # read in other processes; importing them here first would hold those back.
    report = _report(args)
    from auditor.counts import counts, is_gap
    from auditor.files import write_atomic
    from auditor.limits import not_fully_judged, summary_line
    from auditor.render.text import fit, terminal_width
    from auditor.report import gate_failures
    from auditor.suppress import baseline_text

    width = terminal_width()

    text = RENDERERS[fmt](report)
    if args.output:
        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
        # NOTE: the terminal gets the summary whatever the file holds (a text file too).
        sys.stdout.write(RENDERERS["text"](report))
    else:
        sys.stdout.write(text)
    if args.write_baseline:
        write_atomic(args.write_baseline, baseline_text(report["findings"]))
        print(f"wrote baseline {args.write_baseline}", file=sys.stderr)
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    blocking = gate_failures(report, args.fail_on)
    expired = report["expired_waivers"] if args.fail_on != "never" else []
    for w in expired:
        print(
            f"gate: waiver {w['rule']} '{w['target']}' (owner {w['owner']}) expired on "
            f"{w['expires']}",
            file=sys.stderr,
        )
    unsure = not_fully_judged(report) if getattr(args, "fail_on_unknown", False) else []
    judged = summary_line(report)
    if blocking or expired or unsure:
        unreadable = sum(1 for f in blocking if f["status"] == "error")
        gap_n = sum(1 for f in blocking if is_gap(f))
        note_n = len(blocking) - unreadable - gap_n
        why = [f"{gap_n} of the {counts(report['findings']).gaps} open gap(s) at or above "
               f"'{args.fail_on}'"]  # fmt: skip
        if note_n:
            why.append(f"{note_n} note(s) at or above '{args.fail_on}'")
        why += [f"{unreadable} unreadable input(s)", f"{len(expired)} expired waiver(s)"]
        if unsure:
            why.append(f"{len(unsure)} API(s) with unknown verdicts (--fail-on-unknown)")
        print(fit(f"gate: FAILED ({', '.join(why)})", width), file=sys.stderr)
        print(fit(judged, width), file=sys.stderr)
        return 1
    print("gate: passed", file=sys.stderr)
    print(fit(judged, width), file=sys.stderr)
    return 0


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from auditor.files import write_atomic
    from auditor.sources import snapshot

    estate = _load_estate(args)
    gap = usage_options.gap_for(estate, args)
    if gap is not None:
        from dataclasses import replace

        # NOTE: the prices go with the usage, so the snapshot replays the same money figures.
        estate = replace(estate, usage=gap.stored())
    check_output(args.output)
    write_atomic(args.output, snapshot.dumps(estate, _taken(args)))
    apis = sum(len(s.apis) for s in estate.services)
    print(
        f"wrote {args.output}: {len(estate.services)} service(s), {apis} API(s) "
        f"from {estate.source_kind}",
        file=sys.stderr,
    )
    if gap is not None:
        from auditor.render.money import money_line

        print(
            f"usage {gap.usage.period.start}..{gap.usage.period.end}: " + money_line(gap.report()),
            file=sys.stderr,
        )
    return 0


def _taken(args: argparse.Namespace) -> dict[str, Any]:
    """What a snapshot says of its taking: when, and the git state of the source folder."""
    from auditor.provenance import git_state, scan_time

    taken: dict[str, Any] = {"taken_at": scan_time()}
    if args.source is not None and not getattr(args, "azure", False):
        git = git_state(Path(args.source))
        if git is not None:
            taken["git"] = git
    return taken


def _name_demo(report: dict[str, Any]) -> dict[str, Any]:
    """The demo's report names the demo, not the folder it was read from."""
    from auditor.sources import DEMO_LOCATION

    # NOTE: the bundled path is machine-specific (a site-packages folder once installed).
    report["source"]["location"] = DEMO_LOCATION
    report["source"]["root"] = ""
    return report


def _cmd_demo(args: argparse.Namespace) -> int:
    from auditor.files import write_atomic
    from auditor.render import RENDERERS
    from auditor.sources import demo_path

    report = _report(
        argparse.Namespace(
            source=demo_path(),
            source_type="auto",
            include_revisions=False,
            rules=args.rules,
            waivers=None,
            baseline=None,
            usage_file=usage_options.demo_usage_path(),
        )
    )
    _name_demo(report)
    md = args.out_dir / "demo-gap-report.md"
    js = args.out_dir / "demo-gap-report.json"
    write_atomic(md, RENDERERS["md"](report))
    write_atomic(js, RENDERERS["json"](report))
    sys.stdout.write(RENDERERS["text"](report))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0


def _cmd_effective(args: argparse.Namespace) -> int:
    from auditor.engine import routes_for
    from auditor.model import Operation
    from auditor.render.effective import render

    estate = _load_estate(args)
    apis = [(s, a) for s in estate.services for a in s.apis if a.name == args.api]
    if not apis:
        known = ", ".join(sorted(a.name for s in estate.services for a in s.apis))
        print(f"auditor: no API '{args.api}' in {args.source} (APIs: {known})", file=sys.stderr)
        return 2
    if args.product:
        linked = sorted({pr for _s, a in apis for pr in a.products})
        if args.product not in linked:
            valid = ", ".join(linked) if linked else "none: the API is in no product"
            exists = any(args.product in s.products for s, _a in apis)
            what = (
                f"API '{args.api}' is not in product '{args.product}'"
                if exists
                else f"no product '{args.product}' in the service of API '{args.api}'"
            )
            print(f"auditor: {what} (its products: {valid})", file=sys.stderr)
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


def _cmd_tui(args: argparse.Namespace) -> int:
    import json

    from auditor.files import saved_report
    from auditor.sources import demo_path, is_demo

    if args.source is None and not args.azure:
        args.source, args.source_type = demo_path(), "auto"
        args.usage_file = usage_options.demo_usage_path()
    source = args.source
    if source is not None and not source.exists():
        from auditor.errors import SourceError

        # NOTE: said before the screen opens, as `auditor scan` says it (exit 2).
        raise SourceError(f"{source}: no such file or folder")
    if (
        source is not None
        and source.suffix == ".json"
        and source.is_file()
        and saved_report(source)
    ):

        def reload() -> dict[str, Any]:
            return dict(json.loads(source.read_text(encoding="utf-8")))

        return _run_tui(reload, str(source))
    label = "Azure (live)" if args.azure else str(args.source)
    if not args.azure and is_demo(args.source):
        # NOTE: reports exported from the TUI name the demo as `auditor demo`'s do; the label
        # stays the folder, which the detail view reads its evidence from.
        return _run_tui(lambda: _name_demo(_report(args)), label)
    return _run_tui(lambda: _report(args), label)


def _run_tui(load: Any, label: str) -> int:
    from auditor import tui  # imported only here: the core never loads textual

    return int(tui.run(load, label))


def _cmd_rules(args: argparse.Namespace) -> int:
    from auditor import rules

    catalog = rules.load(args.rules)
    print(f"{'id':<7} {'signal':<12} {'severity':<9} title")
    for r in catalog.rules:
        print(f"{r.id:<7} {r.signal or 'source':<12} {r.severity:<9} {r.title}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    import difflib

    from auditor import rules

    catalog = rules.load(args.rules)
    wanted = args.rule_id.strip().lower()
    found = [rule for rule in catalog.rules if wanted in (rule.id.lower(), rule.name.lower())]
    if not found:
        names = {r.name.lower(): r.id for r in catalog.rules} | {
            r.id.lower(): r.id for r in catalog.rules
        }
        near = [rule.id for rule in catalog.rules if wanted in rule.name.lower()] or [
            names[n] for n in difflib.get_close_matches(wanted, names, n=3, cutoff=0.75)
        ]
        near = list(dict.fromkeys(near))
        hint = f" (did you mean {', '.join(near)}?)" if near else " (see 'auditor rules')"
        print(f"auditor: unknown rule '{args.rule_id}'{hint}", file=sys.stderr)
        return 2
    r = found[0]
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
    if r.example_context:
        import yaml

        # NOTE: what the examples are judged in (a subscription, a diagnostic, an account):
        # without it, an example that needs more than its policy reads as if it proved nothing.
        print("Example context (the rest of the estate the examples are judged in):")
        print(_indent(yaml.safe_dump(dict(r.example_context), sort_keys=True)))
    return 0


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.rstrip().splitlines())


def _cmd_fix(args: argparse.Namespace) -> int:
    """Apply the exact patches of failing findings to policy XML files, atomically."""
    from auditor import engine, rules, suppress
    from auditor.files import write_atomic
    from auditor.remedy import combine, patches

    estate = _load_estate(args)
    catalog = rules.load(args.rules)
    sup = suppress.Suppressor(waivers=[], baseline=frozenset())
    sup.ignores = suppress.inline_ignores(estate)
    audit = engine.run(estate, catalog, sup.apply)
    wanted = {
        f.fingerprint
        for f in audit.findings
        if (not args.rule or f.rule in args.rule) and (not args.api or f.api in args.api)
    }
    found = {k: p for k, p in patches(audit, args.source).items() if k in wanted}
    # NOTE: only policy files are rewritten: a policy inside Bicep or Terraform is shown as a
    # diff in the reports, and changed by whoever owns the template.
    files = [p for p in combine(list(found.values())) if p.path.lower().endswith(".xml")]
    if not files:
        print("auditor fix: no exact patch applies to a policy file", file=sys.stderr)
        return 0
    base = args.source if args.source.is_dir() else args.source.parent
    for patch in files:
        target = base / patch.path
        before = target.read_bytes().decode("utf-8")  # line endings kept as they are
        try:
            after = patch.apply(before)
        except ValueError as exc:
            print(f"auditor fix: {exc}; not changed", file=sys.stderr)
            return 2
        if args.dry_run:
            sys.stdout.write(patch.diff(before))
            continue
        mode = target.stat().st_mode
        write_atomic(target, after)
        os.chmod(target, mode)
        print(f"fixed {patch.path}: {patch.description}", file=sys.stderr)
    return 0


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
        "snapshot": _cmd_snapshot,
        "tui": _cmd_tui,
        "fix": _cmd_fix,
        "prices": usage_options.cmd_prices,
    }
    try:
        return commands[args.command](args)
    except BrokenPipeError:
        return _closed_pipe()
    except AuditorError as exc:
        print(f"auditor: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"auditor: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("auditor: interrupted; no report was written", file=sys.stderr)
        return 130


def run() -> None:
    """The process entry point (console script and ``python -m auditor``): :func:`main`, then a
    quick exit.

    NOTE: after a large scan the interpreter would spend tens of milliseconds freeing the estate
    and the report object by object. Every file is written and closed by then; the standard
    streams are flushed here, and a failure to flush them is an error like any other.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = _closed_pipe()
    except OSError:
        code = code or 1
    os._exit(code)


def _closed_pipe() -> int:
    """The reader of the output went away (``| head``): nothing is wrong, end quietly (0).

    NOTE: standard output is pointed at /dev/null, so the interpreter's own last flush of what
    is still buffered does not fail again on the closed pipe.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    return 0
