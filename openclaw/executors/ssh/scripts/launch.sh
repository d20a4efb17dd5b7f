# shellcheck shell=sh disable=SC2154
# launch: the detached launch. Given: dir, task_id, workspace, agent (its binary, resolved
# by prepare), timeout (seconds, 0 for none), and the agent's arguments after the binary
# as "$@" (set by the caller). Sourced after prelude.sh and secure.sh; collect.sh follows
# (in the same shell for one task; a batch launches every task before it collects any).
# Sets launcher and launcher_st, the launcher's pid and start time, and writes them to
# "spawned" for a collect.sh run by another shell. The launch makes launcher.log: where
# there is none, nothing was launched.
umask 077
private "$dir" || { f fail insecure; f detail "$problem"; end; }
cd "$dir" || { f fail mkdir; f detail "$dir"; end; }
chmod 600 prompt env launcher.sh
: >>"$dir/launcher.log"
# A batch's shell ignores SIGPIPE (so a dropped connection stops no launch half-way); an
# ignored signal stays ignored through exec, and the agent must get it as a single start does.
trap - PIPE
setsid nohup /bin/sh "$dir/launcher.sh" "$dir" "$workspace" "$task_id" "$timeout" -- \
    "$agent" "$@" >>"$dir/launcher.log" 2>&1 </dev/null &
launcher=$!
# Its start time (field 22 of /proc/PID/stat), so that a rollback never signals a reused pid.
launcher_st=
{ read -r launcher_st <"/proc/$launcher/stat"; } 2>/dev/null
launcher_st=${launcher_st##*) }
# shellcheck disable=SC2086
set -- $launcher_st
launcher_st=${20:-}
printf '%s %s\n' "$launcher" "$launcher_st" >"$dir/spawned"
