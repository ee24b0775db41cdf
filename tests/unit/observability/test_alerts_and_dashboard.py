"""`infra/observability`: the alert rules pass promtool and fire on what they watch, and the dashboard and the
rules name only families the code exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.harness.settings import PROJECT_ROOT
from yourclaw.observability import metrics

pytestmark = pytest.mark.unit

HERE = PROJECT_ROOT / "infra" / "observability"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus) is not installed")

# What a family exports under: a counter adds _total, a histogram _bucket/_count/_sum.
EXPORTED = {
    name
    for family in vars(metrics).values()
    if hasattr(family, "_name") and hasattr(family, "_type")
    for name in (
        [family._name + "_total"]
        if family._type == "counter"
        else [family._name + s for s in ("_bucket", "_count", "_sum")]
        if family._type == "histogram"
        else [family._name]
    )
}


def _named(text: str) -> set[str]:
    return set(re.findall(r"\byourclaw_[a-z_]+", text))


def test_rules_and_dashboard_use_only_exported_families():
    rules = (HERE / "alerts.yml").read_text()
    dashboard = json.loads((HERE / "grafana-dashboard.json").read_text())
    expressions = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    assert _named(rules) - EXPORTED == set()
    assert _named(expressions) - EXPORTED == set()
    # Every family is on the dashboard, under one of its exported names.
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in _named(expressions)}
    assert {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in EXPORTED} - shown == set()


@needs_promtool
def test_promtool_accepts_the_rules():
    result = subprocess.run([PROMTOOL, "check", "rules", str(HERE / "alerts.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_rules_fire_on_what_they_watch(tmp_path):
    """promtool's rule unit tests: a stuck router and an unreachable host page; a healthy minute does not; backups
    that all fail warn, one user's failing backup among others that go up does not."""
    (tmp_path / "alerts.yml").write_text((HERE / "alerts.yml").read_text())
    (tmp_path / "tests.yml").write_text(
        """
rule_files: [alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'yourclaw_inbound_queue_oldest_seconds{stage="routing", instance="w"}'
        values: '0 0 200 260 320 380 440'
      - series: 'yourclaw_hosts{state="unreachable", instance="r"}'
        values: '0 0 1 1 1 1 1 1 1 1'
    alert_rule_test:
      - eval_time: 1m
        alertname: YourClawInboundNotRouted
        exp_alerts: []
      - eval_time: 5m
        alertname: YourClawInboundNotRouted
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations:
              summary: "Inbound WhatsApp messages wait 6m 20s for the router"
              runbook: "Check `yourclaw worker` is running and its log for router_pass_failed."
      - eval_time: 8m
        alertname: YourClawHostUnreachable
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations:
              summary: "1 Docker host(s) unreachable: their assistants are down"
              runbook: "`yourclaw hosts`; the host's last_error says why."
  - interval: 1m
    input_series:  # every backup fails: the alert fires once it has lasted 30 minutes
      - series: 'yourclaw_backups_total{outcome="failed", instance="r"}'
        values: '0+1x60'
    alert_rule_test:
      - eval_time: 20m
        alertname: YourClawBackupsFailing
        exp_alerts: []
      - eval_time: 45m
        alertname: YourClawBackupsFailing
        exp_alerts:
          - exp_labels: {severity: warn}
            exp_annotations:
              summary: "No volume backup has succeeded in two hours (45 failed)"
              runbook: "The reconciler's log for backup_failed; `yourclaw backups list USER`; the BACKUP_* settings."
  - interval: 1m
    input_series:  # one user's volume fails while the others go up: not this alert
      - series: 'yourclaw_backups_total{outcome="failed", instance="r"}'
        values: '0+1x60'
      - series: 'yourclaw_backups_total{outcome="ok", instance="r"}'
        values: '0+5x60'
    alert_rule_test:
      - eval_time: 45m
        alertname: YourClawBackupsFailing
        exp_alerts: []
"""
    )
    result = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
