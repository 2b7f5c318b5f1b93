#!/usr/bin/env bash
# Builds the upstream programs the test suite uses as oracles, from the modules pinned under
# tools/, into "$DRALLOC_K8S_HOME/bin" (default ~/.cache/dralloc/k8s-v1.36.3/bin):
#
#   kube-apiserver, kube-scheduler, kube-controller-manager, kubectl   tools/k8s (k8s.io/kubernetes)
#   scheduler_perf_dra.test   upstream scheduler_perf's DRA benchmarks  tools/k8s
#   etcd                                                              tools/etcd
#   dra-oracle   (only if tools/draoracle/go.mod exists)              tools/draoracle
#   kueue-oracle Kueue v0.17.0's cache and flavor assigner, ours over it tools/kueueoracle
#   kueue        Kueue's manager (sigs.k8s.io/kueue/cmd/kueue)          tools/kueue
#   crds/*.yaml  the JobSet, LeaderWorkerSet and Kueue CRDs (`go mod download`) tools/crds/modules.txt
#
# Usage: tools/build.sh            build what is missing or stale, check versions, write the stamp
#        tools/build.sh --verify   build nothing; fail unless every binary matches the stamp, the
#                                  stamp matches the pinned modules and every version is right
#
# A binary is stale when its module's go.mod or go.sum (and, for the oracles, their sources), the Go
# version or the build flags differ from what the stamp recorded when it was built. Each binary
# is written under a temporary name and renamed, so an interrupted build leaves nothing
# half-written. A component that fails to build is reported and the others are still built; the
# script then exits 1. Go's module and build caches stay at Go's defaults, so later runs on the
# same machine reuse them. Nothing built goes into the repository. A CRD is fetched again when
# its pinned module, hash or path changed, or its copy is not the one the stamp recorded.
set -euo pipefail

tools=$(cd "$(dirname "$0")" && pwd)
verify=0
case "${1:-}" in
    "") ;;
    --verify) verify=1 ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tools/build.sh: unknown argument $1 (expected --verify)" >&2; exit 2 ;;
esac

command -v go >/dev/null || { echo "tools/build.sh: go is not on PATH" >&2; exit 1; }

# -mod=mod lets go add a go.sum line a test-only import needs; -buildvcs=false keeps the binaries
# independent of the repository's git state.
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

k8s_version=$(cd "$tools/k8s" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(cd "$tools/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
kueue_version=$(cd "$tools/kueue" && go list -m -f '{{.Version}}' sigs.k8s.io/kueue)
home=${DRALLOC_K8S_HOME:-$HOME/.cache/dralloc/k8s-$k8s_version}
bin="$home/bin"
stamp="$home/stamp.json"
go_version=$(go version)
minor=${k8s_version#v1.}
minor=${minor%%.*}
version_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version"
version_ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
version_ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
version_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
version_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
k8s_flags="-trimpath -tags=notest,grpcnotrace -ldflags=-s -w $version_ldflags"
# `go test -c` is given no `notest` tag: the benchmark's own code needs it unset.
perf_flags=""
etcd_flags="-trimpath"
oracle_flags="-trimpath"
# Kueue's Makefile stamps its version the same way; the manager logs it when it starts.
kueue_flags="-trimpath -ldflags=-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$kueue_version"

has_oracle=0
[ -f "$tools/draoracle/go.mod" ] && has_oracle=1

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# The pinned CRDs: "module version h1-hash path" per line of tools/crds/modules.txt.
crd_pins() { grep -v '^#' "$tools/crds/modules.txt" | grep -v '^[[:space:]]*$' || true; }
crds="$home/crds"

# Fetches one pinned module with `go mod download` (into Go's module cache), checks its go.sum
# hash, and copies the CRD into "$crds" under a temporary name, then renames it.
fetch_crd() {
    local module=$1 version=$2 sum=$3 path=$4 info dir got file
    file=$(basename "$path")
    info=$(cd "$home" && go mod download -json "$module@$version") || return 1
    dir=$(echo "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    got=$(echo "$info" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
    if [ "$got" != "$sum" ]; then
        echo "$module@$version: go.sum hash $got, tools/crds/modules.txt pins $sum" >&2
        return 1
    fi
    [ -f "$dir/$path" ] || { echo "$module@$version has no $path" >&2; return 1; }
    rm -f "$crds/.$file.tmp"
    cp "$dir/$path" "$crds/.$file.tmp" && chmod 0644 "$crds/.$file.tmp" &&
        mv -f "$crds/.$file.tmp" "$crds/$file"
}

# The key a CRD was fetched for: its pin line, so a new version, hash or path makes it stale.
crd_key() { printf '%s\n' "$*" | sha256sum | cut -d' ' -f1; }

# What a module's binaries are built from: its go.mod and go.sum, plus its own Go sources when
# they are ours (the oracles). Upstream sources are fixed by go.sum.
inputs_of() {
    local dir="$tools/$1" own_sources=$2
    {
        echo "$go_version"
        echo "$GOFLAGS CGO_ENABLED=$CGO_ENABLED"
        sha256sum "$dir/go.mod" "$dir/go.sum" | sed "s#$tools/##"
        if [ "$own_sources" = 1 ]; then
            (cd "$dir" && find . -name '*.go' -type f | LC_ALL=C sort | xargs sha256sum)
        fi
    } | sha256sum | cut -d' ' -f1
}

components=(kube-apiserver kube-scheduler kube-controller-manager kubectl scheduler_perf_dra.test etcd)
[ "$has_oracle" = 1 ] && components+=(dra-oracle)
components+=(kueue-oracle kueue)

module_of() {
    case "$1" in
        etcd) echo etcd ;;
        dra-oracle) echo draoracle ;;
        kueue-oracle) echo kueueoracle ;;
        kueue) echo kueue ;;
        *) echo k8s ;;
    esac
}

