# shellcheck shell=sh disable=SC2034,SC2154
# batchroot: the remote root, checked once for a batch of prepares (prepare.sh), in the
# batch's own shell before it runs them: sets root_ok to the root when secure_root passed
# (an empty root never does), which each prepare is given as "$1".
# Sourced after prelude.sh and secure.sh.
root_ok=
if cd -P -- "$HOME" 2>/dev/null; then
    taskroot "$PWD"
    secure_root "$root" && root_ok=$root
fi
