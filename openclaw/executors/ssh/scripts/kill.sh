# shellcheck shell=sh disable=SC2154,SC2034
# kill: the task's processes (see taskprocs.sh) SIGTERMed, SIGKILLed after the grace
# period. Given: task_id, leader and leader_start (empty when never recorded: the pid
# file gives them, or only the environment tag finds the processes), boot, steps.
# Sourced after prelude.sh and taskprocs.sh.
TP_ID=$task_id
TP_L=$leader
TP_LS=$leader_start
TP_ME=$$
if [ -n "$boot" ] && [ "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" != "$boot" ]; then
    f left 0
    end
fi
if [ -z "$TP_L" ] && [ -f "$root/$task_id/pid" ]; then
    { read -r TP_L TP_LS _rest <"$root/$task_id/pid"; } 2>/dev/null
fi
f left "$(tp_stop "$steps")"
