#!/usr/bin/env python3
"""Parses Prometheus' text exposition format on stdin with the official Python client's parser
(prometheus_client.parser, Debian's python3-prometheus-client) and prints its families as JSON:
[{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]. A line the parser refuses
ends this with its error on stderr and status 1. For tests/e2e/metrics.test.mjs: the format is
checked by Prometheus' own code, not by ours."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = [
    {
        "name": f.name,
        "type": f.type,
        "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
    }
    for f in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout, allow_nan=False)
