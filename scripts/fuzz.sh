#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/) of the sanitizer build (preset asan, build-asan/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     long runs: each target SECONDS (default 3600) in
#                                             fork mode, going on after a finding; findings are
#                                             saved and counted, the exit status says if any
#   scripts/fuzz.sh --ci [SECONDS] [TARGET...] CI: each target SECONDS (default 25) on its seeds
#                                             and corpus; stops at the first crash, leak, hang
#                                             (> 20 s) or out-of-memory (> 2.5 GB) and fails
#
# Builds the fuzz targets (unless FUZZ_NO_BUILD=1) and generates the seeds
# (scripts/fuzz-seeds.sh) when missing.
# Corpus (grows across runs): build-asan/fuzz-corpus/TARGET/. Findings: FUZZ_FINDINGS
# (default build-asan/fuzz-findings)/TARGET/{crash,leak,timeout,oom}-*; replay one with
#   build-asan/fuzz/TARGET FILE
# Each target runs one fuzzing process (-jobs/-fork 1), leaving the other cores free.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build-asan # the asan preset's binaryDir
ci=0
if [ "${1:-}" = "--ci" ]; then ci=1; shift; fi
seconds=${1:-$([ $ci = 1 ] && echo 25 || echo 3600)}
[ $# -gt 0 ] && shift
ALL=(fuzz_pickle fuzz_pth fuzz_safetensors fuzz_adapterpack fuzz_text fuzz_imagedecoder fuzz_videodecoder
     fuzz_training fuzz_catalog fuzz_query)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")

# Largest input per target (bytes), and its dictionary (from fuzz-seeds.sh), if any.
declare -A MAXLEN=([fuzz_pickle]=131072 [fuzz_pth]=16384 [fuzz_safetensors]=8192 [fuzz_adapterpack]=8192
                   [fuzz_text]=2048 [fuzz_imagedecoder]=65536 [fuzz_videodecoder]=65536 [fuzz_training]=4096
                   [fuzz_catalog]=262144 [fuzz_query]=1024)
declare -A DICT=([fuzz_pickle]=pickle [fuzz_pth]=pickle [fuzz_safetensors]=safetensors
                 [fuzz_adapterpack]=adapterpack [fuzz_training]=training)

if [ -z "${FUZZ_NO_BUILD:-}" ]; then # FUZZ_NO_BUILD=1: use what is built (shared machines)
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake --preset asan
  cmake --build "$BUILD_DIR" --target fuzzers unisearch-cli
fi
seeds="$BUILD_DIR/fuzz-seeds"
[ -d "$seeds" ] || ./scripts/fuzz-seeds.sh
findings=${FUZZ_FINDINGS:-$BUILD_DIR/fuzz-findings}

# Sanitizer settings: leaks are findings too; third-party leaks at exit are suppressed
# (scripts/lsan-suppressions.txt says why, entry by entry).
export ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0:${LSAN_OPTIONS:-}"
export UNISEARCH_SOURCE_DIR=$PWD
export QT_QPA_PLATFORM=offscreen

status=0
for t in "${targets[@]}"; do
  bin="$BUILD_DIR/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz: no such target: $t (one of: ${ALL[*]})" >&2; exit 2; }
  corpus="$BUILD_DIR/fuzz-corpus/$t"
  mkdir -p "$corpus" "$findings/$t"
  args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len="${MAXLEN[$t]}"
        -artifact_prefix="$findings/$t/" -print_final_stats=1)
  [ -n "${DICT[$t]:-}" ] && args+=(-dict="$seeds/${DICT[$t]}.dict")
  log="$findings/$t.log"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  if [ $ci = 1 ]; then
    # One process, stops at the first finding: the exit status is the verdict.
    if ! "$bin" "${args[@]}" "$corpus" "$seeds/$t" >"$log" 2>&1; then
      echo "fuzz: $t FOUND A PROBLEM; the input is in $findings/$t/, the report:" >&2
      grep -E -A40 '^==[0-9]+==ERROR|FUZZ CHECK FAILED|^SUMMARY|runtime error|ALARM|out-of-memory' "$log" | head -80 >&2
      status=1
    fi
  else
    # Fork mode: a child process fuzzes, a finding is saved and fuzzing goes on.
    "$bin" "${args[@]}" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      "$corpus" "$seeds/$t" >"$log" 2>&1 || status=1
  fi
  found=$(find "$findings/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  [ "$found" -gt 0 ] && status=1
  # Figures for docs/reliability.md: executions, corpus, findings.
  # (fork mode: the last "#N:" line; one process: its final stats.)
  execs=$( (grep -Eo '^#[0-9]+' "$log" || true) | tail -1 | tr -d '#')
  stat_execs=$( (grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" || true) | awk '{s += $2} END {print s + 0}')
  echo "fuzz: $t: $(( stat_execs > ${execs:-0} ? stat_execs : ${execs:-0} )) executions, corpus $(find "$corpus" -type f | wc -l) files, findings $found"
done
exit $status
