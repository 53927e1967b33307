// Checks the twin's ABI against @bosonprotocol/common's published ABIs.
// Usage: node abi-check.js twin-abi.json
// twin-abi.json: {"functions":[sig...], "events":[sig...], "errors":[sig...],
//                 "absent":[sig...]}: every signature must be declared, with the
// same canonical form (so the same selector or topic), in some ABI of the
// package; those in "absent" are the twin's own (not shipped by the package)
// and must indeed be absent. Prints one JSON line with what it compared.
"use strict";
const fs = require("fs");
const path = require("path");
const { utils } = require("ethers");

const twin = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const dir = path.join(path.dirname(require.resolve("@bosonprotocol/common/package.json")), "src", "abis");
const known = { function: new Map(), event: new Map(), error: new Map() };
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
  const raw = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  const abi = Array.isArray(raw) ? raw : raw.abi;
  const iface = new utils.Interface(abi);
  for (const f of Object.values(iface.functions)) known.function.set(f.format(), iface.getSighash(f));
  for (const e of Object.values(iface.events)) known.event.set(e.format(), iface.getEventTopic(e));
  for (const e of Object.values(iface.errors)) known.error.set(e.format(), iface.getSighash(e));
}
const problems = [];
const checked = { functions: 0, events: 0, errors: 0 };
const absent = new Set(twin.absent || []);
for (const [kind, list] of [["function", twin.functions], ["event", twin.events], ["error", twin.errors]]) {
  for (const { signature, selector } of list) {
    const theirs = known[kind].get(signature);
    if (absent.has(signature)) {
      if (theirs) problems.push(`${kind} ${signature} is listed as the twin's own but the package declares it`);
      continue;
    }
    if (!theirs) problems.push(`${kind} ${signature}: not in @bosonprotocol/common`);
    else if (theirs.toLowerCase() !== selector.toLowerCase())
      problems.push(`${kind} ${signature}: package ${theirs}, twin ${selector}`);
    checked[kind + "s"] += 1;
  }
}
const version = require("@bosonprotocol/common/package.json").version;
console.log(JSON.stringify({ package: version, checked, problems }));
process.exit(problems.length ? 1 : 0);
