#!/usr/bin/env node
// Compiles contracts/src/*.sol with the pinned npm solc (standard-JSON input, evmVersion pinned)
// and writes one artifact per contract to contracts/artifacts/<Name>.json (ABI + bytecode).
//   node contracts/compile.js           write the artifacts
//   node contracts/compile.js --check   exit 1 when the committed artifacts differ from the sources
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const SOLC_VERSION = '0.8.30+commit.73712a01.Emscripten.clang';
const EVM_VERSION = 'prague'; // py-evm (eth-tester 0.13.0b1) runs Prague; anvil 1.7 too
const CONTRACTS = ['FundLock', 'Ledger', 'TestToken'];

const root = __dirname;
const srcDir = path.join(root, 'src');
const outDir = path.join(root, 'artifacts');

function main() {
  const check = process.argv.includes('--check');
  if (solc.version() !== SOLC_VERSION) {
    fail(`solc ${solc.version()} found, ${SOLC_VERSION} pinned (run npm ci)`);
  }
  const sources = {};
  for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
    sources[`src/${f}`] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
  }
  const settings = {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  };
  const input = { language: 'Solidity', sources, settings };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length) fail(`${errors.length} compile error(s)`);

  const artifacts = {};
  for (const name of CONTRACTS) {
    const file = `src/${name}.sol`;
    const c = output.contracts[file] && output.contracts[file][name];
    if (!c) fail(`contract ${name} not found in ${file}`);
    artifacts[name] = JSON.stringify({
      contractName: name,
      sourceName: `contracts/${file}`,
      compiler: { name: 'solc', version: solc.version(), settings: { evmVersion: EVM_VERSION,
        optimizer: settings.optimizer, metadata: settings.metadata } },
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    }, null, 2) + '\n';
  }
  if (check) {
    const stale = [];
    for (const [name, text] of Object.entries(artifacts)) {
      const p = path.join(outDir, `${name}.json`);
      if (!fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text) stale.push(name);
    }
    if (stale.length) {
      fail(`artifacts differ from the sources: ${stale.join(', ')} (run: node contracts/compile.js)`);
    }
    console.log(`artifacts up to date (${Object.keys(artifacts).length} contracts, solc ${solc.version()}, evm ${EVM_VERSION})`);
    return;
  }
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(artifacts)) {
    fs.writeFileSync(path.join(outDir, `${name}.json`), text);
  }
  console.log(`wrote ${Object.keys(artifacts).length} artifacts to contracts/artifacts (solc ${solc.version()}, evm ${EVM_VERSION})`);
}

function fail(msg) {
  process.stderr.write(`compile: ${msg}\n`);
  process.exit(1);
}

main();
