"""Benchmark ``auditor scan`` on the same generated estate written as ARM JSON and as Terraform.

Usage::

    python bench/bench_iac.py [--sizes 1000] [--ops 5] [--keep DIR] [--repeat 3] [--checkov]
                              [--repos DIR ...]

For every size the script (not timed) generates the APIOps estate of ``bench/bench_scan.py``
(N APIs x ``--ops`` operations), loads it with ``auditor.sources.load`` and converts it twice:

a. ``arm/main.json``: one deployment template whose ``resources`` are the estate's resources
   from ``auditor.sources.snapshot.to_resources`` (``_origin``/``_lines`` removed, an
   ``apiVersion`` added; policies are ``properties.value`` strings with ``format: rawxml``);
b. ``terraform/``: ``main.tf`` with azurerm resources (service, global policy, APIs, operations,
   API and operation policies, products, product policies, product-API links, policy fragments,
   loggers, diagnostics, backends, subscriptions, named values) whose policies are
   ``xml_content = file("${path.module}/policies/<x>.xml")``. azurerm has no pool backend, so
   the pool backend is an ``azapi_resource`` (the usual workaround).

Both forms are loaded with the project's sources and must show the APIOps estate's APIs,
operations and policies without read errors (counts are printed; a mismatch stops the run).
Then, per form (apiops as the baseline, arm, terraform), it measures:

1. wall time of ``python -m auditor scan DIR --source-type KIND --format json -o out.json
   --fail-on never`` in a fresh subprocess, best of ``--repeat``;
2. the in-process split: load (``sources.load``), run (``engine.run``) and report
   (``report.to_dict`` + the JSON renderer), with the cyclic GC off when ``auditor.cli`` turns
   it off around a scan;
3. whether the per-API verdicts (LLM or not, and each signal) of the ARM and Terraform scans
   equal those of the APIOps scan; differences are listed by signal and by rule;
4. for Terraform, the read of main.tf (parse, evaluate, lower) and the tree-sitter parse within
   it, best of 3 in process.

``--repos DIR ...`` also times a scan of each given folder (real Terraform repositories: the
target is 2 s each) and says how many LLM APIs it judged.

With ``--checkov`` it also creates ``/tmp/checkov-venv`` (``python -m venv`` + ``pip install
checkov``; reused when already there; a failed install is reported and the run goes on) and
times ``checkov -d <terraform dir> --quiet --compact --framework terraform`` on the same
Terraform repository, once, or best of 3 when a run takes under a minute. When checkov gives up
on main.tf (its HCL parse timeout, 10 s by default, is hit at N=1,000 on 2 CPUs: a parsing error,
nothing checked), that run is shown and the timed runs use ``HCL_PARSE_TIMEOUT_SEC=0``.

The project's modules are compiled to bytecode before timing (see ``bench_scan.py``).

The estates go to a temporary folder that is deleted afterwards; ``--keep DIR`` writes them to
DIR (the APIOps tree is reused on the next run, the ARM and Terraform forms are rewritten).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_scan  # noqa: E402  (the APIOps generator, reused as is)
from bench_scan import _fmt  # noqa: E402

#: N=1,000 scan wall time, on a 2-core machine (as in bench_scan.py); Terraform's is relaxed on
#: purpose for one reader on a real grammar (issue 14: tree-sitter-hcl reads the 6 MB main.tf in
#: about a second, where the hand-written reader it replaced took a third of that).
TARGET_SCAN_S = {"apiops": 2.0, "arm": 2.0, "terraform": 4.0}
#: A real repository's scan wall time.
TARGET_REPO_S = 2.0
TARGET_N = 1000
ARM_API_VERSION = "2024-05-01"
ARM_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
CHECKOV_VENV = Path("/tmp/checkov-venv")
FORMS = ("apiops", "arm", "terraform")
_APIM = "Microsoft.ApiManagement/service"

# --------------------------------------------------------------------------------------------
# ARM


def arm_template(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A deployment template holding ``resources`` (snapshot-only keys dropped)."""
    out = []
    for res in resources:
        r = {k: v for k, v in res.items() if k not in ("_origin", "_lines")}
        r = {"type": r.pop("type"), "apiVersion": ARM_API_VERSION, **r}
        if r["type"] == _APIM:  # what a deployable service needs; the auditor ignores it
            r |= {
                "location": "swedencentral",
                "sku": {"name": "StandardV2", "capacity": 1},
                "properties": {"publisherEmail": "apim@contoso.com", "publisherName": "Contoso"},
            }
        out.append(r)
    return {"$schema": ARM_SCHEMA, "contentVersion": "1.0.0.0", "resources": out}


def write_arm(folder: Path, resources: list[dict[str, Any]]) -> None:
    text = json.dumps(arm_template(resources), indent=2, ensure_ascii=False) + "\n"
    bench_scan._write(folder / "main.json", text)


# --------------------------------------------------------------------------------------------
# Terraform


