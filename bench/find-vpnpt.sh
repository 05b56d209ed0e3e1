# bench/find-vpnpt.sh: sourced by the shell benchmarks. find_vpnpt NAME [BUILD]
# sets $vpnpt to the controller of BUILD (else build-bn/ or build/ of this
# checkout); exit 2 if there is none, 4 (skip) without root.
find_vpnpt() {
  local name=$1 build=${2:-} here d
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ -z $build ]]; then
    for d in "$here/build-bn" "$here/build"; do [[ -x $d/vpnpt ]] && { build=$d; break; }; done
  fi
  vpnpt=$(cd "${build:-.}" 2>/dev/null && pwd)/vpnpt
  [[ -x $vpnpt ]] || { echo "$name: no vpnpt binary in '${build:-}' (build first, or pass the build dir)" >&2; exit 2; }
  if [[ $(id -u) != 0 ]]; then echo "SKIP: $name needs root (network namespaces)"; exit 4; fi
}
