# shellcheck shell=sh
# openclaw container entry: the container's PID 1, run as
#   sh -c ENTRY openclaw-entry WORKSPACE AGENT_ARGV...
# The task's files are mounted read-only at /openclaw-task: prompt (the agent's stdin),
# env (0600, values quoted, sourced here), and a resumed session. It cds to the
# workspace, runs the agent, forwards SIGTERM and SIGHUP to it (a PID 1 without
# handlers would ignore them) and exits with the agent's status.
# shellcheck source=/dev/null
if [ -f /openclaw-task/env ]; then set -a; . /openclaw-task/env; set +a; fi
ws=$1; shift
# shellcheck disable=SC2088 # a literal "~/" given by the user, expanded here
case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${ws#"~/"} ;; esac
if ! cd "$ws" 2>/dev/null; then
    echo "openclaw: workspace not found or not a directory in the container: $ws" >&2
    exit 127
fi
if [ -f /openclaw-task/resume.jsonl ]; then
    IFS= read -r t </openclaw-task/resume.path
    if ! { mkdir -p "${t%/*}" && cp /openclaw-task/resume.jsonl "$t"; }; then
        echo "openclaw: cannot put the resumed session at $t in the container" >&2
        exit 127
    fi
fi
trap 'kill -TERM "$c" 2>/dev/null' TERM
trap 'kill -HUP "$c" 2>/dev/null' HUP
"$@" </openclaw-task/prompt &
c=$!
while :; do
    wait "$c"; rc=$?
    [ "$rc" -gt 128 ] && kill -0 "$c" 2>/dev/null && continue
    break
done
exit "$rc"
