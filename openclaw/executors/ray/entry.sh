#!/bin/sh
# entry.sh: the entrypoint of the Ray job that runs one openclaw task, on the node Ray placed it.
#
#   sh entry.sh
#
# It runs in the job's working_dir: the task's package, uploaded to the cluster (not listed by
# the Jobs API or the dashboard): this file, launcher.sh (taskprocs.sh and worktree.sh inlined),
# taskprocs.sh, prompt, env (the executor's env values, sourced by the agent) and task.sh (written by
# openclaw: the task's settings, each value quoted, and the agent's argv as "$@"). So the
# entrypoint string, which every dashboard user sees, holds no prompt and no secret.
#
# It makes the task's directory on the node (ROOT/TASK_ID, 0700), takes the workspace (a path
# on the node, or a fresh clone of git_url), and runs the launcher in the foreground: the same
# launcher as on SSH hosts (byte-exact prompt on stdin, pid and start time, the wall-clock
# limit, leftovers stopped, rc). The agent's stdout is copied to the job's log as it comes.
# Ray writes lines of its own first: the agent's output starts after a line holding only BEGIN.
# When the launcher is done, a trailer follows, between two lines holding only MARK:
#   rc N | error TEXT | stderr BASE64 (the end of the agent's stderr)
# and the task's directory is removed: the job's log holds all there is to read.
#
# When Ray stops the job it signals this process group: the agent goes, the launcher stops
# what it left and records 128+N. When the job's supervisor dies (its node's raylet died),
# this script is orphaned: it stops every process of the task before it ends, so that a task
# Ray calls lost has nothing left running.
# shellcheck disable=SC2034  # the TP_* variables are read by taskprocs.sh
set -u
umask 077
here=$(pwd)
MARK='@@openclaw-ray-trailer@@'
BEGIN='@@openclaw-ray-output@@'
task_id='' root='' workspace='' git_url='' git_ref='' timeout=0 status_url='' header_vars=''
push_remote='' branch='' extra=''
# shellcheck source=/dev/null
. "$here/task.sh"
# The task-process functions (tp_*), to stop the task when its supervisor is gone.
# shellcheck source=openclaw/taskprocs.sh
. "$here/taskprocs.sh"
TP_ID=$task_id TP_L='' TP_LS='' TP_ME=$$

trailer() {  # trailer RC ERROR: the trailer, then the end of the job
    printf '\n%s\nrc %s\n' "$MARK" "$1"
    [ -n "$2" ] && printf 'error %s\n' "$(printf '%s' "$2" | tr '\n' ' ' | cut -c1-400)"
    [ -n "$extra" ] && printf '%s\n' "$extra"
    if [ -n "${dir:-}" ] && [ -s "$dir/stderr" ] && command -v base64 >/dev/null 2>&1; then
        printf 'stderr %s\n' "$(tail -c 16384 "$dir/stderr" | base64 | tr -d '\n')"
    fi
    printf '%s\n' "$MARK"
}

parent() { awk '{print $4}' "/proc/$$/stat" 2>/dev/null; }

# A job stopped while it waited for resources may still be started by Ray once they free: a
# task openclaw recorded killed must not run then.
if [ -n "$status_url" ] && command -v python3 >/dev/null 2>&1; then
    state=$(python3 - "$status_url" "$header_vars" <<'EOF' 2>/dev/null
import json, os, sys, urllib.request
headers = {}
for pair in filter(None, sys.argv[2].split(",")):
    name, _, var = pair.partition("=")
    if var in os.environ:
        headers[name] = os.environ[var]
req = urllib.request.Request(sys.argv[1], headers=headers)
print(json.load(urllib.request.urlopen(req, timeout=5)).get("status", ""))
EOF
)
    if [ "$state" = "STOPPED" ]; then
        trailer 143 "the job was stopped before Ray started it"
        exit 0
    fi
fi

