#!/usr/bin/env bash
# Build the previous release's happychat binary from git, for the fault
# suite's rolling-upgrade scenario (docs/reliability.md):
#
#   deploy/local/build-previous.sh REF OUT
#
# REF is a commit of this repository (CHAOS_UPGRADE_FROM in the Makefile);
# OUT the binary to write. The tree of REF is exported with `git archive`
# (no checkout is touched) under .state/previous/<commit> and built with the
# module cache and proxy of this machine, as make build does. An OUT newer
# than the export of the same commit is kept.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ref=${1:?usage: build-previous.sh REF OUT}
out=$(realpath -m "${2:?usage: build-previous.sh REF OUT}")
if ! commit=$(git -C "$REPO_DIR" rev-parse --verify --quiet "$ref^{commit}"); then
  if [[ $(git -C "$REPO_DIR" rev-parse --is-shallow-repository 2>/dev/null) != false ]]; then
    # A shallow or exported checkout has no history to build from: say so
    # loudly; the fault suite then skips rolling-upgrade and says so too.
    echo "[previous] WARNING: $ref is not in this checkout (shallow, or not a git clone): no previous release, rolling-upgrade will be skipped" >&2
    rm -f "$out"
    exit 0
  fi
  echo "[previous] $ref is not a commit of $REPO_DIR" >&2
  exit 1
fi
src=$STATE_DIR/previous/$commit
stamp=$src/.built
if [[ -x $out && -f $stamp && $(cat "$stamp") == "$out" ]]; then
  exit 0
fi
rm -rf "$src"
mkdir -p "$src"
git -C "$REPO_DIR" archive "$commit" | tar -x -C "$src"
start=$(date +%s)
(cd "$src" && go build -trimpath -ldflags "-X main.version=${commit:0:12}" -o "$out" ./cmd/happychat)
echo "$out" >"$stamp"
echo "[previous] built $out from ${commit:0:12} in $(($(date +%s) - start))s" >&2
