#!/usr/bin/env bash
# tests/integration/run_scenario.sh - boots hv.efi in an emulator (through scripts/hv run) and
# judges the serial transcript against an expectation file:
#   - each non-blank line not starting with '#' or '!' is an extended regex; they must match
#     lines of the transcript in the order given (other lines may come between);
#   - a line '!REGEX' must match no line of the transcript at all (e.g. !PANIC);
#   - a line '~REGEX' must match some line anywhere, in any order (lines of VMs that run at once);
# Prints one line per expectation and fails with the transcript's tail on the first miss.
# --session FILE plays a session file on COM1 while the machine runs (scripts/hv run --session,
# docs/console.md): the scenario fails if a step fails; the expectations are still checked on the
# whole transcript afterwards.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name="" target="" timeout=120 efi="" work="" expect="" session="" paging="" config="" extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --name) name=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --efi) efi=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --expect) expect=$2; shift 2 ;;
    --session) session=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --paging) paging=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[ -f "$expect" ] || { echo "scenario $name: no expectation file $expect"; exit 1; }
[ -z "$session" ] || [ -f "$session" ] || { echo "scenario $name: no session file $session"; exit 1; }
mkdir -p "$work"
log=$work/serial.log
# --paging shadow: the same config with `shadow_paging = on` first (every VM on shadow paging).
if [ "$paging" = shadow ]; then
  [ -n "$config" ] || { echo "scenario $name: --paging needs --config"; exit 1; }
  { echo "shadow_paging = on"; cat "$config"; } >"$work/hv.cfg"
  config=$work/hv.cfg
  # The base scenario's expectations, with shadow paging's exit for EPT's, and proof that no VM
  # ran on EPT.
  { echo '!running on cpu[0-9]+ \(ept paging\)'
    sed -e 's/EPT violation/exception or NMI/g' "$expect"; } >"$work/expect.txt"
  expect=$work/expect.txt
fi
[ -z "$config" ] || extra+=(--config "$config")
[ -z "$session" ] || extra+=(--session "$session")
HV_BUILD_DIR=$work "$root/scripts/hv" run --target "$target" --timeout "$timeout" --no-build --quiet \
  --efi "$efi" --log "$log" "${extra[@]}"
rc=$?
case $rc in
  0) ;;
  124) echo "scenario $name: the machine did not stop within ${timeout}s" ;;
  1) echo "scenario $name: hv run failed (the session failed, or the emulator did not serve COM1)" ;;
  *) echo "scenario $name: hv run failed with status $rc" ;;
esac

# Strip CRs the UART sends before each newline.
tr -d '\r' <"$log" >"$work/transcript.txt"
transcript=$work/transcript.txt
fail=0 line_no=0
while IFS= read -r pattern || [ -n "$pattern" ]; do
  [[ -z $pattern || $pattern == \#* ]] && continue
  if [[ $pattern == !* ]]; then
    if grep -anE -- "${pattern:1}" "$transcript" >/dev/null; then
      echo "FAIL must not appear: ${pattern:1}: $(grep -anE -- "${pattern:1}" "$transcript" | head -1)"; fail=1
    else
      echo "ok   absent: ${pattern:1}"
    fi
    continue
  fi
  if [[ $pattern == ~* ]]; then
    if hit=$(grep -anE -m1 -- "${pattern:1}" "$transcript" | cut -d: -f1) && [ -n "$hit" ]; then
      echo "ok   line $hit (any order): ${pattern:1}"
    else
      echo "FAIL expected somewhere: ${pattern:1}"; fail=1
    fi
    continue
  fi
  hit=$(tail -n +$((line_no + 1)) "$transcript" | grep -anE -m1 -- "$pattern" | cut -d: -f1)
  if [ -z "$hit" ]; then
    echo "FAIL expected after line $line_no: $pattern"; fail=1; break
  fi
  line_no=$((line_no + hit))
  echo "ok   line $line_no: $pattern"
done <"$expect"
if [ $rc -ne 0 ]; then fail=1; fi
if [ $fail -ne 0 ]; then
  echo "---- transcript tail ($transcript) ----"; tail -n 40 "$transcript"
fi
exit $fail