flags_of() {
    case "$1" in
        etcd) echo "$etcd_flags" ;;
        dra-oracle | kueue-oracle) echo "$oracle_flags" ;;
        scheduler_perf_dra.test) echo "$perf_flags" ;;
        kueue) echo "$kueue_flags" ;;
        *) echo "$k8s_flags" ;;
    esac
}

# The key a binary was built for: everything that, changed, makes it stale.
key_of() {
    local c=$1 module own=0
    module=$(module_of "$c")
    case "$c" in dra-oracle | kueue-oracle) own=1 ;; esac
    printf '%s\n%s\n%s\n' "$(inputs_of "$module" "$own")" "$(flags_of "$c")" "$c" |
        sha256sum | cut -d' ' -f1
}

# Reads one binary's field from the stamp this script wrote (one binary per line).
stamped() {
    local c=$1 field=$2
    [ -f "$stamp" ] || return 0
    grep -F "\"$c\": {" "$stamp" | sed -n "s/.*\"$field\": \"\([^\"]*\)\".*/\1/p" || true
}

# Checks a built binary and prints the version line it reports; fails if it is not the pinned one.
check_version() {
    local c=$1 path=$2 out
    case "$c" in
        kube-apiserver | kube-scheduler | kube-controller-manager)
            out=$("$path" --version 2>&1) || true
            [ "$out" = "Kubernetes $k8s_version" ] || { echo "$c --version printed: $out" >&2; return 1; }
            ;;
        kubectl)
            out=$("$path" version --client 2>&1 | head -n1) || true
            [ "$out" = "Client Version: $k8s_version" ] ||
                { echo "kubectl version --client printed: $out" >&2; return 1; }
            ;;
        etcd)
            out=$("$path" --version 2>&1 | head -n1) || true
            [ "$out" = "etcd Version: ${etcd_version#v}" ] ||
                { echo "etcd --version printed: $out" >&2; return 1; }
            ;;
        scheduler_perf_dra.test)
            out=$("$path" -test.list '^BenchmarkPerfScheduling$' 2>&1) || true
            [ "$out" = BenchmarkPerfScheduling ] ||
                { echo "$c -test.list printed: $out" >&2; return 1; }
            out="lists BenchmarkPerfScheduling"
            ;;
        dra-oracle | kueue-oracle)
            [ -x "$path" ] || { echo "$c is not executable" >&2; return 1; }
            out="built"
            ;;
        kueue)
            # The manager has no --version flag: read the module versions Go recorded in it.
            out=$(go version -m "$path" 2>&1 | awk '($1 == "mod" || $1 == "dep") && $2 == "sigs.k8s.io/kueue" {print $3}')
            [ "$out" = "$kueue_version" ] ||
                { echo "kueue was built from sigs.k8s.io/kueue ${out:-(unknown)}, not $kueue_version" >&2; return 1; }
            out="sigs.k8s.io/kueue $out"
            ;;
    esac
    echo "$out"
}

