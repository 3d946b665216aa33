#!/usr/bin/env bash
# Installs the system tools the local services need, only when they are missing:
# a JDK 17 and Maven (Kafka jars), Go >= 1.26 (versitygw, Mailpit), PostgreSQL's server,
# poppler-utils (pdftotext, pdfinfo, pdfimages, pdftoppm: the PDF report's tests read the PDF with them),
# and Debian's Chromium (with its driver) for the product page's browser tests: Playwright
# drives /usr/bin/chromium and never downloads a browser of its own.
# Python packages and the services themselves are installed by `make` / `skillmind`.
set -euo pipefail

missing=()
command -v java >/dev/null || [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ] || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v go >/dev/null || missing+=(golang-go)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]} — install them (sudo apt-get install -y ${missing[*]}) and re-run." >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian's postgresql package starts a system cluster on 5432; ours runs on its own port.
fi

# Debian's golang-go may be older than Mailpit v1.33.1 needs (its go.mod says Go 1.26; versitygw
# needs 1.25); say so now, clearly, rather than let `go install` try to download a toolchain.
if command -v go >/dev/null; then
  v=$(go env GOVERSION | sed 's/^go//')
  major=${v%%.*}; rest=${v#*.}; minor=${rest%%.*}
  if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 26 ]; }; then
    echo "Go $v is too old for Mailpit and the versitygw S3 server (need 1.26+); install a newer Go and re-run." >&2
    exit 1
  fi
fi
