#!/bin/sh
# openclaw launcher: runs one agent, detached, and records what happened to it.
#
#   launcher.sh TASK_DIR WORKSPACE TASK_ID TIMEOUT -- AGENT_ARGV...
#
# The caller starts this in a new session (setsid), with every stream
# redirected, so it is its own process-group leader and outlives the caller.
# It is POSIX sh (dash, bash, busybox) so the same file serves the local
# machine and SSH hosts (containers have their own entry script). WORKSPACE
# is an absolute path: the caller has resolved it on that host. It:
#   - has the agent source TASK_DIR/env if present (0600, values quoted by
#     openclaw), so secrets never appear in argv;
#   - runs AGENT_ARGV in WORKSPACE with stdin from TASK_DIR/prompt and
#     stdout/stderr to TASK_DIR/stdout and TASK_DIR/stderr;
#   - writes TASK_DIR/pid atomically: "<own pid> <start time> <agent pid> <start time>"
#     (start times from /proc/PID/stat field 22, so a reused pid is never mistaken);
#   - survives SIGTERM/SIGHUP/SIGINT itself (the agent does not: it gets the
#     default dispositions back);
#   - when the agent has exited, stops every process of the task it left
#     behind (tool commands in sessions of their own, found by their
#     OPENCLAW_TASK_ID; see taskprocs.sh), so that a task whose rc exists
#     has no process left;
#   - with a TIMEOUT (seconds; 0 for none), stops the agent when it passes
#     (SIGTERM, SIGKILL 5 s later), adds "openclaw-agent: timed out after
#     TIMEOUTs" to TASK_DIR/stderr and records the exit status 124 (as
#     coreutils' timeout does): the limit holds with nobody watching;
#   - in a task worktree (TASK_DIR/worktree), commits what the agent left
#     uncommitted to the task's branch and writes TASK_DIR/changes;
#   - then writes the agent's exit status atomically to TASK_DIR/rc ("128+N"
#     when a signal ended it), and appends the task's id to .ended beside
#     TASK_DIR: one file that a watcher of every task there (serve) follows;
#   - and, when TASK_DIR/on-exit exists and tasks are queued beside TASK_DIR,
#     runs it detached (the local executor's drain of the queue).
set -u
dir=$1
ws=$2
task_id=$3
timeout=$4
shift 5

umask 077

# The task-process functions (tp_*) and the worktree functions (wt_*). Shipped to a host,
# these lines are replaced by the files themselves.
# shellcheck source=openclaw/taskprocs.sh
. "${0%/*}/taskprocs.sh"
# shellcheck source=openclaw/worktree.sh
. "${0%/*}/worktree.sh"

finish() {
    printf '%s\n' "$1" >"$dir/rc.tmp" && mv -f "$dir/rc.tmp" "$dir/rc"
    # One short append (O_APPEND: whole, whoever else appends), after the rc it announces.
    printf '%s\n' "$task_id" >>"${dir%/*}/.ended" 2>/dev/null
    # A slot just freed: with tasks queued, the dispatcher's hook (a drain; the local executor
    # writes it) dispatches the next, so a local queue flows with nobody watching. Detached in
    # a session of its own, and no process of this task (it unsets OPENCLAW_TASK_ID).
    if [ -f "$dir/on-exit" ] && [ -n "$(ls -A "${dir%/*}/.queue" 2>/dev/null)" ]; then
        if command -v setsid >/dev/null 2>&1; then
            setsid sh "$dir/on-exit" </dev/null >>"$dir/launcher.log" 2>&1 &
        else
            sh "$dir/on-exit" </dev/null >>"$dir/launcher.log" 2>&1 &
        fi
    fi
    exit 0
}

OPENCLAW_TASK_ID=$task_id
export OPENCLAW_TASK_ID

if ! cd "$ws" 2>/dev/null; then
    echo "openclaw: workspace not found or not a directory: $ws" >>"$dir/stderr"
    tp_start $$
    printf '%s %s 0 0\n' "$$" "$st" >"$dir/pid.tmp" && mv -f "$dir/pid.tmp" "$dir/pid"
    finish 127
fi

# Where the agent's change will be measured from. A task in a worktree of its own
# (TASK_DIR/worktree: "BASE BRANCH") has its base; in any other git checkout, the commit
# it starts from is kept (TASK_DIR/gitstart), for 'diff'.
# (git is asked only when a .git is on the way up: a plain directory costs no process.)
if [ ! -f "$dir/worktree" ]; then
    up=$PWD
    while [ -n "$up" ] && [ ! -e "$up/.git" ]; do up=${up%/*}; done
    if [ -e "${up:-}/.git" ] && command -v git >/dev/null 2>&1; then
        git rev-parse -q --verify HEAD >"$dir/gitstart" 2>/dev/null </dev/null || rm -f "$dir/gitstart"
    fi
fi

# A handler (not an ignore), so the agent, once exec'd, gets default dispositions.
trap ':' TERM HUP INT

# The agent's own environment (the 0600 env file) is read in the agent's shell, just
# before it becomes the agent: no name in it can change this script's variables.
(
    if [ -f "$dir/env" ]; then
        set -a
        # shellcheck source=/dev/null
        . "$dir/env"
        set +a
    fi
    exec "$@"
) <"$dir/prompt" >"$dir/stdout" 2>"$dir/stderr" &
child=$!
tp_start $$
own=$st
tp_start "$child"
printf '%s %s %s %s\n' "$$" "$own" "$child" "$st" >"$dir/pid.tmp" && mv -f "$dir/pid.tmp" "$dir/pid"

timed_out=''
watchdog=''
if [ "$timeout" != 0 ]; then
    # The watchdog tells this shell (USR1) before it stops the agent.
    trap 'timed_out=1' USR1
    (
        trap - TERM HUP INT
        sleep "$timeout"
        kill -USR1 "$$"
        kill -TERM "$child" 2>/dev/null
        sleep 5
        kill -KILL "$child" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
    watchdog=$!
fi

while :; do
    wait "$child"
    rc=$?
    # wait returns early (>128) when a trapped signal arrives; then go on
    # waiting while the agent still exists (kill -0 also sees a zombie).
    [ "$rc" -gt 128 ] || break
    kill -0 "$child" 2>/dev/null || break
done
[ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
# What the agent left running (a tool in a session of its own, the watchdog's sleep) goes
# with it: 2 s of SIGTERM, then SIGKILL.
TP_ID=$task_id TP_L=$$ TP_LS=$own TP_ME=$$
tp_stop 40 >/dev/null
if [ -n "$timed_out" ]; then
    printf 'openclaw-agent: timed out after %ss\n' "$timeout" >>"$dir/stderr"
    rc=124
fi
# In a worktree of its own, nothing the agent did is lost: what it left uncommitted is
# committed to the task's branch, and TASK_DIR/changes says what changed since the base.
if [ -f "$dir/worktree" ]; then
    { read -r wt_base _rest <"$dir/worktree"; } 2>/dev/null
    if wt_finish "$ws" "$task_id" "exit status $rc" "${wt_base:-}" >"$dir/changes.tmp" 2>/dev/null; then
        mv -f "$dir/changes.tmp" "$dir/changes"
    else
        rm -f "$dir/changes.tmp"
    fi
fi
finish "$rc"
