# shellcheck shell=sh
# openclaw container entry: the container's PID 1, run as
#   sh -c ENTRY openclaw-entry WORKSPACE TIMEOUT AGENT_ARGV...
# The task's files are mounted read-only at /openclaw-task: prompt (the agent's stdin),
# env (0600, values quoted, sourced here), and a resumed session. It cds to the
# workspace, runs the agent, forwards SIGTERM and SIGHUP to it (a PID 1 without
# handlers would ignore them) and exits with the agent's status. With a TIMEOUT (seconds,
# 0 for none) it stops the agent when that passes (SIGTERM, SIGKILL 5 s later), says
# "openclaw-agent: timed out after TIMEOUTs" on stderr and exits 124, as the launcher does.
# OPENCLAW_AGENT_FIX (set with -e, no secret) says how to install a missing agent; it comes
# right after the agent's path, for a record keeps the start of the line. The agent never sees it.
# shellcheck source=/dev/null
if [ -f /openclaw-task/env ]; then set -a; . /openclaw-task/env; set +a; fi
fix=${OPENCLAW_AGENT_FIX:-"install it in the image, or set the agent's path"}
unset OPENCLAW_AGENT_FIX
ws=$1; timeout=$2; shift 2
# shellcheck disable=SC2088 # a literal "~/" given by the user, expanded here
case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${ws#"~/"} ;; esac
if ! cd "$ws" 2>/dev/null; then
    echo "openclaw: workspace not found or not a directory in the container: $ws" >&2
    exit 127
fi
# A resumed task's session, staged by its paths in the container: copied into place, made
# this user's own (umask 077: what cp makes is owner-only; directories that exist stay as they are).
if [ -d /openclaw-task/resume ] && ! (umask 077 && cp -R /openclaw-task/resume/. /); then
    echo "openclaw: cannot put the resumed session in place in the container" >&2
    exit 127
fi
# The agent: not found, behind a directory this user cannot enter, not an executable file,
# or executable but not readable (a script's interpreter must read it)? (dash's command -v
# takes any existing path.)
why=
if ! a=$(command -v -- "$1" 2>/dev/null); then
    why="not found in the container: $fix"
    case $1 in */*)
        r=$1 d=
        case $r in /*) d=/ ;; esac
        while :; do
            case $r in */*) ;; *) break ;; esac
            p=${r%%/*} r=${r#*/}
            case $p in '' | .) continue ;; esac
            case $d in '' | */) d=$d$p ;; *) d=$d/$p ;; esac
            [ -d "$d" ] || break
            if [ ! -x "$d" ]; then
                why="cannot be reached in the container: cannot enter $d (permission denied): check its permissions (ls -ld $d), or set the agent's path"
                break
            fi
        done ;;
    esac
else
    case $a in */*)
        if [ ! -f "$a" ] || [ ! -x "$a" ]; then
            why="is not an executable file in the container: check its permissions (ls -l $a; chmod +x), or set the agent's path"
        elif [ ! -r "$a" ]; then
            why="is executable but not readable in the container (permission denied), and a script's interpreter must read it: check its permissions (ls -lL $a; chmod +r), or set the agent's path"
        fi ;;
    esac
fi
if [ -n "$why" ]; then
    echo "openclaw: $1 $why" >&2
    exit 127
fi
trap 'kill -TERM "$c" 2>/dev/null' TERM
trap 'kill -HUP "$c" 2>/dev/null' HUP
"$@" </openclaw-task/prompt &
c=$!
timed_out='' w=''
if [ "$timeout" != 0 ]; then
    trap 'timed_out=1' USR1
    (trap - TERM HUP; sleep "$timeout"; kill -USR1 "$$"; kill -TERM "$c"; sleep 5; kill -KILL "$c") \
        </dev/null >/dev/null 2>&1 &
    w=$!
fi
while :; do
    wait "$c"; rc=$?
    [ "$rc" -gt 128 ] && kill -0 "$c" 2>/dev/null && continue
    break
done
[ -n "$w" ] && kill "$w" 2>/dev/null
if [ -n "$timed_out" ]; then
    echo "openclaw-agent: timed out after ${timeout}s" >&2
    exit 124
fi
exit "$rc"
