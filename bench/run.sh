#!/usr/bin/env bash
# Measures `lagship run` for 30 s on 300 topics x 8 partitions on 3 brokers,
# one group, 1 s interval: Kafka requests per tick, CPU seconds and peak RSS.
# Everything runs on 127.0.0.1: an in-process Kafka (kfake) and a fake
# Elasticsearch hosted by bench/env.
#
# usage: bench/run.sh [seconds] [topics] [partitions]
# INTERVAL=10s sets the agent's interval (default 1s).
# PROFILE=DIR writes the agent's CPU and heap profiles (cpu.prof, heap.prof)
# there and prints their top entries.
# SCRAPE=1 also fetches /metrics once a second during the run (as a
# Prometheus scraping every 1 s would), to measure what scrapes cost.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
topics=${2:-300}
parts=${3:-8}
work=$(mktemp -d)
trap 'kill $envpid 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/lagship" ./cmd/lagship
go build -o "$work/env" ./bench/env

"$work/env" -topics "$topics" -partitions "$parts" -dir "$work" -interval "${INTERVAL:-1s}" >"$work/env.out" 2>"$work/env.err" &
envpid=$!
for _ in $(seq 1 300); do
  grep -q '^ready' "$work/env.err" 2>/dev/null && break
  sleep 0.2
done
grep -q '^ready' "$work/env.err" || { cat "$work/env.err"; exit 1; }

# Run the agent for $secs seconds, then SIGTERM (graceful stop).
profargs=()
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "$PROFILE"
  profargs=(-cpuprofile "$PROFILE/cpu.prof" -memprofile "$PROFILE/heap.prof")
fi
"$work/lagship" run -config "$work/lagship.yaml" -log-level warn "${profargs[@]}" 2>"$work/lagship.err" &
pid=$!
scrapes=0
# CPU ticks used so far; read again after $warm s, so that the steady
# state can be told from start-up (10,000 goroutines and their stacks).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# Minor page faults so far (the kernel handing the agent fresh pages).
faults() { awk '{print $10}' "/proc/$pid/stat"; }
warm=$((secs > 20 ? 10 : 0))
warm_ticks=
warm_faults=0
if [ "${SCRAPE:-0}" = 1 ]; then
  end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    [ -z "$warm_ticks" ] && [ $SECONDS -ge $((end - secs + warm)) ] && warm_ticks=$(cpu_ticks) && warm_faults=$(faults)
    curl -sf -o /dev/null http://127.0.0.1:9839/metrics && scrapes=$((scrapes + 1))
    sleep 1
  done
else
  sleep "$warm"
  warm_ticks=$(cpu_ticks)
  warm_faults=$(faults)
  sleep "$((secs - warm))"
fi
# CPU time and peak RSS from /proc before stopping.
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
end_faults=$(faults)
hz=$(getconf CLK_TCK)
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
# Where the memory is, from the agent's own Go collector, before stopping (after the
# figures above: a scrape of 80,000 partitions costs CPU and memory).
mem=$(curl -sf http://127.0.0.1:9839/metrics | awk '/^go_memstats_(heap_inuse|stack_inuse|heap_idle|heap_released|sys)_bytes / {printf "%s=%.0fMiB ", substr($1, 13), $2/1048576} /^go_goroutines / {printf "goroutines=%d ", $2}' || true)
kill -TERM "$pid"
wait "$pid"
kill -TERM "$envpid"
wait "$envpid" || true

cpu=$(awk -v u="$utime" -v s="$stime" -v hz="$hz" 'BEGIN {printf "%.2f", (u+s)/hz}')
echo "layout: $topics topics x $parts partitions, 3 brokers, 1 group, interval ${INTERVAL:-1s}, ${secs}s of lagship run"
echo "agent CPU (user+sys): ${cpu} s ($(awk -v u="$utime" -v s="$stime" -v hz="$hz" 'BEGIN {printf "user %.2f s, sys %.2f s", u/hz, s/hz}'))"
if [ "$warm" -gt 0 ] && [ -n "$warm_ticks" ]; then
  awk -v a="$warm_ticks" -v u="$utime" -v s="$stime" -v hz="$hz" -v w="$warm" -v t="$secs" \
    'BEGIN {printf "agent CPU after start-up: %.2f s from %d s to %d s, %.2f s per 30 s; start-up (first %d s): %.2f s\n", (u+s-a)/hz, w, t, (u+s-a)/hz*30/(t-w), w, a/hz}'
  echo "minor page faults after start-up: $(( (end_faults - warm_faults) / (secs - warm) )) per s"
fi
[ "${SCRAPE:-0}" = 1 ] && echo "scrapes of /metrics answered: $scrapes"
echo "agent peak RSS (VmHWM): $((peak_kb / 1024)) MiB"
[ -n "$mem" ] && echo "agent memory at the end: $mem"
echo "requests seen by the cluster over the run, and documents indexed:"
cat "$work/env.out"
python3 - "$work/env.out" "$secs" "${INTERVAL:-1s}" <<'PY' 2>/dev/null || true
import json, sys
d = json.load(open(sys.argv[1])); ticks = int(sys.argv[2]) / float(sys.argv[3].rstrip("s"))
k = d["kafka_requests"]; total = sum(k.values())
print(f"Kafka requests per tick: {total/ticks:.2f} (ListOffsets {k.get('ListOffsets',0)/ticks:.2f}, OffsetFetch {k.get('OffsetFetch',0)/ticks:.2f}, Metadata {k.get('Metadata',0)/ticks:.2f})")
print(f"documents per tick: {d['documents']/ticks:.1f}, _bulk requests per tick: {d['es_bulk_requests']/ticks:.2f}")
p = d['partial_ticks'] or []
print(f"ticks indexed: {d['ticks']} ({d['first_tick']} to {d['last_tick']}), partial (not every topic's document): {len(p)} {' '.join(p)}")
if d['documents']:
    print(f"bytes per document: {d['document_source_bytes']/d['documents']:.0f} B of _source, {d['es_bulk_bytes']/d['documents']:.0f} B of gzip-compressed _bulk body (with its action line)")
PY
if [ -s "$work/lagship.err" ]; then echo "agent warnings:"; head -5 "$work/lagship.err"; fi
if [ -n "${PROFILE:-}" ]; then
  cp "$work/lagship" "$PROFILE/lagship"
  echo "CPU profile, top entries (cumulative):"
  go tool pprof -top -cum -nodecount 25 "$PROFILE/lagship" "$PROFILE/cpu.prof" 2>/dev/null | sed -n '6,31p'
  echo "heap in use at the end, top entries:"
  go tool pprof -top -sample_index=inuse_space -nodecount 12 "$PROFILE/lagship" "$PROFILE/heap.prof" 2>/dev/null | sed -n '6,18p'
fi
