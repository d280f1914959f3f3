#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (the `fuzz` preset, in build/fuzz)
# and runs each for N seconds (default 60) from its seed corpus in
# fuzz/corpus/<target>/. New inputs go to build/fuzz/corpus/<target>/ so the
# checked-in seeds stay small; crash inputs to build/fuzz/artifacts/.
# Exits non-zero if any target crashes, leaks, times out or fails to build.
#
#   scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(manager_fuzzer mooncake_fuzzer azure_fuzzer jsonl_fuzzer spec_fuzzer
           call_log_fuzzer)
fi

echo "== pagekv: building fuzzers (preset fuzz) ==" >&2
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]}"

out=build/fuzz
mkdir -p "${out}/artifacts"
status=0
for t in "${targets[@]}"; do
  corpus="${out}/corpus/${t}"
  mkdir -p "${corpus}"
  log="${out}/${t}.log"
  echo "== ${t}: ${seconds}s ==" >&2
  if ! "${out}/fuzz/${t}" "${corpus}" "fuzz/corpus/${t}" \
      -max_total_time="${seconds}" -timeout=20 -rss_limit_mb=2048 \
      -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="${out}/artifacts/${t}-" >"${log}" 2>&1; then
    echo "!! ${t} failed; see ${log}:" >&2
    grep -A30 -m1 -E "ERROR|check failed|fuzzer:" "${log}" >&2 || tail -40 "${log}" >&2
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "${log}" |
          grep -o '[0-9]*$' || echo "?")
  echo "${t}: ${execs} executions in ${seconds}s" >&2
done
exit "${status}"
