// Walks the known offer through commit, redeem and complete with ethers v5 and
// the ABIs from @bosonprotocol/common, against any JSON-RPC URL.
// Usage: BUYER_KEY=0x... node ethers-walk.js RPC_URL DIAMOND OFFER_ID
// Prints one JSON line: the exchange id decoded from the BuyerCommitted log, the
// blocks of the three receipts, and the exchange state read back.
"use strict";
const { ethers } = require("ethers");
const load = (name) => {
  const raw = require(`@bosonprotocol/common/src/abis/${name}.json`);
  return Array.isArray(raw) ? raw : raw.abi;
};

async function main() {
  const [url, diamond, offerId] = process.argv.slice(2);
  const provider = new ethers.providers.StaticJsonRpcProvider(url, 31337);
  provider.pollingInterval = 100;
  const wallet = new ethers.Wallet(process.env.BUYER_KEY, provider);
  const commitHandler = new ethers.Contract(diamond, load("IBosonExchangeCommitHandler"), wallet);
  const exchangeHandler = new ethers.Contract(diamond, load("IBosonExchangeHandler"), wallet);
  const offerHandler = new ethers.Contract(diamond, load("IBosonOfferHandler"), wallet);

  const [exists, offer] = await offerHandler.getOffer(offerId);
  if (!exists) throw new Error(`offer ${offerId} does not exist`);
  const tx = await commitHandler.commitToOffer(wallet.address, offerId, { value: offer.price });
  const receipt = await tx.wait();
  const committed = receipt.logs
    .map((l) => { try { return commitHandler.interface.parseLog(l); } catch { return null; } })
    .find((e) => e && e.name === "BuyerCommitted");
  if (!committed) throw new Error("no BuyerCommitted log in the receipt");
  const exchangeId = committed.args.exchangeId;
  const redeem = await (await exchangeHandler.redeemVoucher(exchangeId)).wait();
  const complete = await (await exchangeHandler.completeExchange(exchangeId)).wait();
  const [, state] = await exchangeHandler.getExchangeState(exchangeId);
  let reverted = null;
  try {
    await exchangeHandler.callStatic.redeemVoucher(exchangeId);
  } catch (e) {
    reverted = e.errorName || e.reason || (e.error && e.error.message) || String(e.message).slice(0, 80);
  }
  console.log(JSON.stringify({
    exchangeId: exchangeId.toString(),
    blocks: [receipt.blockNumber, redeem.blockNumber, complete.blockNumber],
    statuses: [receipt.status, redeem.status, complete.status],
    state,
    redeemAgain: reverted,
  }));
}
main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
