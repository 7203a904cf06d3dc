#!/bin/sh
# TAP tests for karapace-sandbox (developer aid; not on the runtime path).
# Run as root and as an unprivileged user:
#   make && ./test.sh
#   runuser -u someone -- ./test.sh
# Needs a static busybox (apt-get install busybox-static); BUSYBOX=path overrides.
set -u
here=$(cd "$(dirname "$0")" && pwd)
S=${SANDBOX:-$here/build/karapace-sandbox}
BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# is DESC EXPECTED ACTUAL
is() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected [$2], got [$3]"; fi; }

if [ -z "$BUSYBOX" ] || ! [ -x "$S" ]; then
    echo "1..0 # SKIP need $S (make) and busybox"
    exit 0
fi

T=$(mktemp -d /tmp/karapace-sandbox-test.XXXXXX)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
R=$T/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/proc" "$R/dev" "$R/sys" "$R/mnt" "$T/upper" "$T/work"
cp "$BUSYBOX" "$R/bin/busybox"
for c in sh id ls cat echo ip ps sleep true nc kill hostname pwd env touch rm chown stat grep wc mkdir; do
    ln -s busybox "$R/bin/$c"
done
echo original > "$R/etc/victim"
ME=$(id -u)
OV="--lower $R --upper $T/upper --work $T/work"
RUN="$S --lower $R --setenv PATH /bin"

echo "1..33"

# ids
is "--uid 0 runs as uid 0" 0 "$($RUN --uid 0 --gid 0 -- id -u)"
is "--uid 1234 runs as uid 1234" 1234 "$($RUN --uid 1234 --gid 1234 -- id -u)"
is "--gid is applied" 1234 "$($RUN --uid 1234 --gid 1234 -- id -g)"
is "default uid is the caller's" "$ME" "$($RUN -- id -u)"
is "single mode maps one id" "1" "$($RUN --uid 0 -- cat /proc/self/uid_map | wc -l | tr -d ' ')"

# overlay
$S $OV --setenv PATH /bin --uid 0 --gid 0 -- sh -c 'echo new > /tmp/created; rm /etc/victim' >/dev/null 2>&1
is "writes land in the upper dir" new "$(cat "$T/upper/tmp/created" 2>/dev/null)"
if [ -c "$T/upper/etc/victim" ]; then ok "deletion is a whiteout in the upper dir"; else not_ok "deletion is a whiteout in the upper dir"; fi
is "the lower dir is untouched" original "$(cat "$R/etc/victim")"
is "the next run sees the upper" "new" "$($S $OV --setenv PATH /bin -- sh -c 'cat /tmp/created; [ -e /etc/victim ] && echo still-there')"
$RUN -- touch /etc/x 2>/dev/null
is "single lower without upper is read-only" 1 $?

# exit codes
$RUN -- sh -c 'exit 7'; is "exit status passes through" 7 $?
$RUN -- sh -c 'kill -KILL $$'; is "killed command gives 128+signal" 137 $?
$RUN -- /nonexistent 2>/dev/null; is "command not found gives 127" 127 $?
$RUN -- /etc 2>/dev/null; is "command not executable gives 126" 126 $?
$S --lower "$T/nope" -- true 2>/dev/null; is "setup failure gives 125" 125 $?
err=$($S --lower "$T/nope" -- true 2>&1)
case "$err" in "karapace-sandbox: "*": No such file or directory") ok "setup error format";; *) not_ok "setup error format" "$err";; esac

# pid 1
is "no zombies after an orphan exits" 0 \
    "$($RUN -- sh -c '(sleep 0.1 &); sleep 0.5; ps -o stat | grep -c "^Z"')"
is "the command's parent is pid 1" 1 "$($RUN -- sh -c 'grep PPid /proc/self/status' | tr -dc 0-9)"

# signals
$RUN -- sleep 30 & pid=$!
sleep 0.5; kill -TERM $pid; wait $pid
is "SIGTERM to the launcher reaches the command" 143 $?
$RUN --pid-file "$T/pid" -- sh -c 'trap "exit 42" HUP; sleep 30 & wait' & pid=$!
sleep 0.5
p1=$(cat "$T/pid" 2>/dev/null)
if [ -n "$p1" ] && [ "$(cat /proc/$p1/comm 2>/dev/null)" = "karapace-sandbo" ]; then
    ok "--pid-file holds the host pid of the sandbox's pid 1"
else
    not_ok "--pid-file holds the host pid of the sandbox's pid 1" "pid [$p1]"
fi
kill -HUP "$p1"; wait $pid
is "a signal to pid 1 reaches the command" 42 $?
if [ -e "$T/pid" ]; then not_ok "--pid-file is removed at exit"; else ok "--pid-file is removed at exit"; fi

# status fd, args fd
$RUN --json-status-fd 3 -- sh -c 'exit 3' 3>"$T/status"
grep -q '"child-pid": [0-9]' "$T/status" && grep -q '"exit-code": 3' "$T/status" &&
    ok "--json-status-fd reports child-pid and exit-code" || not_ok "--json-status-fd" "$(cat "$T/status")"
printf -- '--hostname\0argbox\0--\0hostname\0' > "$T/args"
is "--args FD" argbox "$($S --lower "$R" --setenv PATH /bin --args 3 3<"$T/args")"

# environment, cwd, hostname
is "--clearenv/--setenv" "A=1 PATH=/bin" "$($S --lower "$R" --clearenv --setenv PATH /bin --setenv A 1 -- env | sort | tr '\n' ' ' | sed 's/ $//')"
is "--chdir" /tmp "$($RUN --chdir /tmp -- pwd)"
is "--hostname" box "$($RUN --hostname box -- hostname)"

# mounts
$S $OV --setenv PATH /bin --ro-bind "$T" /mnt/ro -- touch /mnt/ro/x 2>/dev/null
is "--ro-bind is read-only" 1 $?
is "--file-from" original "$($S $OV --setenv PATH /bin --file-from "$R/etc/victim" /etc/copied -- cat /etc/copied)"
is "--tmpfs with --perms" 1777 "$($S $OV --setenv PATH /bin --perms 1777 --tmpfs /scratch -- stat -c %a /scratch)"

# network
is "--unshare-net has only lo" lo "$($RUN --unshare-net -- ls /sys/class/net)"
if command -v python3 >/dev/null; then
    python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1]); sys.stdout.flush(); time.sleep(5)' > "$T/port" &
    sleep 0.5
    port=$(cat "$T/port")
    $RUN --unshare-net -- sh -c "echo | nc -w 1 127.0.0.1 $port" 2>/dev/null
    [ $? -ne 0 ] && ok "--unshare-net cannot reach a host listener" || not_ok "--unshare-net cannot reach a host listener"
else
    skip "--unshare-net cannot reach a host listener" "no python3"
fi

# fake chown (single-id mode: chown to another id fails without it)
$S $OV --setenv PATH /bin --uid 0 --gid 0 -- sh -c 'touch /tmp/c; chown 123:456 /tmp/c' 2>/dev/null
st1=$?
$S $OV --setenv PATH /bin --uid 0 --gid 0 --fake-chown -- sh -c 'touch /tmp/c; chown 123:456 /tmp/c && stat -c %u /tmp/c' > "$T/fc" 2>&1
st2=$?
if [ $st1 -ne 0 ] && [ $st2 -eq 0 ] && [ "$(cat "$T/fc")" = 0 ]; then
    ok "--fake-chown turns chown into a successful no-op"
else
    not_ok "--fake-chown turns chown into a successful no-op" "without: $st1, with: $st2 $(cat "$T/fc")"
fi

exit $((fails > 0))