root=${root:-$HOME/.cache/openclaw/ray-tasks}
case $root in "~"/*) root=$HOME/${root#"~/"} ;; esac
mkdir -p "$root" 2>/dev/null && chmod 700 "$root" 2>/dev/null
dir=$root/$task_id
if ! mkdir "$dir" 2>/dev/null; then
    dir=''
    trailer 127 "cannot make the task's directory $root/$task_id on the node"
    exit 1
fi
exec 2>>"$dir/entry.log"
cp "$here/prompt" "$dir/prompt" && chmod 600 "$dir/prompt"
[ -f "$here/env" ] && cp "$here/env" "$dir/env" && chmod 600 "$dir/env"
cp "$here/launcher.sh" "$dir/launcher.sh"

finish() {  # finish RC ERROR
    trailer "$1" "$2"
    cd / && rm -rf "$dir"
    exit 0
}

if [ -n "$git_url" ]; then
    workspace=$dir/ws
    if ! out=$(git clone -q "$git_url" "$workspace" 2>&1 </dev/null); then
        finish 128 "git clone $git_url failed: $(printf '%s' "$out" | tail -n 1)"
    fi
    if [ -n "$git_ref" ] && ! out=$(git -C "$workspace" checkout -q "$git_ref" 2>&1 </dev/null); then
        finish 128 "git checkout $git_ref failed: $(printf '%s' "$out" | tail -n 1)"
    fi
fi
[ -d "$workspace" ] || finish 127 "workspace not found on the node: $workspace"
if ! command -v "$1" >/dev/null 2>&1; then
    finish 127 "$1 not found on the Ray node: install it there, or set the executor's agent_path"
fi

stopping=''
trap 'stopping=1' TERM INT HUP
: >"$dir/stdout"
ppid0=$(parent)
sh "$dir/launcher.sh" "$dir" "$workspace" "$task_id" "$timeout" -- "$@" \
    </dev/null >>"$dir/launcher.log" 2>&1 &
launcher=$!
printf '%s\n' "$BEGIN"  # Ray's own lines come before: the agent's output starts after this one
tail -c +1 -f --pid="$launcher" "$dir/stdout" &
copier=$!
orphaned=''
while [ ! -f "$dir/rc" ]; do
    if ! kill -0 "$launcher" 2>/dev/null; then
        break
    fi
    if [ -z "$orphaned" ] && [ "$(parent)" != "$ppid0" ]; then
        # The job's supervisor is gone (its node's raylet died): nobody will stop this task.
        orphaned=1
        { read -r TP_L TP_LS _rest <"$dir/pid"; } 2>/dev/null
        tp_stop 100 >/dev/null
    fi
    sleep 0.2 2>/dev/null || sleep 1
done
wait "$copier" 2>/dev/null
rc=''
{ read -r rc <"$dir/rc"; } 2>/dev/null
[ -n "$stopping" ] && [ -z "$rc" ] && rc=143
if [ -n "$orphaned" ]; then
    finish "${rc:-137}" "the Ray job's supervisor died (its node left the cluster): the task was stopped"
fi
[ -n "$rc" ] || finish 137 "the launcher ended without recording an exit status"
if [ -n "$push_remote" ] && [ -n "$git_url" ] && [ "$rc" = 0 ]; then
    # start --push on a clone of its own: what the agent left goes on the task's branch, pushed
    # from here (the clone goes when the job ends), with this node's git credentials.
    g() { git -C "$workspace" -c user.name=openclaw-agent -c user.email=openclaw-agent@localhost "$@"; }
    base=$(g rev-parse HEAD 2>/dev/null)
    if g checkout -q -b "$branch" && g add -A && { g diff --cached --quiet || g commit -q -m "openclaw task $task_id"; }; then
        head=$(g rev-parse HEAD)
        counts=$(g diff --numstat "$base" "$head" | awk '{f++; i+=$1; d+=$2} END {print f+0, i+0, d+0}')
        extra="changes $base $head $counts"
        if out=$(g push -q "$push_remote" "$branch:refs/heads/$branch" 2>&1 </dev/null); then
            extra="$extra
push ok refs/heads/$branch $head"
        else
            extra="$extra
push error $(printf '%s' "$out" | tail -n 1 | cut -c1-300)"
        fi
    else
        extra="push error could not commit the task's change on $branch"
    fi
fi
finish "$rc" ''
