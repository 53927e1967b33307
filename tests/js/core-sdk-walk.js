// core-sdk, unmodified, against the twin: its own reads (the known offer, the
// buyer's exchanges, the seller's funds, the subgraph's block) and its own
// writes (commit, redeem, complete) through the twin's JSON-RPC, waiting for the
// subgraph to index each write as core-sdk's helper does.
// Usage: BUYER_KEY=0x... node core-sdk-walk.js BASE_URL DIAMOND OFFER_ID
// Prints one JSON line with what core-sdk returned.
"use strict";
const { CoreSDK } = require("@bosonprotocol/core-sdk");
const { EthersAdapter } = require("@bosonprotocol/ethers-sdk");
const { providers, Wallet } = require("ethers");

async function main() {
  const [base, diamond, offerId] = process.argv.slice(2);
  const provider = new providers.StaticJsonRpcProvider(`${base}/rpc`, 31337);
  provider.pollingInterval = 100;
  const wallet = new Wallet(process.env.BUYER_KEY, provider);
  const sdk = new CoreSDK({
    web3Lib: new EthersAdapter(provider, wallet),
    subgraphUrl: `${base}/subgraphs/name/boson/corecomponents`,
    protocolDiamond: diamond,
    chainId: 31337,
  });
  const offer = await sdk.getOfferById(offerId);
  const commit = await sdk.commitToOffer(offerId);
  const receipt = await commit.wait();
  await sdk.waitForGraphNodeIndexing(receipt);
  const exchangeId = sdk.getCommittedExchangeIdFromLogs(receipt.logs);
  const committed = await sdk.getExchangeById(exchangeId);
  await sdk.waitForGraphNodeIndexing(await (await sdk.redeemVoucher(exchangeId)).wait());
  await sdk.waitForGraphNodeIndexing(await (await sdk.completeExchange(exchangeId)).wait());
  const mine = await sdk.getExchanges({ exchangesFilter: { buyer: committed.buyer.id } });
  const funds = await sdk.getFunds({ fundsFilter: { accountId: offer.sellerId } });
  console.log(JSON.stringify({
    offer: { id: offer.id, price: offer.price, sellerId: offer.sellerId, voided: offer.voided },
    exchangeId: String(exchangeId),
    committedState: committed.state,
    exchanges: mine.map((x) => ({ id: x.id, state: x.state, offer: x.offer.id })),
    funds: funds.map((f) => ({ id: f.id, availableAmount: f.availableAmount, token: f.token.symbol })),
    subgraphBlock: await sdk.getSubgraphBlockNumber(),
  }));
}
main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
