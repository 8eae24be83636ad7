#!/usr/bin/env bash
# completion_test.sh — the bash completion (packaging/bash-completion/xferq)
# run by a real bash against a real queue, and the generated man page read
# by man(1). Usage: completion_test.sh XFERQ_BINARY COMPLETION_FILE [MAN_PAGE]
set -euo pipefail
xferq_bin=$1 completion=$2 man_page=${3:-}
work=$(mktemp -d /tmp/xferq-completion-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$xferq_bin" "$work/bin/xferq"
export PATH="$work/bin:$PATH"
export XFERQ_DB="$work/queue.db"
id=$(xferq create nightly)

# shellcheck source=/dev/null
source "$completion"
complete_words() {  # complete_words WORD... : what completing the last word offers
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _xferq
  printf '%s\n' "${COMPREPLY[@]}"
}
expect() {  # expect WHAT -- WORD...
  local want=$1
  shift 2
  local got
  got=$(complete_words "$@")
  if ! grep -qxF -- "$want" <<<"$got"; then
    echo "completing '$*' did not offer '$want'; got: $(echo $got)"
    exit 1
  fi
}
expect serve -- xferq se
expect setpriority -- xferq set
expect --listen -- xferq serve --l
expect --tls-cert -- xferq serve --tls
expect --origin -- xferq serve --or
expect --until-idle -- xferq run --
expect "$id" -- xferq cancel '{'
expect "$id" -- xferq --db "$XFERQ_DB" resume ''
expect HIGH -- xferq setpriority "$id" H
if [ -n "$man_page" ]; then
  # Spaces squeezed: man justifies lines, so words may be two spaces apart.
  text=$(MANWIDTH=100 man -l "$man_page" 2>/dev/null | tr -s ' ')
  for want in "xferq serve" "--token-file" "--origin" "Authorization: Bearer" "EXIT STATUS" "xferq-serve.service"; do
    grep -qF -- "$want" <<<"$text" || { echo "the man page lacks '$want'"; exit 1; }
  done
fi
echo "completion and man page: ok"
