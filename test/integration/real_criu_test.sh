#!/bin/sh
# A real, unmodified CRIU dumps a running process through img-proxyd and restores it from
# img-cached, with --stream; the process must go on with its memory intact.
# Skips (exit 77) where this machine cannot run CRIU: not root, no criu, or `criu check` fails.
set -u
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to run criu"
command -v criu >/dev/null 2>&1 || skip "criu is not installed"
criu check >/dev/null 2>&1 || skip "criu check fails on this kernel"
criu --help 2>&1 | grep -q -- --stream || skip "this criu has no --stream"
command -v python3 >/dev/null 2>&1 || skip "python3 is needed for the target process"
: "${IMG_PROXYD:?}" "${IMG_CACHED:?}" "${IMG_CTL:?}"

work=$(mktemp -d /tmp/img-real-criu.XXXXXX)
pids=""
target=""
fail() {
    echo "FAIL: $*"
    for log in "$work"/*.log "$work"/dump/dump.log "$work"/restore/restore.log; do
        [ -f "$log" ] && { echo "----- $log"; tail -30 "$log"; }
    done
    exit 1
}
cleanup() {
    [ -n "$target" ] && kill -9 "$target" 2>/dev/null
    for pid in $pids; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# img-cached binds port 0 and names the port it got in its ready line.
"$IMG_CACHED" --listen "127.0.0.1:0" --plain-tcp --serve "$work/restore=real" --control "$work/cached.sock" \
    --log-level debug 2>"$work/img-cached.log" &
pids="$pids $!"
tries=0
port=""
until [ -n "$port" ]; do
    port=$(sed -n 's/.*ready: link on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$work/img-cached.log" | head -n 1)
    [ -n "$port" ] && break
    tries=$((tries + 1)); [ $tries -le 100 ] || fail "img-cached did not report its link port"; sleep 0.1  # bounded poll
done
"$IMG_PROXYD" --cache "127.0.0.1:$port" --plain-tcp --capture "$work/dump=real" --control "$work/proxyd.sock" \
    --log-level debug 2>"$work/img-proxyd.log" &
pids="$pids $!"
tries=0
until [ -S "$work/dump/streamer-capture.sock" ] && [ -S "$work/restore/streamer-serve.sock" ]; do
    tries=$((tries + 1)); [ $tries -le 100 ] || fail "daemons did not start"; sleep 0.1  # bounded poll
done

# The target: a session leader holding 16 MiB of random bytes, writing a counter and the
# checksum of its memory every 100 ms.
setsid python3 -c '
import os, sys, time, zlib
memory = bytearray(os.urandom(16 << 20))
count = 0
while True:
    count += 1
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{count} {zlib.crc32(memory):08x}\n")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(0.1)
' "$work/counter" </dev/null >/dev/null 2>&1 &
target=$!
tries=0
until [ -s "$work/counter" ]; do
    tries=$((tries + 1)); [ $tries -le 100 ] || fail "target did not start"; sleep 0.1  # bounded poll
done

before=$(cat "$work/counter")
criu dump -t "$target" -D "$work/dump" --stream -v4 -o dump.log || fail "criu dump --stream failed"
timeout 60 "$IMG_CTL" --control "$work/proxyd.sock" wait real >/dev/null || fail "img-ctl wait on img-proxyd failed"
timeout 60 "$IMG_CTL" --control "$work/cached.sock" wait real >/dev/null || fail "img-ctl wait on img-cached failed"
# CRIU restores with the same PID: wait until the kernel has released it.
tries=0
while kill -0 "$target" 2>/dev/null; do
    tries=$((tries + 1)); [ $tries -le 100 ] || fail "the dumped process still runs"; sleep 0.1  # bounded poll
done
criu restore -D "$work/restore" --stream -d -v4 -o restore.log || fail "criu restore --stream failed"
kill -0 "$target" 2>/dev/null || fail "the restored process is not running"
# The restored process writes its counter again: wait until it has moved past the dumped value.
tries=0
until [ "$(cut -d' ' -f1 "$work/counter")" -gt "${before%% *}" ]; do
    tries=$((tries + 1)); [ $tries -le 100 ] || break; sleep 0.1  # bounded poll
done
kill -0 "$target" 2>/dev/null || fail "the restored process is not running"
after=$(cat "$work/counter")
echo "before dump: $before; after restore: $after"
[ "${before#* }" = "${after#* }" ] || fail "memory checksum changed: $before -> $after"
[ "${after%% *}" -gt "${before%% *}" ] || fail "the counter did not move on after restore"
grep -q "Restore finished successfully" "$work/restore/restore.log" || fail "CRIU did not report success"
echo "PASS: process migrated through img-proxyd and img-cached with its memory intact"
