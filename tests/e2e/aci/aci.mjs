// Drives berth's ACI-compatible API with the real Azure SDK (@azure/arm-containerinstance), as a
// program written for Azure Container Instances would: a static bearer token (a berth host key),
// the listener's https endpoint, NODE_EXTRA_CA_CERTS set by the caller to berth's certificate.
// Usage: node aci.mjs ENDPOINT TOKEN SUBSCRIPTION. Prints one JSON summary line (the C++ test
// checks it); exits non-zero on the first unexpected answer.
import assert from "node:assert/strict";
import aci from "@azure/arm-containerinstance";

const { ContainerInstanceManagementClient } = aci;
const [endpoint, token, subscription] = process.argv.slice(2);
const rg = "batch-rg";

function client(bearer) {
  const credential = {
    getToken: async () => ({ token: bearer, expiresOnTimestamp: Date.now() + 3600 * 1000 }),
  };
  return new ContainerInstanceManagementClient(credential, subscription, { endpoint });
}
const aciClient = client(token);
const groups = aciClient.containerGroups;

function group(command, extra = {}) {
  return {
    location: "local",
    tags: { pattern: "job" },
    osType: "Linux",
    restartPolicy: "Never",
    containers: [
      {
        name: "main",
        image: "busybox",
        command: ["/bin/sh", "-c", command],
        environmentVariables: [
          { name: "GREETING", value: "hello from aci" },
          { name: "TOKEN", secureValue: "s3cret-value" },
        ],
        resources: { requests: { cpu: 0.5, memoryInGB: 0.5 } },
      },
    ],
    ...extra,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// GETs the group until its instance view is in one of `states` (60 s at most).
async function waitState(name, states) {
  let g;
  for (let i = 0; i < 300; i++) {
    g = await groups.get(rg, name);
    if (states.includes(g.instanceView?.state)) return g;
    await sleep(200);
  }
  assert.fail(`${name}: still ${g?.instanceView?.state} (wanted ${states})`);
}

// The RestError of `promise` as {status, code, message}; fails when it does not throw.
async function armError(promise) {
  try {
    await promise;
  } catch (e) {
    return { status: e.statusCode, code: e.code, message: e.message };
  }
  assert.fail("expected an ARM error");
}

const summary = {};
const opts = { updateIntervalInMs: 250 };

// The pattern: create the group (a long-running operation), poll it, read its logs.
const created = await groups.beginCreateOrUpdateAndWait(
  rg, "hello", group('echo "$GREETING"; echo "token has ${#TOKEN} chars"'), opts);
summary.created = {
  name: created.name,
  id: created.id,
  type: created.type,
  provisioningState: created.provisioningState,
  tags: created.tags,
};
const hello = await waitState("hello", ["Succeeded", "Failed"]);
const helloView = hello.containers[0].instanceView;
summary.hello = {
  state: hello.instanceView.state,
  exitCode: helloView.currentState.exitCode,
  currentState: helloView.currentState.state,
  startTime: helloView.currentState.startTime instanceof Date,
  finishTime: helloView.currentState.finishTime instanceof Date,
  restartCount: helloView.restartCount,
  env: hello.containers[0].environmentVariables,
};
summary.logs = (await aciClient.containers.listLogs(rg, "hello", "main")).content;
summary.tail = (await aciClient.containers.listLogs(rg, "hello", "main", { tail: 1 })).content;

// The same spec again answers the group as it is.
const again = await groups.beginCreateOrUpdateAndWait(
  rg, "hello", group('echo "$GREETING"; echo "token has ${#TOKEN} chars"'), opts);
summary.againState = again.instanceView?.state;

// A failing container: its exit code.
await groups.beginCreateOrUpdateAndWait(rg, "fails", group("echo failing; exit 3"), opts);
const fails = await waitState("fails", ["Succeeded", "Failed"]);
summary.fails = {
  state: fails.instanceView.state,
  exitCode: fails.containers[0].instanceView.currentState.exitCode,
};

// Listings.
summary.listRg = [];
for await (const g of groups.listByResourceGroup(rg)) summary.listRg.push(g.name);
summary.listSub = [];
for await (const g of groups.list()) summary.listSub.push(g.name);

// Stop a running group, then delete it: the name is free again.
await groups.beginCreateOrUpdateAndWait(rg, "sleeper", group("echo up; sleep 300"), opts);
await waitState("sleeper", ["Running"]);
summary.conflict = await armError(
  groups.beginCreateOrUpdateAndWait(rg, "sleeper", group("sleep 5"), opts));
await groups.stop(rg, "sleeper");
summary.stopped = (await waitState("sleeper", ["Stopped"])).instanceView.state;
await groups.beginDeleteAndWait(rg, "sleeper", opts);
summary.afterDelete = await armError(groups.get(rg, "sleeper"));
summary.listAfterDelete = [];
for await (const g of groups.listByResourceGroup(rg)) summary.listAfterDelete.push(g.name);

// What berth cannot do: ARM errors, nothing created.
const twoContainers = group("true");
twoContainers.containers.push({ ...twoContainers.containers[0], name: "second" });
summary.unsupported = {
  always: await armError(groups.beginCreateOrUpdateAndWait(
    rg, "bad1", group("true", { restartPolicy: "Always" }), opts)),
  windows: await armError(groups.beginCreateOrUpdateAndWait(
    rg, "bad2", group("true", { osType: "Windows" }), opts)),
  twoContainers: await armError(groups.beginCreateOrUpdateAndWait(rg, "bad3", twoContainers, opts)),
  volumes: await armError(groups.beginCreateOrUpdateAndWait(
    rg, "bad4", group("true", { volumes: [{ name: "v", emptyDir: {} }] }), opts)),
  publicIp: await armError(groups.beginCreateOrUpdateAndWait(
    rg, "bad5", group("true", { ipAddress: { type: "Public", ports: [{ port: 80 }] } }), opts)),
  missing: await armError(groups.get(rg, "nosuch")),
};
summary.unauthorized = await armError(client("not-a-key").containerGroups.get(rg, "hello"));

console.log(JSON.stringify(summary));
