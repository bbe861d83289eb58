#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Assembles the dashboard into OUT: our files from web/src plus uPlot from node_modules
# (installed by npm ci from the lock file). No bundler: the browser loads ES modules.
set -euo pipefail
out=$1
cd "$(dirname "$0")"
if [ ! -d node_modules/uplot ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error >&2
fi
rm -rf "$out"
mkdir -p "$out"
cp -r src/. "$out/"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$out/"
