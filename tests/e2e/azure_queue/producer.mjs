// A Storage-queue producer and inspector for tests/e2e/azure_queue_test.cc, on the real
// @azure/storage-queue client (what a Functions app's producers use).
//   node producer.mjs put  CONNECTION QUEUE TEXT   puts TEXT as it is; prints {"messageId"}
//   node producer.mjs peek CONNECTION QUEUE        prints [{"messageText","dequeueCount"}] (≤ 32)
//   node producer.mjs sas  CONNECTION              prints a SharedAccessSignature connection
//                                                  string for the same account (queue service)
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, QueueServiceClient,
  StorageSharedKeyCredential, generateAccountSASQueryParameters,
} from "@azure/storage-queue";

const [cmd, connection, queue, text] = process.argv.slice(2);
const service = QueueServiceClient.fromConnectionString(connection);

async function main() {
  if (cmd === "put") {
    const q = service.getQueueClient(queue);
    await q.createIfNotExists();
    const r = await q.sendMessage(text);
    console.log(JSON.stringify({ messageId: r.messageId }));
  } else if (cmd === "peek") {
    const q = service.getQueueClient(queue);
    if (!(await q.exists())) return console.log("[]");
    const r = await q.peekMessages({ numberOfMessages: 32 });
    console.log(JSON.stringify(r.peekedMessageItems.map((m) => ({
      messageText: m.messageText, dequeueCount: m.dequeueCount }))));
  } else if (cmd === "sas") {
    const parts = Object.fromEntries(connection.split(";").filter(Boolean).map((p) => {
      const i = p.indexOf("=");
      return [p.slice(0, i), p.slice(i + 1)];
    }));
    const credential = new StorageSharedKeyCredential(parts.AccountName, parts.AccountKey);
    const sas = generateAccountSASQueryParameters({
      expiresOn: new Date(Date.now() + 3600 * 1000),
      permissions: AccountSASPermissions.parse("rwdlacup"),
      resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
      services: AccountSASServices.parse("q").toString(),
    }, credential).toString();
    console.log(`QueueEndpoint=${parts.QueueEndpoint};SharedAccessSignature=${sas}`);
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

main().catch((e) => {
  console.error(`producer: ${e.message}`);
  process.exit(1);
});
