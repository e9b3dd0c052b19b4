# shellcheck shell=bash
# Shared by the scripts/bench-* scripts; sourced, not run. The caller has
# `set -euo pipefail` and its working directory at the repository's root.
#
# Functions (each says what it sets):
#   step, number, whole, bench_build, bench_guests, bench_workdir, bench_cleanup,
#   bench_track/bench_untrack (processes ended on exit), bench_init, bench_serve,
#   bench_clients, measurement, field, cpu_ticks, bench_load, machine_line, data_fs,
#   machine, release_configure, release_setup, release_prepare.
# The caller sets seconds and warmup (bench_load) and attestations (release_*), and may
# set server_run and load_run (commands that `kastell serve` and kastell-load run under,
# e.g. `taskset -c 1` to pin them to a core, or valgrind; empty by default) and
# serve_wait (how many seconds bench_serve waits for the server; default 30). It reads
# the variables these functions set:
# shellcheck disable=SC2034,SC2154

target=${CARGO_TARGET_DIR:-target}
[[ $target == /* ]] || target=$PWD/$target # absolute (relative to the repository's root)

step() { printf '\n== %s\n' "$*" >&2; }

number() { # name, value, max: a whole number in 1..=max, or exit 2
    if ! [[ $2 =~ ^[1-9][0-9]{0,8}$ ]] || (($2 > $3)); then
        echo "$1 must be a whole number in 1..=$3, not \`$2\`" >&2
        exit 2
    fi
}

whole() { # name, value: a whole number (0 allowed) of at most 600, or exit 2
    if ! [[ $2 =~ ^(0|[1-9][0-9]{0,8})$ ]] || (($2 > 600)); then
        echo "$1 must be a whole number in 0..=600, not \`$2\`" >&2
        exit 2
    fi
}

# The wasm32-wasip2 target, the guest components and the release binaries (kastell,
# kastell-load and the extra `--bin`s given). Sets kastell, load, guests. With
# BENCH_BIN_DIR, kastell and kastell-load are taken from that directory instead (an earlier
# build kept for an A/B comparison) and nothing is built.
bench_build() {
    if [[ -n ${BENCH_BIN_DIR:-} ]]; then
        step "kastell and kastell-load from $BENCH_BIN_DIR (BENCH_BIN_DIR)"
        kastell=$BENCH_BIN_DIR/kastell
        load=$BENCH_BIN_DIR/kastell-load
        guests=$target/wasm32-wasip2/guest
        [[ -x $kastell && -x $load ]] || {
            echo "BENCH_BIN_DIR=$BENCH_BIN_DIR has no executable kastell and kastell-load" >&2
            exit 1
        }
        return
    fi
    step "wasm32-wasip2 target, guest components, release build"
    rustup target add wasm32-wasip2
    ./scripts/build-guests
    cargo build --locked --release -p kastell -p kastell-tests \
        --bin kastell --bin kastell-load "$@"
    kastell=$target/release/kastell
    load=$target/release/kastell-load
    guests=$target/wasm32-wasip2/guest
}

bench_guests() { # the guest components (file stems) that must have been built
    local guest
    for guest in "$@"; do
        [[ -f $guests/$guest.wasm ]] || {
            echo "scripts/build-guests did not build $guests/$guest.wasm" >&2
            exit 1
        }
    done
}

# Processes to end on exit, ended last-started first.
bench_pids=()
bench_track() { bench_pids+=("$1"); }
bench_untrack() { # a tracked process that ended (and was waited for)
    local kept=() pid
    for pid in ${bench_pids[@]+"${bench_pids[@]}"}; do
        [[ $pid == "$1" ]] || kept+=("$pid")
    done
    bench_pids=(${kept[@]+"${kept[@]}"})
}

work=
# shellcheck disable=SC2317 # reached through the EXIT trap
bench_cleanup() {
    local i
    for ((i = ${#bench_pids[@]} - 1; i >= 0; i--)); do
        kill "${bench_pids[i]}" 2>/dev/null || true
        wait "${bench_pids[i]}" 2>/dev/null || true
    done
    bench_pids=()
    [[ -n $work ]] || return 0
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "deployment kept in $work" >&2
    else
        rm -rf "$work"
    fi
    work=
}

# A fresh directory NAME.XXXXXX under ${BENCH_DIR:-target/bench} (the real disk by
# default: audit records are fsynced), removed on exit unless BENCH_KEEP=1. Sets work,
# data (the deployment's directory inside it) and the EXIT trap.
bench_workdir() {
    local base=${BENCH_DIR:-$target/bench}
    mkdir -p "$base"
    work=$(cd "$(mktemp -d "$base/$1.XXXXXX")" && pwd)
    data=$work/data
    trap bench_cleanup EXIT
}

# `kastell init` (soft token, audit on) in $data. Sets config, officer.
bench_init() {
    "$kastell" init --org "Bench GmbH" --country DE --data-dir "$data" >"$work/init.log"
    config=$data/kastell.toml
    officer=$data/clients/officer/profile.toml
    [[ -f $config && -f $officer ]] || {
        echo "kastell init did not write $config and $officer" >&2
        cat "$work/init.log" >&2
        exit 1
    }
}

server_run=()
load_run=()
serve_wait=30

# `kastell serve` (under ${server_run[@]}) on a free loopback port, waiting for its
# "kastell listening on …" line (at most $serve_wait s). Sets server_pid, port, url.
bench_serve() {
    step "kastell serve${server_run[*]:+ under ${server_run[*]}}"
    ${server_run[@]+"${server_run[@]}"} "$kastell" serve --config "$config" \
        --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
    server_pid=$!
    bench_track "$server_pid"
    port=
    local line
    for _ in $(seq 1 $((serve_wait * 10))); do
        # Log lines (on standard error, in the same file) may come first.
        line=$(grep -m 1 '^kastell listening on ' "$work/serve.log" 2>/dev/null || true)
        if [[ $line =~ ^kastell\ listening\ on\ https://127\.0\.0\.1:([0-9]+)$ ]]; then
            port=${BASH_REMATCH[1]}
            break
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [[ -z $port ]]; then
        echo "kastell serve did not start:" >&2
        cat "$work/serve.log" >&2
        exit 1
    fi
    url=https://127.0.0.1:$port
    echo "listening on $url" >&2
}

# Points the officer's profile at the server and issues the crypto-user client `bench`
# of tenant `acme` (mutual TLS). Sets bench (its profile).
bench_clients() {
    sed -i "s|^server = .*|server = \"$url\"|" "$officer"
    "$kastell" ca issue-client --principal bench --role crypto-user --tenant acme \
        --out-dir "$data/clients/bench" --server-url "$url" --config "$config" >/dev/null
    bench=$data/clients/bench/profile.toml
}

measurement() { # the first sha384:… measurement on standard input (what a push prints)
    grep -o 'sha384:[0-9a-f]*' | head -n 1 || true
}

field() { # name, JSON: a number field of kastell-load's --json output (empty if absent)
    grep -o "\"$1\":[0-9.e+-]*" <<<"$2" | head -n 1 | cut -d: -f2 || true
}

cpu_ticks() { # pid: the process's CPU time so far (user + system, all threads), in ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# kastell-load (under ${load_run[@]}) with the run's settings and --json; the arguments
# are the endpoint's (--url, --profile or --header, --body…) and --connections. Leaves
# its JSON in $out, echoes it to standard error, and sets failed=1 when a request failed
# or the run did not start.
out=
failed=0
bench_load() {
    local status=0
    out=$(${load_run[@]+"${load_run[@]}"} "$load" --duration "$seconds" --warmup "$warmup" \
        --json "$@") || status=$?
    echo "$out" >&2
    if ((status != 0)); then
        failed=1
    fi
}

machine_line() { # the date and the machine, one line
    local cpu
    cpu=$(grep -m 1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Machine: $(nproc) CPU, $cpu, Linux $(uname -r)."
}

data_fs() { # the file system of the deployment's data directory (or its nearest parent)
    local fs dir=$data
    while [[ ! -e $dir && $dir != / && $dir != . ]]; do
        dir=$(dirname "$dir")
    done
    fs=$(findmnt -n -o FSTYPE -T "$dir" 2>/dev/null | tail -n 1 || true)
    echo "${fs:-unknown}"
}

machine() { # date, machine, and the data directory's file system (the line ends "audit on;")
    machine_line
    echo "Server and load generator on the same machine; data directory on $(data_fs); audit on;"
}

# Attested release, before `kastell serve`: a bench CA (kastell-attestations init) in
# $work/bench-ca whose root goes into `[release] trusted_roots`, the limits of open
# challenges raised to what one client may prepare (100,000), with the challenge and
# attestation lifetimes raised to WINDOW seconds (bodies are prepared before the run).
release_configure() { # window
    local root
    root=$("$attestations" init --ca-dir "$work/bench-ca")
    if grep -q '^\[release\]' "$config"; then
        echo "$config has a [release] section already; this script writes its own" >&2
        exit 1
    fi
    cat >>"$config" <<EOF

[release]
trusted_roots = ["$root"]
challenge_ttl_secs = $1
max_attestation_age_secs = $1
# The one bench client prepares every release request ahead (at most 100,000 open).
challenges_per_client = 100000
max_challenges = 100000
EOF
}

# After `kastell serve`: examples/allow-measured pushed as a policy, examples/record-vault
# as a workload, and the releasable AES_256 key alias/bench-release bound to allow-measured
# with `allowed-guests` = the record-vault measurement. Sets policy, workload.
release_setup() {
    policy=$("$kastell" policy push "$guests/allow_measured.wasm" --profile "$officer" |
        measurement)
    workload=$("$kastell" workload push "$guests/record_vault.wasm" --profile "$officer" |
        measurement)
    [[ -n $policy && -n $workload ]] || { echo "policy or workload push failed" >&2; exit 1; }
    "$kastell" key create --spec AES_256 --policy "$policy" --alias alias/bench-release \
        --tag "allowed-guests=$workload" --releasable --profile "$officer" >/dev/null
}

# COUNT single-use release requests for alias/bench-release (challenge nonce + fresh
# attestation certificate + host CA chain) in $work/releases.jsonl, made with THREADS
# threads, valid WINDOW seconds. Sets prepared (what kastell-attestations printed).
release_prepare() { # count, threads, window
    step "$1 release requests (challenges, attestation certificates)"
    prepared=$("$attestations" prepare --ca-dir "$work/bench-ca" --profile "$bench" \
        --key alias/bench-release --guest "$workload" --count "$1" \
        --out "$work/releases.jsonl" --threads "$2" --lifetime "$3")
    echo "$prepared" >&2
}
