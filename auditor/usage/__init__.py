"""Measured attribution: tokens and money per deployment, API and payer for a period.

``--usage`` reads, for a period, what Azure measured (platform token metrics and deployments
through Resource Manager, the gateway's token metrics and LLM log through Log Analytics, actual
cost through Cost Management) into a :class:`~auditor.usage.measured.Usage`, stored with the
estate; :mod:`auditor.usage.gap` prices it and splits it into attributed, unattributed, bypass
and idle. Offline modules here import no Azure SDK: only :mod:`auditor.usage.collect` and the
readers it uses do, and only for a live scan.
"""
