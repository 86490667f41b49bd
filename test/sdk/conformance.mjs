// Conformance: the official Linq TypeScript SDK (@linqapp/sdk, pinned in
// package.json) drives the Linegate Linq simulator. Run by
// internal/linqsim/sdk_conformance_test.go, which starts the simulator and
// passes:
//   LINQ_API_V3_BASE_URL  simulator base URL (the SDK reads it)
//   LINQ_API_V3_API_KEY   the simulator's API key (the SDK reads it)
//   LINQ_SIM_ADMIN_URL    base URL of the simulator's /_sim/ admin API
//   LINQ_SDK_IDEM_KEY     idempotency key used for the double send
// Exits non-zero on the first failed check.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import LinqAPIV3, {
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from '@linqapp/sdk';

const baseURL = process.env.LINQ_API_V3_BASE_URL;
const apiKey = process.env.LINQ_API_V3_API_KEY;
const adminURL = process.env.LINQ_SIM_ADMIN_URL ?? baseURL;
const idemKey = process.env.LINQ_SDK_IDEM_KEY ?? 'sdk-conformance-idem';
assert.ok(baseURL && apiKey, 'LINQ_API_V3_BASE_URL and LINQ_API_V3_API_KEY must be set');

// maxRetries 0: every answer reaches the script as the simulator gave it.
const client = new LinqAPIV3({ apiKey, baseURL, maxRetries: 0, timeout: 20_000 });

let passed = 0;
async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok ${passed} - ${name}`);
  } catch (err) {
    console.log(`not ok - ${name}`);
    console.error(err);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  }
}

function requireKeys(obj, keys, label) {
  for (const k of keys) {
    assert.ok(obj !== null && typeof obj === 'object' && k in obj, `${label}: missing ${k} in ${JSON.stringify(obj)}`);
  }
}

async function admin(method, path, body) {
  const res = await fetch(adminURL + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function expectError(promise, cls, status, code) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof cls, `want ${cls.name}, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, status);
    if (code !== undefined) {
      // The TS SDK keeps the whole body as err.error.
      requireKeys(err.error, ['error'], 'error body');
      requireKeys(err.error.error, ['code', 'message', 'doc_url'], 'error envelope');
      assert.equal(err.error.error.code, code);
    }
    return err;
  }
  assert.fail(`expected ${cls.name}`);
}

const text = (value) => ({ type: 'text', value });
let line;
let chat;

await step('list phone numbers', async () => {
  const res = await client.phoneNumbers.list();
  assert.ok(res.phone_numbers.length >= 2, 'need two seeded lines');
  for (const p of res.phone_numbers) {
    requireKeys(p, ['id', 'phone_number', 'reputation', 'health_status', 'forwarding_number'], 'phone number');
    assert.match(p.phone_number, /^\+[1-9]\d{6,14}$/);
    assert.ok(['HEALTHY', 'AT_RISK', 'CRITICAL'].includes(p.reputation.status));
    requireKeys(p.reputation, ['status', 'doc_url'], 'reputation');
    assert.deepEqual(p.health_status, p.reputation);
  }
  line = res.phone_numbers[0].phone_number;
});

await step('create a chat', async () => {
  const res = await client.chats.create({ from: line, to: ['+15553330001'], message: { parts: [text('hello from the SDK')] } });
  chat = res.chat;
  requireKeys(chat, ['id', 'display_name', 'handles', 'health_status', 'is_group', 'service', 'message'], 'chat');
  requireKeys(chat.health_status, ['status', 'doc_url', 'updated_at'], 'health_status');
  requireKeys(chat.message, ['id', 'created_at', 'delivery_status', 'is_read', 'parts', 'sent_at'], 'sent message');
  for (const h of chat.handles) requireKeys(h, ['id', 'handle', 'joined_at', 'service'], 'handle');
  assert.equal(chat.is_group, false);
  assert.equal(chat.handles.filter((h) => h.is_me).length, 1);
  assert.equal(chat.handles.find((h) => h.is_me).handle, line);
  assert.equal(chat.message.parts[0].type, 'text');
  assert.equal(chat.message.parts[0].value, 'hello from the SDK');
  const again = await client.chats.create({ from: line, to: ['+15553330001'], message: { parts: [text('again')] } });
  assert.equal(again.chat.id, chat.id, 'same from and to must reuse the chat');
  const fetched = await client.chats.retrieve(chat.id);
  requireKeys(fetched, ['id', 'created_at', 'updated_at', 'display_name', 'handles', 'health_status', 'is_archived', 'is_group'], 'chat');
});

await step('send into the chat', async () => {
  const res = await client.chats.messages.send(chat.id, { message: { parts: [text('second message')] } });
  assert.equal(res.chat_id, chat.id);
  requireKeys(res.message, ['id', 'created_at', 'delivery_status', 'is_read', 'parts', 'sent_at'], 'sent message');
  assert.notEqual(res.message.id, chat.message.id);
  const got = await client.messages.retrieve(res.message.id);
  requireKeys(got, ['id', 'chat_id', 'created_at', 'updated_at', 'delivery_status', 'is_delivered', 'is_from_me', 'is_read'], 'message');
  assert.equal(got.chat_id, chat.id);
  assert.equal(got.is_from_me, true);
});