build_one() {
    local c=$1 tmp="$bin/.$1.tmp"
    rm -f "$tmp"
    case "$c" in
        etcd)
            (cd "$tools/etcd" && go build $etcd_flags -o "$tmp" go.etcd.io/etcd/server/v3) ;;
        dra-oracle)
            (cd "$tools/draoracle" && go build $oracle_flags -o "$tmp" .) ;;
        kueue-oracle)
            (cd "$tools/kueueoracle" && go build $oracle_flags -o "$tmp" .) ;;
        kueue)
            (cd "$tools/kueue" && go build -trimpath \
                -ldflags="-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$kueue_version" \
                -o "$tmp" sigs.k8s.io/kueue/cmd/kueue) ;;
        scheduler_perf_dra.test)
            (cd "$tools/k8s" &&
                go test -c -o "$tmp" k8s.io/kubernetes/test/integration/scheduler_perf/dra) ;;
        *)
            (cd "$tools/k8s" && go build -trimpath -tags=notest,grpcnotrace \
                -ldflags="-s -w $version_ldflags" -o "$tmp" "k8s.io/kubernetes/cmd/$c") ;;
    esac && mv "$tmp" "$bin/$c"
}

go_sum_line() {
    local rel=$1
    if [ -f "$tools/$rel" ]; then
        printf '    "tools/%s": "%s"' "$rel" "$(sha256 "$tools/$rel")"
    else
        printf '    "tools/%s": null' "$rel"
    fi
}

json_escape() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

write_stamp() {
    local tmp="$stamp.tmp" c n=0
    {
        echo "{"
        echo "  \"kubernetes\": \"$k8s_version\","
        echo "  \"etcd\": \"${etcd_version#v}\","
        echo "  \"kueue\": \"$kueue_version\","
        echo "  \"go\": \"$(echo "$go_version" | json_escape)\","
        echo "  \"env\": \"GOTOOLCHAIN=$GOTOOLCHAIN GOFLAGS=$GOFLAGS CGO_ENABLED=$CGO_ENABLED\","
        echo "  \"flags\": {"
        echo "    \"k8s\": \"$(echo "$k8s_flags" | json_escape)\","
        echo "    \"scheduler_perf_dra.test\": \"$perf_flags\","
        echo "    \"etcd\": \"$etcd_flags\","
        echo "    \"dra-oracle\": \"$oracle_flags\","
        echo "    \"kueue\": \"$(echo "$kueue_flags" | json_escape)\""
        echo "  },"
        echo "  \"go_sum_sha256\": {"
        go_sum_line k8s/go.sum; echo ","
        go_sum_line etcd/go.sum; echo ","
        go_sum_line draoracle/go.sum; echo ","
        go_sum_line kueueoracle/go.sum; echo ","
        go_sum_line kueue/go.sum; echo
        echo "  },"
        echo "  \"binaries\": {"
        for c in "${components[@]}"; do
            [ -f "$bin/$c" ] || continue
            [ "$n" = 0 ] || echo ","
            n=$((n + 1))
            printf '    "%s": {"key": "%s", "sha256": "%s", "version": "%s", "build_seconds": "%s"}' \
                "$c" "${keys[$c]}" "$(sha256 "$bin/$c")" "$(echo "${versions[$c]}" | json_escape)" \
                "${seconds[$c]}"
        done
        echo
        echo "  },"
        echo "  \"crds\": {"
        n=0
        for f in "${!crd_keys[@]}"; do
            [ -f "$crds/$f" ] || continue
            [ "$n" = 0 ] || echo ","
            n=$((n + 1))
            printf '    "%s": {"key": "%s", "sha256": "%s", "version": "%s"}' \
                "$f" "${crd_keys[$f]}" "$(sha256 "$crds/$f")" "${crd_versions[$f]}"
        done
        echo
        echo "  }"
        echo "}"
    } >"$tmp"
    mv "$tmp" "$stamp"
}

declare -A keys versions seconds
for c in "${components[@]}"; do
    keys[$c]=$(key_of "$c")
done

