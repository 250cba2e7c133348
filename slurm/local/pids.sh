# Sourced by slurm/local/start and stop: which daemons are ours. A daemon is recorded as its PID
# and that process's start time (/proc/PID/stat field 22, in clock ticks since boot); both survive
# the exec chain `setsid setpriv munged` and together they name one process for the life of the
# machine, so a reused PID is never taken for ours and a daemon still exec'ing is never taken
# for a dead one. Needs PIDS (the folder of NAME.pid files).

# identity PID: prints "PID STARTTIME" of a live process (a zombie counts as gone).
identity() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r -a fields <<<"${stat##*) }"  # the fields after the command name, from field 3
    [ "${fields[0]}" != Z ] || return 1
    echo "$1 ${fields[19]}"
}

# record NAME PID: remember PID as the daemon NAME.
record() {
    local id
    id=$(identity "$2") || return 1
    echo "$id" >"$PIDS/$1.pid"
}

# pid_of NAME: the recorded PID of NAME if that very process still runs. (A file of an older
# start script holds the PID alone: then the process must run the program NAME.)
pid_of() {
    local pid start
    read -r pid start 2>/dev/null <"$PIDS/$1.pid" || return 1
    [ -n "$pid" ] || return 1
    if [ -z "$start" ]; then
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
        return
    fi
    [ "$(identity "$pid")" = "$pid $start" ] && echo "$pid"
}