await step('send twice with one idempotency key: one message', async () => {
  const body = { message: { parts: [text('exactly once')], idempotency_key: idemKey } };
  const first = await client.chats.messages.send(chat.id, body);
  const second = await client.chats.messages.send(chat.id, body);
  assert.equal(second.message.id, first.message.id);
  let seen = 0;
  for await (const m of client.chats.messages.list(chat.id, { limit: 2 })) {
    if (m.id === first.message.id) seen++;
  }
  assert.equal(seen, 1, 'the chat must hold the message once');
  const { sends } = await admin('GET', '/_sim/sends');
  assert.equal(sends.filter((s) => s.idempotency_key === idemKey).length, 1, 'the send log must hold one send for the key');
});

await step('pair limit arrives as RateLimitError', async () => {
  const to = '+15553330002';
  const c = await client.chats.create({ from: line, to: [to], message: { parts: [text('1')] } });
  for (let i = 2; i <= 30; i++) {
    await client.chats.messages.send(c.chat.id, { message: { parts: [text(String(i))] } });
  }
  const err = await expectError(
    client.chats.messages.send(c.chat.id, { message: { parts: [text('31')] } }),
    RateLimitError, 429, 1007,
  );
  const header = Number(err.headers.get('retry-after'));
  assert.ok(header > 0 && header <= 61, `Retry-After ${header}`);
  assert.equal(err.error.error.retry_after, header);
});

await step('other Linq errors map to the SDK classes', async () => {
  await expectError(client.chats.retrieve('00000000-0000-4000-8000-000000000000'), NotFoundError, 404, 1003);
  await expectError(
    client.chats.create({ from: line, to: ['+15553330003'], message: { parts: [{ type: 'link', value: 'https://example.com' }] } }),
    BadRequestError, 400, 1005,
  );
  await admin('POST', '/_sim/inbound', { from: '+15553330004', to: line, text: 'STOP' });
  await expectError(
    client.chats.create({ from: line, to: ['+15553330004'], message: { parts: [text('still there?')] } }),
    PermissionDeniedError, 403, 2024,
  );
  const bad = new LinqAPIV3({ apiKey: 'wrong-key', baseURL, maxRetries: 0 });
  await expectError(bad.phoneNumbers.list(), AuthenticationError, 401, 1002);
});

await step('verify a simulator webhook with webhooks.unwrap', async () => {
  const deliveries = [];
  let notify = () => {};
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
      notify();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address();
    const sub = await client.webhookSubscriptions.create({
      target_url: `http://127.0.0.1:${port}/linq?version=2026-02-03`,
      subscribed_events: ['message.sent', 'message.received'],
    });
    requireKeys(sub, ['id', 'created_at', 'is_active', 'signing_secret', 'subscribed_events', 'target_url', 'updated_at'], 'subscription');
    assert.match(sub.signing_secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const listed = await client.webhookSubscriptions.list();
    assert.ok(listed.subscriptions.some((s) => s.id === sub.id && !('signing_secret' in s)));

    const sent = await client.chats.messages.send(chat.id, { message: { parts: [text('webhook me')] } });
    const deadline = Date.now() + 15_000;
    let delivery;
    while (!delivery) {
      delivery = deliveries.find((d) => JSON.parse(d.body).data?.id === sent.message.id);
      if (delivery) break;
      assert.ok(Date.now() < deadline, 'no message.sent webhook within 15 s');
      await new Promise((resolve) => { notify = resolve; setTimeout(resolve, 200); });
    }

    const event = client.webhooks.unwrap(delivery.body, { headers: delivery.headers, key: sub.signing_secret });
    assert.equal(event.event_type, 'message.sent');
    requireKeys(event, ['event_id', 'event_type', 'created_at', 'api_version', 'webhook_version', 'partner_id', 'trace_id', 'data'], 'envelope');
    assert.equal(event.webhook_version, '2026-02-03');
    assert.equal(event.data.id, sent.message.id);
    assert.equal(event.data.chat.id, chat.id);
    assert.equal(event.data.direction, 'outbound');
    requireKeys(event.data, ['chat', 'direction', 'parts', 'sender_handle', 'service'], 'message event');

    assert.throws(() => client.webhooks.unwrap(delivery.body + ' ', { headers: delivery.headers, key: sub.signing_secret }));
    const other = 'whsec_' + crypto.randomBytes(32).toString('base64');
    assert.throws(() => client.webhooks.unwrap(delivery.body, { headers: delivery.headers, key: other }));

    // The legacy header set: hex HMAC-SHA256 of "{ts}.{body}", keyed with the
    // whole secret string.
    const legacy = crypto.createHmac('sha256', sub.signing_secret)
      .update(`${delivery.headers['x-webhook-timestamp']}.${delivery.body}`).digest('hex');
    assert.equal(delivery.headers['x-webhook-signature'], legacy);
    assert.equal(delivery.headers['x-webhook-event'], 'message.sent');
    assert.equal(delivery.headers['x-webhook-subscription-id'], sub.id);

    const updated = await client.webhookSubscriptions.update(sub.id, { is_active: false });
    assert.equal(updated.is_active, false);
    await client.webhookSubscriptions.delete(sub.id);
    await expectError(client.webhookSubscriptions.retrieve(sub.id), NotFoundError, 404, 1003);
  } finally {
    server.close();
  }
});

await step('typing and capability endpoints', async () => {
  await client.chats.typing.start(chat.id);
  await client.chats.typing.stop(chat.id);
  const check = await client.capability.checkIMessage({ address: '+15553330005' });
  requireKeys(check, ['address', 'available'], 'capability');
  const events = await client.webhookEvents.list();
  assert.ok(events.events.includes('phone_number.status_updated'));
});

console.log(`${passed} passed, 0 failed`);
