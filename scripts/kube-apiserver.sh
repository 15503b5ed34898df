#!/usr/bin/env bash
# Runs a command against a real Kubernetes API server on loopback, for the
# chart's tests: etcd and kube-apiserver (and kubectl) built from the Go module
# proxy at the versions scripts/kube/go.mod pins, credentials generated for this
# run only, and KUBECONFIG pointing at an admin in system:masters. There is no
# scheduler, controller-manager or kubelet: the server validates, admits and
# stores objects, and no pod ever runs.
#
# Usage: bash scripts/kube-apiserver.sh COMMAND [ARG]...   (COMMAND gets KUBECONFIG, and kubectl on PATH)
#        bash scripts/kube-apiserver.sh --build            (only build the binaries)
#
# Nothing prebuilt is downloaded. The binaries are cached in
# ${XDG_CACHE_HOME:-~/.cache}/rotatord-ci/kube-VERSION-HASH/bin; the first build took 4 min 50 s and
# 3 GB of Go build cache on 2 cores (2.35 GB peak memory, the API server's link); later runs reuse them.
# On exit the API server is stopped before etcd: the other way round its graceful shutdown waits on etcd.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mod=$root/scripts/kube
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2 }' "$mod/go.mod")
[ -n "$version" ] || { echo "kube-apiserver.sh: no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 1; }
minor=${version#v1.}
minor=${minor%%.*}
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
# The cache key covers the pins and the flags, so a changed go.sum or flag is a new build.
key=$(cat "$mod/go.mod" "$mod/go.sum" <(echo "$ldflags") | sha256sum | cut -c1-12)
bin=${XDG_CACHE_HOME:-$HOME/.cache}/rotatord-ci/kube-$version-$key/bin

built() { [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ]; }

build() {
	built && return
	mkdir -p "$(dirname "$bin")"
	# A build already under way (.ci/run starts one early, in the background) is waited for, not repeated.
	exec 9>"$bin.lock"
	flock 9
	built && return
	echo "building kube-apiserver, kubectl and etcd $version from the Go module proxy (first time only)..."
	local start partial
	start=$(date +%s)
	partial=$bin.partial
	rm -rf "$partial"
	mkdir -p "$partial"
	# One go build for all three shares the compile of every package they have in common.
	(cd "$mod" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath -ldflags "$ldflags" -o "$partial/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3)
	mv "$partial/server" "$partial/etcd" # etcd's main package is its server module's root, named server
	echo "$("$partial/kube-apiserver" --version), etcd $("$partial/etcd" --version | awk '/etcd Version/ { print $3 }'):" \
		"built in $(($(date +%s) - start)) s on $(date -u +%FT%TZ)" >"$partial/BUILT"
	rm -rf "$bin"
	mv "$partial" "$bin"
	cat "$bin/BUILT"
}

build
[ "${1:-}" = --build ] && exit 0
echo "using $bin: $(cat "$bin/BUILT")"
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG]... | --build" >&2; exit 2; }

dir=$(mktemp -d)
etcd_pid="" apiserver_pid=""
stop() {
	local rc=$?
	# API server first: it drains its watches and requests against a live etcd.
	for pid in $apiserver_pid $etcd_pid; do
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" != 0 ]; then
		for log in apiserver etcd; do
			[ -s "$dir/$log.log" ] && { echo "--- last lines of $log.log" >&2; tail -20 "$dir/$log.log" >&2; }
		done
	fi
	rm -rf "$dir"
	exit "$rc"
}
trap stop EXIT
trap 'exit 130' INT TERM

# A loopback port nothing listens on. Another process may still take it before
# the server binds; the server then fails to start and says so in its log.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
	done
}
etcd_port=$(free_port)
peer_port=$(free_port)
api_port=$(free_port)

# Credentials for this run only: a CA and the server's certificate for 127.0.0.1,
# the service-account signing key, and an admin token.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=rotatord-test-ca \
	-keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
	-extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n') \
	-out "$dir/server.crt" 2>/dev/null
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
token=$(openssl rand -hex 32)
printf '%s,admin,admin,system:masters\n' "$token" >"$dir/tokens.csv"

"$bin/etcd" --name test --data-dir "$dir/etcd" --log-level warn --unsafe-no-fsync \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
	--initial-cluster "test=http://127.0.0.1:$peer_port" >"$dir/etcd.log" 2>&1 &
etcd_pid=$!

# --endpoint-reconciler-type=none: the default reconciler refuses 127.0.0.1 as
# an advertise address. ServiceAccount admission is off because no controller
# creates the namespaces' default accounts.
"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
	--tls-cert-file "$dir/server.crt" --tls-private-key-file "$dir/server.key" --cert-dir "$dir/certs" \
	--token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
	--service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
	--disable-admission-plugins ServiceAccount --profiling=false >"$dir/apiserver.log" 2>&1 &
apiserver_pid=$!

# Written here rather than with kubectl config, which would put the token in argv.
export KUBECONFIG=$dir/kubeconfig
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: "https://127.0.0.1:$api_port", certificate-authority-data: $(base64 -w0 "$dir/ca.crt")}
users:
  - name: admin
    user: {token: $token}
contexts:
  - name: test
    context: {cluster: test, user: admin}
current-context: test
EOF
chmod 600 "$KUBECONFIG"

for i in $(seq 1 600); do
	"$bin/kubectl" get --raw /readyz >/dev/null 2>&1 && break
	for pid in $etcd_pid $apiserver_pid; do
		kill -0 "$pid" 2>/dev/null || { echo "kube-apiserver.sh: a server exited while starting" >&2; exit 1; }
	done
	[ "$i" = 600 ] && { echo "kube-apiserver.sh: /readyz not ok after 60 s" >&2; exit 1; }
	sleep 0.1
done
echo "kube-apiserver $version ready on https://127.0.0.1:$api_port after $((i / 10)).$((i % 10)) s"

PATH=$bin:$PATH "$@"
