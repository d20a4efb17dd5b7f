# shellcheck shell=sh disable=SC2154
# prepare: the pre-flight checks, the private remote root and the new task directory,
# before anything is uploaded. Given: task_id, workspace, agent_path (the agent's binary),
# root_var (the variable that must be 1 for the agent to run as root, or empty when it has
# no such rule; a plain name) and the agent's environment, exported. Sourced after
# prelude.sh and secure.sh.
#
# It forks only for mkdir and ls (secure.sh): a batch runs it once per task. Where the
# batch's shell has checked the remote root already (batchroot.sh), it gives that root as
# "$1" and it is not checked again.
checked_root=${1:-}
fail() { f fail "$1"; f detail "${2:-}"; end; }
# find_agent NAME: sets agent to what `command -v NAME` would run, without its fork.
find_agent() {
    case $1 in
        */*) [ -e "$1" ] && agent=$1 ;;
        *) IFS=:
           for p in $PATH; do
               if [ -f "${p:-.}/$1" ] && [ -x "${p:-.}/$1" ]; then
                   agent=${p:-.}/$1
                   unset IFS
                   return 0
               fi
           done
           unset IFS
           return 1 ;;
    esac
}
# blocked PATH: sets blocked to the first directory on PATH's way, from the top, that this
# user cannot enter (search): what makes a path that is there look missing.
blocked() {
    b_rest=$1 b_at=
    case $b_rest in /*) b_at=/ ;; esac
    while :; do
        case $b_rest in */*) ;; *) return 1 ;; esac
        b_part=${b_rest%%/*} b_rest=${b_rest#*/}
        case $b_part in '' | .) continue ;; esac
        case $b_at in '' | */) b_at=$b_at$b_part ;; *) b_at=$b_at/$b_part ;; esac
        [ -d "$b_at" ] || return 1
        [ -x "$b_at" ] || { blocked=$b_at; return 0; }
    done
}
cd -P -- "$HOME" 2>/dev/null || fail insecure "the home directory $HOME is missing"
HOME_P=$PWD
ws=$workspace
# shellcheck disable=SC2088 # a literal "~/" given by the user, expanded here
case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${ws#"~/"} ;; esac
cd -P -- "$ws" 2>/dev/null || fail workspace "$ws"
ws=$PWD
# agent-perm's detail is "WHY PATH": noexec (not an executable file), noread (executable
# but not readable: a script's interpreter cannot read it) or search (PATH is a directory
# on the agent's path that cannot be entered).
if find_agent "$agent_path"; then
    if [ ! -f "$agent" ] || [ ! -x "$agent" ]; then fail agent-perm "noexec $agent"; fi
    [ -r "$agent" ] || fail agent-perm "noread $agent"
else
    # Not found as a command: is it there, but not executable, or behind a closed directory?
    case $agent_path in
        */*) blocked "$agent_path" && fail agent-perm "search $blocked" ;;
        *) IFS=:
           for p in $PATH; do
               [ -e "${p:-.}/$agent_path" ] && { unset IFS; fail agent-perm "noexec ${p:-.}/$agent_path"; }
           done
           unset IFS ;;
    esac
    fail agent "$PATH"
fi
case $root_var in
    '') ;;
    *[!A-Za-z0-9_]*) fail root-var "$root_var" ;;
    *) if [ "$(id -u)" = 0 ]; then
           eval "rv=\${$root_var-(unset)}"
           [ "$rv" = 1 ] || fail root "$rv"
       fi ;;
esac
taskroot "$HOME_P"
if [ -z "$checked_root" ] || [ "$checked_root" != "$root" ]; then
    secure_root "$root" || fail insecure "$problem"
fi
dir=$root/$task_id
mkdir -m 700 -- "$dir" 2>/dev/null || fail mkdir "cannot create $dir (it exists, or the root is not writable)"
private "$dir" || fail insecure "$problem"
f dir "$dir"
f home "$HOME"
f ws "$ws"
f agent "$agent"
