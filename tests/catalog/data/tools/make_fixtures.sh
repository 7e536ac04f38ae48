#!/usr/bin/env bash
# Regenerate the SBOM fixtures in this folder with the tools users run.
#
# Scans projects/python-app (a venv of its requirements.txt) and projects/npm-app
# (its package.json, installed from the npm registry) and writes one SBOM per
# tool and format. Needs python3, node, npm and network access to PyPI and the
# npm registry. Tool versions are pinned; see README.md for what each file is.
#
#     tests/catalog/data/tools/make_fixtures.sh
set -euo pipefail

CYCLONEDX_BOM_VERSION=7.5.0
CDXGEN_VERSION=12.8.4

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- cyclonedx-py: the installed environment of a small Python project -----------
python3 -m venv "$work/tool"
"$work/tool/bin/pip" install --quiet "cyclonedx-bom==$CYCLONEDX_BOM_VERSION"
python3 -m venv "$work/app"
"$work/app/bin/pip" install --quiet --no-deps \
    -r "$here/projects/python-app/requirements.txt"
"$work/tool/bin/cyclonedx-py" environment --output-format JSON \
    --output-file "$here/cyclonedx-py.cdx.json" "$work/app/bin/python"

# --- npm: a copy of the project, installed, then scanned -------------------------
cp -R "$here/projects/npm-app" "$work/npm-app"
(
    cd "$work/npm-app"
    npm install --package-lock-only --ignore-scripts --no-audit --no-fund
    npm ci --ignore-scripts --no-audit --no-fund
    cp package-lock.json "$here/projects/npm-app/package-lock.json"
    npm sbom --sbom-format cyclonedx > "$here/npm-sbom.cdx.json"
    npm sbom --sbom-format spdx > "$here/npm-sbom.spdx.json"
)

# --- cdxgen: its default (CycloneDX 1.7) and --spec-version 1.6 ------------------
npm install --prefix "$work/cdxgen" --ignore-scripts --no-audit --no-fund \
    "@cyclonedx/cdxgen@$CDXGEN_VERSION"
cdxgen="$work/cdxgen/node_modules/.bin/cdxgen"
(
    cd "$work/npm-app"
    CDXGEN_TELEMETRY=false FETCH_LICENSE=false "$cdxgen" -t npm --no-install-deps \
        -o "$here/cdxgen.cdx.json" .
    CDXGEN_TELEMETRY=false FETCH_LICENSE=false "$cdxgen" -t npm --no-install-deps \
        --spec-version 1.6 -o "$here/cdxgen-1.6.cdx.json" .
)

echo "Tool versions:"
"$work/tool/bin/cyclonedx-py" --version
echo "npm $(npm --version), node $(node --version)"
echo "cdxgen $("$cdxgen" --version)"
