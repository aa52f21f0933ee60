#!/bin/bash
# TPC-H at sf 10 on a local two-node cluster, every answer checked against DuckDB
# (issue 12; figures in docs/benchmarks.md). Usage: benchmarks/cluster/tpch_sf10.sh [DATA_DIR]
# DATA_DIR holds tpch-sf10/ (generated there if missing, about 3.7 GB).
set -u
DATA=${1:-data}
cd "$(dirname "$0")/../.."
.venv/bin/dataflow cluster up --nodes 2 --cpus-per-node 1 --object-store-memory 3GB || exit 1
trap '.venv/bin/dataflow cluster down' EXIT
.venv/bin/dataflow cluster status
.venv/bin/dataflow bench tpch --sf 10 --address auto --runs 1 --no-warmup --no-cold-start \
  --parallelism 2 --data "$DATA" --timeout 1200 --json tpch-sf10-two-nodes.json