if [ "$verify" = 1 ]; then
    problems=0
    [ -f "$stamp" ] || { echo "tools/build.sh --verify: no stamp at $stamp: run tools/build.sh" >&2; exit 1; }
    for rel in k8s/go.sum etcd/go.sum draoracle/go.sum kueueoracle/go.sum kueue/go.sum; do
        want=$(grep -F "\"tools/$rel\":" "$stamp" | sed -n 's/.*: "\([0-9a-f]*\)".*/\1/p' || true)
        have=""
        [ -f "$tools/$rel" ] && have=$(sha256 "$tools/$rel")
        if [ "$want" != "$have" ]; then
            echo "tools/$rel: sha256 ${have:-(absent)}, the stamp says ${want:-(absent)}" >&2
            problems=$((problems + 1))
        fi
    done
    for c in "${components[@]}"; do
        if [ ! -f "$bin/$c" ]; then
            echo "$c: missing from $bin" >&2; problems=$((problems + 1)); continue
        fi
        if [ "$(stamped "$c" key)" != "${keys[$c]}" ]; then
            echo "$c: stale (its module, Go or the build flags changed since it was built)" >&2
            problems=$((problems + 1))
        fi
        if [ "$(stamped "$c" sha256)" != "$(sha256 "$bin/$c")" ]; then
            echo "$c: the binary is not the one the stamp recorded" >&2
            problems=$((problems + 1))
        fi
        check_version "$c" "$bin/$c" >/dev/null || problems=$((problems + 1))
    done
    while read -r module version sum path; do
        file=$(basename "$path")
        if [ ! -f "$crds/$file" ]; then
            echo "$file: missing from $crds" >&2; problems=$((problems + 1)); continue
        fi
        if [ "$(stamped "$file" key)" != "$(crd_key "$module" "$version" "$sum" "$path")" ]; then
            echo "$file: stale (tools/crds/modules.txt pins another module, hash or path)" >&2
            problems=$((problems + 1))
        fi
        if [ "$(stamped "$file" sha256)" != "$(sha256 "$crds/$file")" ]; then
            echo "$file: not the copy the stamp recorded" >&2
            problems=$((problems + 1))
        fi
    done < <(crd_pins)
    if [ "$problems" != 0 ]; then
        echo "tools/build.sh --verify: $problems problem(s) in $home" >&2
        exit 1
    fi
    echo "tools/build.sh --verify: $home matches the stamp ($k8s_version, etcd ${etcd_version#v}, $(crd_pins | wc -l) CRDs)"
    exit 0
fi

mkdir -p "$bin"
[ "$has_oracle" = 1 ] || echo "tools/draoracle has no go.mod: dra-oracle is not built"
failed=()
for c in "${components[@]}"; do
    if [ -f "$bin/$c" ] && [ "$(stamped "$c" key)" = "${keys[$c]}" ] &&
        [ "$(stamped "$c" sha256)" = "$(sha256 "$bin/$c")" ]; then
        versions[$c]=$(stamped "$c" version)
        seconds[$c]=$(stamped "$c" build_seconds)
        echo "$c: up to date"
        continue
    fi
    echo "$c: building from tools/$(module_of "$c") ..."
    started=$SECONDS
    if build_one "$c" && versions[$c]=$(check_version "$c" "$bin/$c"); then
        seconds[$c]=$((SECONDS - started))
        echo "$c: built in ${seconds[$c]} s (${versions[$c]})"
    else
        echo "$c: FAILED after $((SECONDS - started)) s" >&2
        rm -f "$bin/$c" "$bin/.$c.tmp"
        failed+=("$c")
    fi
done
mkdir -p "$crds"
declare -A crd_keys crd_versions
while read -r module version sum path; do
    file=$(basename "$path")
    crd_keys[$file]=$(crd_key "$module" "$version" "$sum" "$path")
    crd_versions[$file]="$module@$version"
    if [ -f "$crds/$file" ] && [ "$(stamped "$file" key)" = "${crd_keys[$file]}" ] &&
        [ "$(stamped "$file" sha256)" = "$(sha256 "$crds/$file")" ]; then
        echo "$file: up to date ($module@$version)"
        continue
    fi
    if fetch_crd "$module" "$version" "$sum" "$path"; then
        echo "$file: copied from $module@$version"
    else
        echo "$file: FAILED to fetch from $module@$version" >&2
        rm -f "$crds/$file" "$crds/.$file.tmp"
        failed+=("$file")
    fi
done < <(crd_pins)
# `-mod=mod` may have added go.sum lines a test-only import needed: stamp what was built from.
for c in "${components[@]}"; do
    keys[$c]=$(key_of "$c")
done
write_stamp

if [ "${#failed[@]}" != 0 ]; then
    echo "tools/build.sh: failed to build: ${failed[*]} (the others are in $bin)" >&2
    exit 1
fi
echo "tools/build.sh: all in $bin, CRDs in $crds ($k8s_version, etcd ${etcd_version#v}; stamp: $stamp)"
