# shellcheck shell=sh disable=SC2034
# secure_root DIR / private DIR: in the manner of OpenSSH's StrictModes. Each existing
# directory on DIR's path must be owned by us or root, and writable by no one else
# unless it is a sticky directory above DIR (such as /tmp); a symlink on the path
# must be root's; DIR itself must be ours and a real directory (never a symlink).
# Missing directories are made one by one, 0700, and checked. `problem` says what is
# wrong. ls -ldn is POSIX: mode, links, uid.
# me: the effective uid, from /proc without a fork (id -u where there is no /proc).
me=
while read -r o_key _ o_euid _; do
    [ "$o_key" = Uid: ] && { me=$o_euid; break; }
done </proc/self/status 2>/dev/null
[ -n "$me" ] || me=$(id -u)
# shellcheck disable=SC2046
owner_mode() { set -- $(ls -ldn -- "$1" 2>/dev/null); o_mode=${1:-}; o_uid=${3:-}; }
private() {
    owner_mode "$1"
    case $o_mode in
        d*) ;;
        l*) problem="$1 is a symlink"; return 1 ;;
        "") problem="$1 does not exist"; return 1 ;;
        *) problem="$1 is not a directory"; return 1 ;;
    esac
    [ "$o_uid" = "$me" ] || { problem="$1 is owned by uid $o_uid, not by you (uid $me)"; return 1; }
    case $o_mode in
        ?????w*|????????w*) problem="$1 is writable by others (mode $o_mode)"; return 1 ;;
    esac
}
secure_root() {
    case $1 in /*) ;; *) problem="$1 is not an absolute path"; return 1 ;; esac
    path=
    rest=${1#/}
    while [ -n "$rest" ]; do
        part=${rest%%/*}
        case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac
        [ -n "$part" ] || continue
        path=$path/$part
        owner_mode "$path"
        if [ -z "$o_mode" ]; then
            mkdir -m 700 -- "$path" 2>/dev/null || [ -d "$path" ] || {
                problem="cannot create $path"; return 1; }
            private "$path" || return 1
            continue
        fi
        if [ "$o_uid" != 0 ] && [ "$o_uid" != "$me" ]; then
            problem="$path is owned by uid $o_uid, neither you (uid $me) nor root"; return 1
        fi
        case $o_mode in
            l*)
                # Only root's symlinks are followed (such as /var/run); never at the root itself.
                if [ "$o_uid" != 0 ] || [ -z "$rest" ]; then
                    problem="$path is a symlink (give remote_root's real path)"; return 1
                fi
                ;;
            d*)
                if [ -z "$rest" ]; then
                    private "$path" || return 1
                else
                    case $o_mode in
                        ?????????[tT]*) ;;  # sticky (/tmp): others may add entries, not move ours
                        ?????w*|????????w*) problem="$path is writable by others (mode $o_mode)"; return 1 ;;
                    esac
                fi
                ;;
            *) problem="$path is not a directory"; return 1 ;;
        esac
    done
}
