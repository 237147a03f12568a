// ioredis, as applications use it, against redpair: commands, a pipeline, a connection name,
// Pub/Sub. Run by tests/integration/test_ioredis.py, which starts redpair and sets REDPAIR_PORT,
// and by test_tls.py, which also sets REDPAIR_TLS_CA, _CERT and _KEY: then all of it runs over TLS.
'use strict';

const fs = require('node:fs');
const test = require('node:test');
const assert = require('node:assert/strict');
const Redis = require('ioredis');

const options = {
  host: '127.0.0.1',
  port: Number(process.env.REDPAIR_PORT),
  maxRetriesPerRequest: 1,
};
if (process.env.REDPAIR_TLS_CA) {
  options.tls = {
    ca: fs.readFileSync(process.env.REDPAIR_TLS_CA),
    cert: fs.readFileSync(process.env.REDPAIR_TLS_CERT),
    key: fs.readFileSync(process.env.REDPAIR_TLS_KEY),
    servername: 'localhost',
  };
}

async function using(extra, body) {
  const clients = [];
  const open = (more) => {
    const r = new Redis({ ...options, ...extra, ...more });
    clients.push(r);
    return r;
  };
  try {
    await body(open);
  } finally {
    for (const r of clients) r.disconnect();
  }
}

test('commands and a pipeline', () =>
  using({}, async (open) => {
    const r = open();
    assert.equal(await r.set('io:k', 'v'), 'OK');
    assert.equal(await r.get('io:k'), 'v');
    assert.equal(await r.set('io:ttl', 'v', 'EX', 100), 'OK');
    assert.ok((await r.ttl('io:ttl')) > 90);
    assert.equal(await r.hset('io:h', 'a', '1', 'b', '2'), 2);
    assert.deepEqual(await r.hgetall('io:h'), { a: '1', b: '2' });
    assert.deepEqual(await r.mget('io:k', 'io:none'), ['v', null]);

    const results = await r
      .pipeline()
      .set('io:n', '1')
      .incr('io:n')
      .incrby('io:n', 40)
      .get('io:n')
      .rpush('io:l', 'x', 'y')
      .lrange('io:l', 0, -1)
      .del('io:n', 'io:l')
      .exec();
    assert.deepEqual(results, [
      [null, 'OK'],
      [null, 2],
      [null, 42],
      [null, '42'],
      [null, 2],
      [null, ['x', 'y']],
      [null, 2],
    ]);
    const many = r.pipeline();
    for (let i = 0; i < 500; i++) many.incr('io:many');
    const counted = await many.exec();
    assert.deepEqual(counted.at(-1), [null, 500]);

    assert.deepEqual(await r.call('CONFIG', 'GET', 'maxmemory'), ['maxmemory', '0']);
    await assert.rejects(r.call('CONFIG', 'SET', 'port', '1'), /not through redpair/);
  }));

test('connection name, database and HELLO', () =>
  using({ connectionName: 'io-app', db: 3 }, async (open) => {
    const r = open();
    assert.equal(await r.client('GETNAME'), 'io-app');
    const info = await r.client('INFO');
    assert.match(info, /^id=\d+ addr=127\.0\.0\.1:\d+ .* name=io-app .* db=3 /);
    assert.equal(await r.client('ID'), Number(/^id=(\d+)/.exec(info)[1]));
    const hello = await r.call('HELLO', '2');
    assert.deepEqual(hello.slice(0, 2), ['server', 'redis']);
    await assert.rejects(r.call('HELLO', '3'), /NOPROTO/);
  }));

test('publish and subscribe', () =>
  using({}, async (open) => {
    const sub = open();
    const pub = open();
    const got = [];
    let done;
    const all = new Promise((resolve) => (done = resolve));
    const note = (entry) => {
      got.push(entry);
      if (got.length === 6) done();
    };
    sub.on('message', (channel, message) => note(['message', channel, message]));
    sub.on('pmessage', (pattern, channel, message) => note(['pmessage', pattern, channel, message]));
    assert.equal(await sub.subscribe('io:news'), 1);
    assert.equal(await sub.psubscribe('io:n*'), 2);
    for (const m of ['one', 'two', 'three']) assert.equal(await pub.publish('io:news', m), 2);
    await all;
    assert.deepEqual(
      got.filter((e) => e[0] === 'message'),
      ['one', 'two', 'three'].map((m) => ['message', 'io:news', m]),
    );
    assert.deepEqual(
      got.filter((e) => e[0] === 'pmessage'),
      ['one', 'two', 'three'].map((m) => ['pmessage', 'io:n*', 'io:news', m]),
    );
    await sub.unsubscribe('io:news');
    await sub.punsubscribe();
    assert.equal(await pub.publish('io:news', 'nobody'), 0);
    assert.equal(await sub.get('io:k'), 'v'); // out of subscriber mode
  }));

test('transactions and WATCH', () =>
  using({}, async (open) => {
    const r = open();
    const other = open();
    assert.deepEqual(await r.multi().set('io:tx', '1').incr('io:tx').get('io:tx').exec(), [
      [null, 'OK'],
      [null, 2],
      [null, '2'],
    ]);
    // A runtime error is one element; the rest is applied.
    const mixed = await r.multi().set('io:s', 'x').incr('io:s').set('io:t', 'y').exec();
    assert.equal(mixed[0][1], 'OK');
    assert.match(String(mixed[1][0]), /not an integer/);
    assert.equal(await r.get('io:t'), 'y');
    // A write by another client to a watched key makes EXEC return null.
    await r.watch('io:tx');
    await other.set('io:tx', '100');
    assert.equal(await r.multi().set('io:tx', '3').exec(), null);
    assert.equal(await r.get('io:tx'), '100');
    // Without a conflicting write the transaction runs.
    await r.watch('io:tx');
    assert.deepEqual(await r.multi().incr('io:tx').exec(), [[null, 101]]);
    // A queue-time error aborts it all.
    await assert.rejects(r.multi().set('io:never', '1').call('NOSUCHCMD').exec(), /EXECABORT/);
    assert.equal(await r.exists('io:never'), 0);
  }));

test('blocking pops woken by another client', () =>
  using({}, async (open) => {
    const waiter = open();
    const pusher = open();
    const popped = waiter.blpop('io:q1', 'io:q2', 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await pusher.rpush('io:q2', 'job'), 1);
    assert.deepEqual(await popped, ['io:q2', 'job']);
    const moved = waiter.blmove('io:src', 'io:dst', 'LEFT', 'RIGHT', 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pusher.rpush('io:src', 'a');
    assert.equal(await moved, 'a');
    assert.deepEqual(await pusher.lrange('io:dst', 0, -1), ['a']);
    const started = Date.now();
    assert.equal(await waiter.brpop('io:empty', 0.2), null);
    assert.ok(Date.now() - started >= 150);
  }));
