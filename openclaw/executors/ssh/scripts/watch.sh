# shellcheck shell=sh disable=SC2154
# watch: stays until the launcher of task $task_id ($leader, started at $leader_start)
# exits, sending the task's $stream as it grows when $stream is set (the bytes only wake
# the watcher; it reads them again by offset). Sourced after prelude.sh and taskprocs.sh.
# Its first line after the mark says how it watches:
#   "watch tail":  GNU tail follows the stream (inotify) and the launcher's pid;
#   "watch poll":  no GNU tail here: one check a second, for the end only;
#   "watch ended": the launcher is not running as recorded (the caller looks).
# The watcher keeps this side's stdin open while it watches; its end (the watcher gone,
# or its connection) stops the watch, so nothing of it outlives the watcher for long.
d=$root/$task_id
tp_start "$leader"
if [ "$st" = 0 ] || [ "$st" != "$leader_start" ] || [ -f "$d/rc" ]; then
    printf 'watch ended\n'
    exit 0
fi
file=/dev/null
[ -n "$stream" ] && file=$d/$stream
if tail --pid="$$" -c 0 /dev/null >/dev/null 2>&1; then
    printf 'watch tail\n'
    tail -c 0 --pid="$leader" -f -- "$file" 2>/dev/null &
else
    printf 'watch poll\n'
    while tp_start "$leader"; [ "$st" = "$leader_start" ] && [ ! -f "$d/rc" ]; do
        sleep 1
    done &
fi
held $!
exit 0