def _hcl(value: Any) -> str:
    """A Python value as an HCL literal (strings escaped, interpolation markers doubled)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    s = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + s.replace("${", "$${").replace("%{", "%%{") + '"'


class _Tf:
    """Collects the blocks of main.tf and the policy files next to it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.blocks: list[str] = []
        self.labels: dict[tuple[str, tuple[str, ...]], str] = {}
        self.used: set[tuple[str, str]] = set()
        self.counts: Counter[str] = Counter()
        self.policy_files = 0

    def label(self, kind: str, *names: str) -> str:
        """A unique resource label for ``kind`` and the nested name parts."""
        key = (kind, names)
        if key not in self.labels:
            base = re.sub(r"[^A-Za-z0-9_]", "_", "__".join(names)) or "x"
            base = base if base[0].isalpha() else f"r_{base}"
            label, n = base, 1
            while (kind, label) in self.used:
                n += 1
                label = f"{base}_{n}"
            self.labels[key] = label
            self.used.add((kind, label))
        return self.labels[key]

    def ref(self, kind: str, names: tuple[str, ...], attr: str) -> str:
        return f"azurerm_{kind}.{self.label(kind, *names)}.{attr}"

    def block(self, kind: str, names: tuple[str, ...], body: list[str]) -> None:
        """``resource "azurerm_<kind>" "<label>" { body }`` (body lines are ``key = value``)."""
        self.counts[kind] += 1
        lines = [f'resource "azurerm_{kind}" "{self.label(kind, *names)}" {{']
        lines += [f"  {line}" if line else "" for line in body]
        self.blocks.append("\n".join([*lines, "}", ""]))

    def policy_file(self, stem: str, text: str) -> str:
        """Write ``policies/<stem>.xml``; the ``xml_content`` argument that reads it."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) + ".xml"
        bench_scan._write(self.folder / "policies" / name, text)
        self.policy_files += 1
        return f'file("${{path.module}}/policies/{name}")'


def _parts(res: dict[str, Any]) -> tuple[str, ...]:
    return tuple(p for p in str(res["name"]).split("/") if p)


def write_terraform(folder: Path, resources: list[dict[str, Any]]) -> Counter[str]:
    """``main.tf`` + ``policies/*.xml`` for the APIM resources; the blocks written, by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    tf = _Tf(folder)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in resources:
        by_type.setdefault(str(res["type"]).removeprefix(_APIM).lstrip("/"), []).append(res)
    (svc_res,) = by_type[""]
    svc = _parts(svc_res)[0]
    gw = ("gw",)
    on_svc = [
        f"api_management_name = {tf.ref('api_management', gw, 'name')}",
        f"resource_group_name = {tf.ref('api_management', gw, 'resource_group_name')}",
    ]
    svc_id = f"api_management_id = {tf.ref('api_management', gw, 'id')}"

    def text_of(res: dict[str, Any]) -> str:
        props = res.get("properties") or {}
        if not isinstance(props.get("value"), str):
            raise SystemExit(f"{res['name']}: policy without text, cannot convert: {props}")
        return str(props["value"])

    head = [
        "terraform {",
        "  required_providers {",
        '    azurerm = { source = "hashicorp/azurerm", version = "~> 4.0" }',
        '    azapi   = { source = "azure/azapi", version = "~> 2.0" }',
        "  }",
        "}",
        "",
        'provider "azurerm" {',
        "  features {}",
        "}",
        "",
        'variable "resource_group_name" {',
        "  type    = string",
        '  default = "rg-contoso-ai-gateway"',
        "}",
        "",
        'variable "appinsights_connection_string" {',
        "  type      = string",
        "  sensitive = true",
        "}",
        "",
        'variable "usage_hub_connection_string" {',
        "  type      = string",
        "  sensitive = true",
        "}",
        "",
        'variable "named_value_values" {',
        "  type      = map(string)",
        "  sensitive = true",
        "}",
        "",
    ]
    tf.block(
        "api_management",
        gw,
        [
            f"name                = {_hcl(svc)}",
            'location            = "swedencentral"',
            "resource_group_name = var.resource_group_name",
            'publisher_name      = "Contoso"',
            'publisher_email     = "apim@contoso.com"',
            'sku_name            = "StandardV2_1"',
        ],
    )
    for res in by_type.get("policies", []):
        xml = tf.policy_file("global", text_of(res))
        tf.block("api_management_policy", gw, [svc_id, f"xml_content = {xml}"])
    for res in by_type.get("policyFragments", []):
        fid = _parts(res)[1]
        xml = tf.policy_file(f"fragment-{fid}", text_of(res))
        tf.block(
            "api_management_policy_fragment",
            (fid,),
            [svc_id, f"name = {_hcl(fid)}", 'format = "rawxml"', f"value = {xml}"],
        )
    for res in by_type.get("products", []):
        pid, props = _parts(res)[1], res.get("properties") or {}
        tf.block(
            "api_management_product",
            (pid,),
            [
                *on_svc,
                f"product_id = {_hcl(pid)}",
                f"display_name = {_hcl(props.get('displayName') or pid)}",
                "published = true",
                f"subscription_required = {_hcl(props.get('subscriptionRequired', True))}",
            ],
        )
    for res in by_type.get("products/policies", []):
        pid = _parts(res)[1]
        xml = tf.policy_file(f"product-{pid}", text_of(res))
        tf.block(
            "api_management_product_policy",
            (pid,),
            [
                *on_svc,
                f"product_id = {tf.ref('api_management_product', (pid,), 'product_id')}",
                f"xml_content = {xml}",
            ],
        )
    for res in by_type.get("loggers", []):
        name, props = _parts(res)[1], res.get("properties") or {}
        body = [*on_svc, f"name = {_hcl(name)}"]
        kind = str(props.get("loggerType") or "")
        if props.get("resourceId"):
            body.append(f"resource_id = {_hcl(props['resourceId'])}")
        if kind == "applicationInsights":
            body += [
                "application_insights {",
                "  connection_string = var.appinsights_connection_string",
                "}",
            ]
        elif kind == "azureEventHub":
            body += [
                "eventhub {",
                f"  name              = {_hcl(name)}",
                "  connection_string = var.usage_hub_connection_string",
                "}",
            ]
        # NOTE: azurerm has no argument for the built-in Azure Monitor logger; it is declared
        # with its name only (the auditor then sees a logger of unknown type).
        tf.block("api_management_logger", (name,), body)

    def diagnostic(res: dict[str, Any], api: str | None) -> None:
        ident, props = _parts(res)[-1], res.get("properties") or {}
        logger = str(props.get("loggerId") or "").rsplit("/", 1)[-1]
        body = [*on_svc, f"identifier = {_hcl(ident)}"]
        if api is not None:
            body.append(f"api_name = {tf.ref('api_management_api', (api,), 'name')}")
        body.append(
            "api_management_logger_id = " + tf.ref("api_management_logger", (logger,), "id")
        )
        for side in ("frontend", "backend"):
            for part in ("request", "response"):
                msg = ((props.get(side) or {}).get(part)) or {}
                if not msg:
                    continue
                body += [f"{side}_{part} {{"]
                if isinstance((msg.get("body") or {}).get("bytes"), int):
                    body.append(f"  body_bytes = {msg['body']['bytes']}")
                body += [f"  headers_to_log = {_hcl(msg.get('headers') or [])}", "}"]
        # NOTE: azurerm has no `metrics` argument (hashicorp/terraform-provider-azurerm#28487),
        # so a diagnostic's "metrics: true" cannot be written here.
        kind = "api_management_api_diagnostic" if api else "api_management_diagnostic"
        tf.block(kind, _parts(res)[1:], body)

    for res in by_type.get("diagnostics", []):
        diagnostic(res, None)
    for res in by_type.get("backends", []):
        name, props = _parts(res)[1], res.get("properties") or {}
        pool = props.get("pool")
        if isinstance(pool, dict):  # azurerm has no pool backends: azapi, as people do
            services = [{"id": str(s.get("id"))} for s in pool.get("services") or []]
            ids = ", ".join(f"{{ id = {_hcl(s['id'])} }}" for s in services)
            tf.counts["azapi_resource"] += 1
            tf.blocks.append(
                "\n".join(
                    [
                        f'resource "azapi_resource" "backend_{tf.label("azapi", name)}" {{',
                        f'  type      = "{_APIM}/backends@{ARM_API_VERSION}"',
                        f"  name      = {_hcl(name)}",
                        f"  parent_id = {tf.ref('api_management', gw, 'id')}",
                        "  body = {",
                        "    properties = {",
                        '      type = "Pool"',
                        f"      pool = {{ services = [{ids}] }}",
                        "    }",
                        "  }",
                        "}",
                        "",
                    ]
                )
            )
            continue
        tf.block(
            "api_management_backend",
            (name,),
            [
                *on_svc,
                f"name = {_hcl(name)}",
                'protocol = "http"',
                f"url = {_hcl(props.get('url'))}",
            ],
        )
    for res in by_type.get("apis", []):
        api, props = _parts(res)[1], res.get("properties") or {}
        body = [
            *on_svc,
            f"name = {_hcl(api)}",
            'revision = "1"',
            f"display_name = {_hcl(props.get('displayName') or api)}",
            f"path = {_hcl(props.get('path') or '')}",
            'protocols = ["https"]',
        ]
        if props.get("serviceUrl"):
            body.append(f"service_url = {_hcl(props['serviceUrl'])}")
        if props.get("subscriptionRequired") is not None:
            body.append(f"subscription_required = {_hcl(props['subscriptionRequired'])}")
        if props.get("type"):
            body.append(f"api_type = {_hcl(props['type'])}")
        tf.block("api_management_api", (api,), body)
    for res in by_type.get("apis/policies", []):
        api = _parts(res)[1]
        xml = tf.policy_file(f"api-{api}", text_of(res))
        tf.block(
            "api_management_api_policy",
            (api,),
            [
                *on_svc,
                f"api_name = {tf.ref('api_management_api', (api,), 'name')}",
                f"xml_content = {xml}",
            ],
        )
    for res in by_type.get("apis/operations", []):
        api, op = _parts(res)[1:3]
        props = res.get("properties") or {}
        template = str(props.get("urlTemplate") or "/")
        body = [
            *on_svc,
            f"api_name = {tf.ref('api_management_api', (api,), 'name')}",
            f"operation_id = {_hcl(op)}",
            f"display_name = {_hcl(op)}",
            f"method = {_hcl(props.get('method') or 'GET')}",
            f"url_template = {_hcl(template)}",
        ]
        for param in re.findall(r"\{([^}]+)\}", template):
            body += [
                "template_parameter {",
                f"  name     = {_hcl(param)}",
                "  required = true",
                '  type     = "string"',
                "}",
            ]
        tf.block("api_management_api_operation", (api, op), body)
    for res in by_type.get("apis/operations/policies", []):
        api, op = _parts(res)[1:3]
        xml = tf.policy_file(f"op-{api}--{op}", text_of(res))
        tf.block(
            "api_management_api_operation_policy",
            (api, op),
            [
                *on_svc,
                f"api_name = {tf.ref('api_management_api', (api,), 'name')}",
                "operation_id = "
                + tf.ref("api_management_api_operation", (api, op), "operation_id"),
                f"xml_content = {xml}",
            ],
        )
    for res in by_type.get("apis/diagnostics", []):
        diagnostic(res, _parts(res)[1])
    for res in by_type.get("products/apis", []):
        pid, api = _parts(res)[1:3]
        tf.block(
            "api_management_product_api",
            (pid, api),
            [
                *on_svc,
                f"product_id = {tf.ref('api_management_product', (pid,), 'product_id')}",
                f"api_name = {tf.ref('api_management_api', (api,), 'name')}",
            ],
        )
    for res in by_type.get("subscriptions", []):
        name, props = _parts(res)[1], res.get("properties") or {}
        body = [
            *on_svc,
            f"subscription_id = {_hcl(name)}",
            f"display_name = {_hcl(name)}",
            f"state = {_hcl(props.get('state') or 'active')}",
        ]
        scope = str(props.get("scope") or "")
        if m := re.fullmatch(r"/products/([^/]+)", scope):
            body.append(f"product_id = {tf.ref('api_management_product', (m[1],), 'id')}")
        elif m := re.fullmatch(r"/apis/([^/]+)", scope):
            body.append(f"api_id = {tf.ref('api_management_api', (m[1],), 'id')}")
        tf.block("api_management_subscription", (name,), body)  # no scope: all APIs
    for res in by_type.get("namedValues", []):
        name = _parts(res)[1]
        tf.block(
            "api_management_named_value",
            (name,),
            [
                *on_svc,
                f"name = {_hcl(name)}",
                f"display_name = {_hcl(name)}",
                "secret = true",
                f"value = var.named_value_values[{_hcl(name)}]",
            ],
        )
    handled = {
        "", "policies", "policyFragments", "products", "products/policies", "loggers",
        "diagnostics", "backends", "apis", "apis/policies", "apis/operations",
        "apis/operations/policies", "apis/diagnostics", "products/apis", "subscriptions",
        "namedValues",
    }  # fmt: skip
    left = sorted(set(by_type) - handled)
    if left:
        raise SystemExit(f"resource types not converted to Terraform: {left}")
    text = "\n".join(head) + "\n" + "\n".join(tf.blocks)
    (folder / "main.tf").write_text(text, encoding="utf-8", newline="\n")
    tf.counts["policy files"] = tf.policy_files
    return tf.counts


# --------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Seen:
    """What a source shows of the estate."""

    apis: int = 0
    ops: int = 0
    policies: int = 0
    unreadable_policies: int = 0
    products: int = 0
    fragments: int = 0
    loggers: int = 0
    backends: int = 0
    diagnostics: int = 0
    subscriptions: int = 0
    read_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.apis:,} APIs, {self.ops:,} ops, {self.policies:,} policies "
            f"({self.unreadable_policies} without text), {self.products} products, "
            f"{self.fragments} fragments, {self.loggers} loggers, {self.backends} backends, "
            f"{self.diagnostics} diagnostics, {self.subscriptions} subscriptions, "
            f"{len(self.read_errors)} read errors, {len(self.notes)} notes"
        )


def seen(estate: Any) -> Seen:
    s = Seen()
    docs = []
    for svc in estate.services:
        s.apis += len(svc.apis)
        s.ops += sum(len(a.operations) for a in svc.apis)
        s.products += len(svc.products)
        s.fragments += len(svc.fragments)
        s.loggers += len(svc.loggers)
        s.backends += len(svc.backends)
        s.subscriptions += len(svc.subscriptions)
        s.diagnostics += len(svc.diagnostics) + sum(len(a.diagnostics) for a in svc.apis)
        docs += [svc.policy, *svc.workspace_policies.values(), *svc.fragments.values()]
        docs += [p.policy for p in svc.products.values()]
        docs += [d for a in svc.apis for d in (a.policy, *(o.policy for o in a.operations))]
    docs = [d for d in docs if d is not None]
    s.policies = len(docs)
    s.unreadable_policies = sum(1 for d in docs if d.text is None)
    s.read_errors = [
        f"{e.location.path}:{e.location.line}: {e.message}" for e in estate.read_errors
    ]
    s.notes = list(estate.notes)
    return s


@dataclass
class Form:
    n: int
    kind: str
    path: Path
    files: int = 0
    size: int = 0
    seen: Seen = field(default_factory=Seen)
    scan_wall: float = 0.0
    scan_walls: list[float] = field(default_factory=list)
    load: float = 0.0
    run: float = 0.0
    report: float = 0.0
    findings: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, tuple[bool, dict[str, str]]] = field(default_factory=dict)
    rule_status: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    foreign_modules: list[str] = field(default_factory=list)


def tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def scan_cmd(form: Form, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "auditor", "scan", str(form.path), "--source-type", form.kind,
        "--format", "json", "-o", str(out), "--fail-on", "never",
    ]  # fmt: skip


def in_process(form: Form) -> None:
    """load / run / report split of one in-process scan (what `auditor scan` does, including
    switching the cyclic GC off as the CLI does: the parse tree of a large main.tf makes the
    collector cost more than the parse)."""
    from auditor import engine, rules, sources
    from auditor.render import RENDERERS
    from auditor.report import to_dict

    catalog = rules.load(None)
    gc.disable()
    try:
        t0 = time.perf_counter()
        estate = sources.load(form.path, kind=form.kind)
        t1 = time.perf_counter()
        audit = engine.run(estate, catalog)
        t2 = time.perf_counter()
        report = to_dict(audit)
        RENDERERS["json"](report)
        t3 = time.perf_counter()
    finally:
        gc.enable()
    form.load, form.run, form.report = t1 - t0, t2 - t1, t3 - t2
    form.seen = seen(estate)
    form.foreign_modules = bench_scan._foreign(set(sys.modules))
    del audit, estate, report
    gc.collect()


def terraform_split(folder: Path) -> tuple[float, float]:
    """Seconds to parse the Terraform files of ``folder`` (tree-sitter, with the reader's own
    preparation) and to read them whole (parse, evaluate, lower), best of 3."""
    from auditor.sources import terraform
    from auditor.sources.terraform import parse

    texts = [p.read_text(encoding="utf-8") for p in terraform.find_files(folder)]
    best_parse = best_read = float("inf")
    gc.disable()
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            for text in texts:
                parse._tree(text.encode("utf-8"))
            t1 = time.perf_counter()
            terraform.read(folder)
            t2 = time.perf_counter()
            best_parse, best_read = min(best_parse, t1 - t0), min(best_read, t2 - t1)
    finally:
        gc.enable()
    gc.collect()
    return best_parse, best_read


def time_repos(folders: list[Path], repeat: int, work: Path) -> list[tuple[Path, float, int]]:
    """Best wall time of a scan of each real folder, and the LLM APIs it judged."""
    out: list[tuple[Path, float, int]] = []
    for folder in folders:
        report = work / f"repo-{len(out)}.json"
        cmd = [
            sys.executable, "-m", "auditor", "scan", str(folder), "--format", "json",
            "-o", str(report), "--fail-on", "never",
        ]  # fmt: skip
        wall, _ = bench_scan.best_wall(cmd, repeat, work)
        apis = json.loads(report.read_text(encoding="utf-8"))["apis"]
        out.append((folder, wall, sum(1 for a in apis if a["llm"])))
    return out


def read_report(form: Form, out: Path) -> None:
    """Per-API verdicts and rule outcomes from the subprocess scan's JSON report."""
    report = json.loads(out.read_text(encoding="utf-8"))
    form.verdicts = {
        f"{a['service']}/{a['name']}": (bool(a["llm"]), dict(a["signals"])) for a in report["apis"]
    }
    form.findings = dict(sorted(Counter(f["status"] for f in report["findings"]).items()))
    form.rule_status = Counter((f["rule"], f["status"], f["api"] or "") for f in report["findings"])


def compare(base: Form, other: Form) -> list[str]:
    """The differences of ``other``'s per-API verdicts from ``base``'s, summarised."""
    lines: list[str] = []
    missing = sorted(set(base.verdicts) - set(other.verdicts))
    extra = sorted(set(other.verdicts) - set(base.verdicts))
    if missing:
        lines.append(f"{len(missing)} API(s) only in {base.kind}: {', '.join(missing[:3])} ...")
    if extra:
        lines.append(f"{len(extra)} API(s) only in {other.kind}: {', '.join(extra[:3])} ...")
    changes: dict[str, list[str]] = {}
    for api in sorted(set(base.verdicts) & set(other.verdicts)):
        (llm_a, sig_a), (llm_b, sig_b) = base.verdicts[api], other.verdicts[api]
        if llm_a != llm_b:
            changes.setdefault(f"llm {llm_a} -> {llm_b}", []).append(api)
            continue
        for sig in sorted(set(sig_a) | set(sig_b)):
            a, b = sig_a.get(sig, "-"), sig_b.get(sig, "-")
            if a != b:
                changes.setdefault(f"{sig}: {a} -> {b}", []).append(api)
    for what, apis in sorted(changes.items()):
        short = [a.rsplit("/", 1)[-1] for a in apis[:3]]
        lines.append(
            f"{what}: {len(apis):,} API(s), e.g. {', '.join(short)}"
            + (" ..." if len(apis) > 3 else "")
        )
    # Rule outcomes that moved (summed over APIs), which explain the verdict changes.
    per_rule: dict[tuple[str, str], int] = Counter()
    for (rule, status, _), n in base.rule_status.items():
        per_rule[(rule, status)] -= n
    for (rule, status, _), n in other.rule_status.items():
        per_rule[(rule, status)] += n
    moved: dict[str, list[str]] = {}
    for (rule, status), delta in sorted(per_rule.items()):
        if delta:
            moved.setdefault(rule, []).append(f"{status} {delta:+,}")
    for rule, deltas in moved.items():
        lines.append(f"  rule {rule}: {', '.join(deltas)} findings vs {base.kind}")
    return lines


# --------------------------------------------------------------------------------------------
# Checkov


_CHECKOV_SUMMARY = re.compile(
    r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)"
    r"(?:, Parsing errors: (\d+))?"
)


@dataclass
class Checkov:
    ran: bool = False
    why_not: str = ""
    version: str = ""
    walls: list[float] = field(default_factory=list)
    summary: str = ""
    env_note: str = ""
    """Set when the timed runs needed a non-default environment (and why)."""


def checkov_install() -> tuple[Path | None, str]:
    """The checkov executable in CHECKOV_VENV (installed when missing), or why there is none."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    if exe.is_file():
        return exe, f"reusing {CHECKOV_VENV}"
    print(f"installing checkov into {CHECKOV_VENV} (may take minutes) ...", flush=True)
    t0 = time.perf_counter()
    for cmd in (
        [sys.executable, "-m", "venv", str(CHECKOV_VENV)],
        [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", "checkov"],
    ):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"`{' '.join(cmd)}` failed: {exc}"
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd)}` exited {proc.returncode}: {' / '.join(tail)}"
    if not exe.is_file():
        return None, f"pip install finished but {exe} is missing"
    return exe, f"installed in {time.perf_counter() - t0:.0f} s"


def _checkov_once(
    cmd: list[str], env: dict[str, str], timeout: float
) -> tuple[float, str, int] | str:
    """One checkov run: (wall, summary, parsing errors), or why it did not finish."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    except OSError as exc:
        return f"cannot run: {exc}"
    wall = time.perf_counter() - t0
    # Exit status 1 means "failed checks found", the normal outcome here.
    if proc.returncode not in (0, 1):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"exited {proc.returncode}: {' / '.join(tail)}"
    m = _CHECKOV_SUMMARY.search(proc.stdout)
    if m is None:
        return wall, "no summary line printed", 0
    errors = int(m[4] or 0)
    return wall, f"passed {m[1]}, failed {m[2]}, skipped {m[3]}, parsing errors {errors}", errors


def run_checkov(tf_dir: Path, repeat: int, timeout: float) -> Checkov:
    """Time checkov on ``tf_dir``; once, or best of ``repeat`` when a run takes under 60 s.

    checkov gives up on an HCL file that takes longer than HCL_PARSE_TIMEOUT_SEC (10 s by
    default) to parse and reports a parsing error with no resources checked; that run's time is
    shown, and the timed runs are repeated with the timeout off (HCL_PARSE_TIMEOUT_SEC=0).
    """
    res = Checkov()
    exe, how = checkov_install()
    if exe is None:
        res.why_not = how
        return res
    try:
        ver = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=300)
        res.version = ver.stdout.strip().splitlines()[-1] if ver.stdout.strip() else "?"
    except (OSError, subprocess.SubprocessError) as exc:
        res.why_not = f"checkov --version failed: {exc}"
        return res
    print(f"checkov {res.version} ({how})", flush=True)
    cmd = [str(exe), "-d", str(tf_dir), "--quiet", "--compact", "--framework", "terraform"]
    env = dict(os.environ)
    first = _checkov_once(cmd, env, timeout)
    if isinstance(first, str):
        res.why_not = first
        return res
    print(f"checkov run 1 (default settings): {first[0]:.1f} s ({first[1]})", flush=True)
    runs = [first]
    if first[2]:
        res.env_note = (
            f"the default run ({first[0]:.1f} s) stopped at a parsing error with nothing checked "
            "(checkov's 10 s HCL parse timeout); timed with HCL_PARSE_TIMEOUT_SEC=0"
        )
        env["HCL_PARSE_TIMEOUT_SEC"] = "0"
        runs = []
    while len(runs) < repeat and (not runs or runs[-1][0] <= 60):
        got = _checkov_once(cmd, env, timeout)
        if isinstance(got, str):
            res.why_not = got + (f" ({res.env_note})" if res.env_note else "")
            return res
        extra = " with HCL_PARSE_TIMEOUT_SEC=0" if res.env_note else ""
        print(f"checkov run {len(runs) + 1}{extra}: {got[0]:.1f} s ({got[1]})", flush=True)
        runs.append(got)
    res.ran = True
    res.walls = [r[0] for r in runs]
    res.summary = runs[-1][1]
    return res


# --------------------------------------------------------------------------------------------
# Main


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000], help="API counts")
    ap.add_argument("--ops", type=int, default=5, help="operations per API (default 5)")
    ap.add_argument("--keep", type=Path, help="generate into DIR and keep it (default: temp dir)")
    ap.add_argument("--repeat", type=int, default=3, help="subprocess scan runs, best kept")
    ap.add_argument("--checkov", action="store_true", help="also time checkov on the .tf repo")
    ap.add_argument("--checkov-timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument(
        "--repos",
        type=Path,
        nargs="*",
        default=[],
        help="real Terraform folders to time too (a scan each, best of --repeat)",
    )
    args = ap.parse_args(argv)
    if args.ops < 1 or args.repeat < 1 or min(args.sizes) < 1:
        ap.error("--sizes, --ops and --repeat must be at least 1")

    from auditor import sources
    from auditor.sources.snapshot import to_resources

    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="auditor-iac-"))
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    print(
        f"python {sys.version.split()[0]}, {cores} CPU(s), "
        f"auditor {bench_scan.project_revision()}, "
        "in-process split with the cyclic GC off (as the CLI), "
        f"estates in {work}{'' if args.keep else ' (removed at exit)'}"
    )
    print(
        f"machine speed: a fixed Python loop takes {bench_scan.machine_speed():.3f} s "
        "(lower is faster)"
    )
    print(bench_scan.compile_bytecode())

    results: list[list[Form]] = []
    checkov: Checkov | None = None
    problems: list[str] = []
    try:
        for n in args.sizes:
            base = work / f"n{n}-o{args.ops}"
            apiops_root = base / "apiops" / bench_scan.SERVICE
            t0 = time.perf_counter()
            if not apiops_root.is_dir():
                bench_scan.generate(apiops_root, n, args.ops)
            estate = sources.load(apiops_root, kind="apiops")
            resources = to_resources(estate)
            del estate
            for kind in ("arm", "terraform"):
                shutil.rmtree(base / kind, ignore_errors=True)
            write_arm(base / "arm", resources)
            tf_counts = write_terraform(base / "terraform", resources)
            del resources
            gc.collect()
            print(
                f"[N={n}] generated APIOps tree, main.json and main.tf in "
                f"{time.perf_counter() - t0:.1f}s (not timed)",
                flush=True,
            )
            print(
                f"[N={n}] main.tf blocks: "
                + ", ".join(
                    f"{k.removeprefix('api_management_') or k} {v:,}" for k, v in tf_counts.items()
                )  # fmt: skip
            )
            forms = [
                Form(n, "apiops", apiops_root),
                Form(n, "arm", base / "arm"),
                Form(n, "terraform", base / "terraform"),
            ]
            for form in forms:
                form.files, form.size = tree_size(form.path)
                out = base / f"out-{form.kind}.json"
                form.scan_wall, form.scan_walls = bench_scan.best_wall(
                    scan_cmd(form, out), args.repeat, base
                )
                read_report(form, out)
                in_process(form)
                print(
                    f"[N={n}] {form.kind:<9} subprocess scan: "
                    + ", ".join(_fmt(t, 2) for t in form.scan_walls)
                    + f" s; in-process load {_fmt(form.load)} run {_fmt(form.run)} "
                    f"report {_fmt(form.report)} s",
                    flush=True,
                )
                print(f"[N={n}] {form.kind:<9} sees {form.seen.line()}", flush=True)
                if form.kind == "terraform":
                    parse_s, read_s = terraform_split(form.path)
                    print(
                        f"[N={n}] terraform read of main.tf: {_fmt(read_s)} s, of which the "
                        f"tree-sitter parse {_fmt(parse_s)} s (best of 3, GC off)",
                        flush=True,
                    )
                for err in form.seen.read_errors[:5]:
                    print(f"    read error: {err}")
                for note in form.seen.notes[:5]:
                    print(f"    note: {note}")
            ref = forms[0].seen
            for form in forms[1:]:
                got = form.seen
                for what in ("apis", "ops", "policies"):
                    if getattr(got, what) != getattr(ref, what):
                        problems.append(
                            f"N={n} {form.kind}: {what} {getattr(got, what):,} != apiops "
                            f"{getattr(ref, what):,}"
                        )
                if got.read_errors:
                    problems.append(f"N={n} {form.kind}: {len(got.read_errors)} read error(s)")
                if got.unreadable_policies != ref.unreadable_policies:
                    problems.append(
                        f"N={n} {form.kind}: {got.unreadable_policies} policies without text"
                    )
            results.append(forms)
            if problems:
                raise SystemExit("the converted forms do not load as the APIOps estate:\n  "
                                 + "\n  ".join(problems))  # fmt: skip
        if args.checkov:
            tf_dir = work / f"n{args.sizes[-1]}-o{args.ops}" / "terraform"
            checkov = run_checkov(tf_dir, 3, args.checkov_timeout)
        repos = time_repos(args.repos, args.repeat, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    # ---- table
    cols = [
        ("N", 7),
        ("form", 9),
        ("files", 6),
        ("MiB", 5),
        ("APIs", 6),
        ("ops", 6),
        ("policies", 8),
        ("scan wall s", 11),
        ("load s", 7),
        ("run s", 7),
        ("report s", 8),
        ("per-API ms", 10),
        ("vs apiops", 9),
    ]
    print()
    print("  ".join(name.rjust(w) for name, w in cols))
    for forms in results:
        for f in forms:
            cells = [
                f"{f.n:,}",
                f.kind,
                f"{f.files:,}",
                _mib(f.size),
                f"{f.seen.apis:,}",
                f"{f.seen.ops:,}",
                f"{f.seen.policies:,}",
                _fmt(f.scan_wall, 2),
                _fmt(f.load),
                _fmt(f.run),
                _fmt(f.report),
                _fmt(1000 * f.scan_wall / f.n, 2),
                f"{f.scan_wall / forms[0].scan_wall:.1f}x",
            ]
            print("  ".join(c.rjust(w) for c, (_, w) in zip(cells, cols, strict=True)))
    if checkov is not None:
        n = args.sizes[-1]
        if checkov.ran:
            best = min(checkov.walls)
            ours = next(f for f in results[-1] if f.kind == "terraform").scan_wall
            print(
                f"{n:>7,}  {'checkov':>9}  same Terraform repo: best of {len(checkov.walls)} "
                f"= {best:.2f} s ({', '.join(_fmt(w, 1) for w in checkov.walls)} s), "
                f"{best / ours:.1f}x our terraform scan; checkov {checkov.version}; "
                f"{checkov.summary}"
            )
            if checkov.env_note:
                print(f"{'':>7}  {'':>9}  note: {checkov.env_note}")
        else:
            print(f"{n:>7,}  {'checkov':>9}  not run: {checkov.why_not}")

    # ---- findings and verdict equality
    print()
    for forms in results:
        for f in forms:
            llm = sum(1 for v in f.verdicts.values() if v[0])
            print(f"N={f.n:,} {f.kind}: {llm:,} LLM APIs; findings {f.findings}")
        for f in forms[1:]:
            diff = compare(forms[0], f)
            if not diff:
                print(
                    f"N={f.n:,} verdicts {f.kind} == apiops: all {len(f.verdicts):,} APIs "
                    "equal (LLM flag and every signal)"
                )
                continue
            print(f"N={f.n:,} verdicts {f.kind} != apiops:")
            for line in diff:
                print(f"  {line}")

    # ---- targets
    print()
    print(f"targets ({cores} CPU(s) here; targets assume a 2-core machine):")
    target = next((fs for fs in results if fs[0].n == TARGET_N), None)
    if target is None:
        print(f"  N={TARGET_N:,} scan targets: n/a (size not run)")
    else:
        for f in target:
            goal = TARGET_SCAN_S[f.kind]
            print(
                f"  N={TARGET_N:,} {f.kind} scan wall < {goal} s: "
                f"{_fmt(f.scan_wall, 2)} s  {bench_scan._mark(f.scan_wall < goal)}"
            )
    for folder, wall, llm in repos:
        shown = "/".join(folder.resolve().parts[-2:])
        print(
            f"  {shown} scan wall < {TARGET_REPO_S} s: {_fmt(wall, 2)} s "
            f"({llm} LLM API(s) judged)  {bench_scan._mark(wall < TARGET_REPO_S)}"
        )
    foreign = sorted({m for fs in results for f in fs for m in f.foreign_modules})
    print(
        "  azure/textual modules imported by an in-process scan: "
        + (", ".join(foreign) if foreign else "none")
        + f"  {bench_scan._mark(not foreign)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
