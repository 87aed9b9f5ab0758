#!/usr/bin/env bash
# Optional: Debian's Chromium + ChromeDriver for browser tests (apt only).
#   browser.sh install   apt chromium chromium-driver if missing, and axe-core
#                        (npm) for the browser tests' accessibility checks
#   browser.sh status    print the versions
# Binaries: /usr/bin/chromium, /usr/bin/chromedriver. As root, run Chromium with
#   --headless --no-sandbox --disable-gpu --no-first-run
#   --disable-background-networking --disable-component-update --disable-sync
# and a fresh --user-data-dir (this machine has no outside network).
set -euo pipefail
LOG_TAG=browser
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# AXE_VERSION is the axe-core the accessibility checks run (WCAG 2.1 A and
# AA rules, contrast included, which Chromium's accessibility tree alone
# does not show); its script lands in $STATE_DIR/axe/axe.min.js, which
# env.sh exports as HAPPYCHAT_AXE.
AXE_VERSION=4.14.1
AXE_DIR="$STATE_DIR/axe"

install_axe() {
  [[ -s $AXE_DIR/axe-$AXE_VERSION.min.js ]] && return 0
  command -v npm >/dev/null || die "npm is needed to fetch axe-core"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar -xzf "axe-core-$AXE_VERSION.tgz" package/axe.min.js) ||
    { rm -rf "$tmp"; die "npm pack axe-core@$AXE_VERSION failed"; }
  mkdir -p "$AXE_DIR"
  mv "$tmp/package/axe.min.js" "$AXE_DIR/axe-$AXE_VERSION.min.js"
  ln -sfn "axe-$AXE_VERSION.min.js" "$AXE_DIR/axe.min.js"
  rm -rf "$tmp"
}

cmd_install() {
  install_axe
  # Fonts: without them screenshots show emoji and Korean as empty boxes.
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver && -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] &&
    fc-list 2>/dev/null | grep -qi nanum; then
    return 0
  fi
  apt_install chromium chromium-driver fonts-noto-color-emoji fonts-nanum
}

cmd_status() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null) / $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
  else
    echo "browser: not installed (deploy/local/browser.sh install)"
    return 1
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  status) cmd_status ;;
  *) echo "usage: $0 {install|status}" >&2; exit 2 ;;
esac
