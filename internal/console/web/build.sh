#!/bin/sh
# Copies the pinned uPlot from node_modules into the embedded folder.
# Run after a version change in package.json: npm install && npm run build
# (TestVendoredUPlot checks the committed copy matches package.json).
set -eu
cd "$(dirname "$0")"
[ -d node_modules/uplot ] || npm install --no-audit --no-fund
mkdir -p ../dist/vendor
cp node_modules/uplot/dist/uPlot.iife.min.js ../dist/vendor/uPlot.iife.min.js
cp node_modules/uplot/dist/uPlot.min.css ../dist/vendor/uPlot.min.css
cp node_modules/uplot/LICENSE ../dist/vendor/uPlot.LICENSE
node -e 'const p=require("./node_modules/uplot/package.json");require("fs").writeFileSync("../dist/vendor/uPlot.version",p.version+"\n")'
echo "vendored uPlot $(cat ../dist/vendor/uPlot.version)"
