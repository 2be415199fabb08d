#!/usr/bin/env bash
# Jobs per minute with W = 1, 2, 3 `tune worker` processes on one PostgreSQL queue (one machine),
# against `tune run` on SQLite. Usage: bench.sh TUNE_BINARY DATA_DIR GRID ROUNDS
set -euo pipefail
T=$1; DATA=$2; GRID=$3; ROUNDS=${4:-3}
PSQL=/usr/lib/postgresql/15/bin/psql
ADMIN=$(bash /work/main/crates/tune-store/tests/pg.sh start)
BASE=${ADMIN%/*}
N=$(grep -o 'layer1 = \[.*\]' "$GRID" | tr -cd ',' | wc -c); N=$((N + 1))
now() { date +%s.%N; }
fresh() { echo "DROP DATABASE IF EXISTS bench WITH (FORCE); CREATE DATABASE bench;" | $PSQL -q "$ADMIN" >/dev/null 2>&1; }
for round in $(seq 1 "$ROUNDS"); do
  for w in 1 2 3; do
    fresh
    $T run "$GRID" --enqueue --db "$BASE/bench" >/dev/null 2>&1
    t0=$(now)
    for i in $(seq 1 "$w"); do
      $T worker --db "$BASE/bench" --data-dir "$DATA" --jobs 1 --threads-per-job 1 --quiet >/dev/null 2>&1 &
    done
    wait
    t1=$(now)
    done_n=$(echo "SELECT count(*) FROM results" | $PSQL -tA "$BASE/bench")
    train=$(echo "SELECT round(sum(runtime_s)::numeric, 2) FROM results" | $PSQL -tA "$BASE/bench")
    gap=$(echo "SELECT round(avg(gap) * 1000) || ' ms avg, ' || round(max(gap) * 1000) || ' ms max' FROM (SELECT extract(epoch FROM started_at - lag(finished_at) OVER (PARTITION BY worker_id ORDER BY started_at)) AS gap FROM jobs) g WHERE gap IS NOT NULL" | $PSQL -tA "$BASE/bench")
    echo "round $round pg-workers=$w gap_between_jobs=[$gap] jobs=$done_n wall_s=$(echo "$t1 - $t0" | bc) sum_job_runtime_s=$train jobs_per_min=$(echo "scale=1; $done_n * 60 / ($t1 - $t0)" | bc)"
  done
  for j in 1 2; do
    rm -f sq.db sq.db-* sq.db.lock
    t0=$(now)
    $T run "$GRID" --db sq.db --data-dir "$DATA" --jobs "$j" --threads-per-job 1 --quiet >/dev/null 2>&1
    t1=$(now)
    gap=$(sqlite3 sq.db "SELECT round(avg(gap) * 1000) || ' ms avg, ' || round(max(gap) * 1000) || ' ms max' FROM (SELECT (julianday(started_at) - julianday(lag(finished_at) OVER (PARTITION BY worker_id ORDER BY started_at))) * 86400 AS gap FROM jobs) WHERE gap IS NOT NULL")
    echo "round $round sqlite-run-jobs=$j gap_between_jobs=[$gap] jobs=$N wall_s=$(echo "$t1 - $t0" | bc) jobs_per_min=$(echo "scale=1; $N * 60 / ($t1 - $t0)" | bc)"
  done
done
