"""benchmarks/serve_wrk.py: wrk's report parsed, and wrk run against a real server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.benchtools import load_benchmark
from tests.serve.servetools import Server, store_codes

REPORT = """Running 8s test @ http://127.0.0.1:40000/v1/assess
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.64ms    1.09ms  25.43ms   88.95%
    Req/Sec   513.20     17.00   545.00     73.75%
  Latency Distribution
     50%  950.00us
     75%   15.94ms
     90%   16.58ms
     99%    1.20s
  4088 requests in 8.01s, 180.11MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 5
Requests/sec:    510.78
"""


def test_report_is_parsed_with_units_and_errors() -> None:
    wrk = load_benchmark("serve_wrk")
    run = wrk.parse(REPORT, clients=8, seconds=8.0)
    assert run.requests == 4088 and run.errors == 8
    assert run.percentiles == pytest.approx({50: 0.95, 75: 15.94, 90: 16.58, 99: 1200.0})
    assert run.rate == pytest.approx(511.0)
    with pytest.raises(ValueError, match="unexpected wrk output"):
        wrk.parse("no report", clients=8, seconds=8.0)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make browser "
                    "installs it as root: apt-get install wrk)")
def test_wrk_drives_a_real_server(server: Server, world: dict[str, Path]) -> None:
    """Answered requests are counted, bad ones (a wrong code length: 400) as errors."""
    wrk = load_benchmark("serve_wrk")
    codes = store_codes(world["served"] / "zeros.h5", [0, 1, 2])
    good = wrk.load(server.url, [{"codes": codes[:2]}, {"codes": codes[1:]}], 2, 1)
    assert good.requests > 10 and good.errors == 0
    p = good.percentiles
    assert 0 < p[50] <= p[75] <= p[90] <= p[99]
    bad = wrk.load(server.url, [{"codes": ["00"]}], 1, 1)
    assert bad.requests > 0 and bad.errors == bad.requests
