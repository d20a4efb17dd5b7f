# shellcheck shell=sh disable=SC2154
# ended: serve's one watch of every task on this host. Each launcher appends its task's id to
# $root/.ended once it has written its rc (launcher.sh); this follows that one file (GNU tail
# by inotify, another tail once a second) and sends each id appended, from the size the file
# had when the watch began. The tasks of $ids (running at the watcher's last look) whose rc
# is already there are sent first: they ended before the watch began. The first line after
# the mark is "watch ends". The watcher keeps this side's stdin open while it watches; its
# end stops the watch, so nothing of it outlives the watcher. Sourced after prelude.sh.
e=$root/.ended
: >>"$e" || exit 1
n=$(wc -c <"$e")
n=$((n + 0))
ended=''
# shellcheck disable=SC2086 # $ids: task ids (checked), split on spaces
for id in $ids; do
    [ -f "$root/$id/rc" ] && ended="$ended$id
"
done
printf 'watch ends\n%s' "$ended" # one write: the ids come with the answer, as a rule
tail -c "+$((n + 1))" -f -- "$e" 2>/dev/null &
held $!
exit 0
