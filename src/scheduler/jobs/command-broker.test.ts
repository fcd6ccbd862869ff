import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { CommandResultSchema, CommandState, type HostEvent } from '../../protocol/gen/scheduler_pb.js';
import { CommandBroker } from './command-broker.js';

/** Host streams as lists of the events they were sent; `offline` hosts have none. */
function links(offline: string[] = []) {
  const sent = new Map<string, HostEvent[]>();
  return {
    sent,
    send(hostId: string, event: HostEvent) {
      if (offline.includes(hostId)) return false;
      sent.set(hostId, [...(sent.get(hostId) ?? []), event]);
      return true;
    },
  };
}

const commandId = (event: HostEvent | undefined) =>
  event?.event.case === 'command' ? event.event.value.commandId : '';
const stat = { case: 'statTask' as const, value: { taskId: 'a'.repeat(64) } };

test('matches an answer to its command; only the host it went to may answer', async () => {
  const l = links();
  const broker = new CommandBroker(l);
  const pending = broker.run('h1', stat, 5000);
  const id = commandId(l.sent.get('h1')?.[0]);
  assert.ok(id);
  assert.throws(
    () => broker.report('h2', create(CommandResultSchema, { commandId: id })),
    /not sent to host 'h2'/,
  );
  // A host cannot claim a timeout: that is the scheduler's call.
  assert.equal(
    broker.report('h1', create(CommandResultSchema, { commandId: id, state: CommandState.TIMEOUT })),
    true,
  );
  assert.equal((await pending).state, CommandState.FAILED);
  assert.equal(broker.report('h1', create(CommandResultSchema, { commandId: id })), false, 'answered twice');
  assert.equal(broker.size, 0);
});

test('ends every command: timeout, offline host, host gone, cancelled, over the bound', async () => {
  const l = links(['down']);
  const broker = new CommandBroker(l, 3);
  assert.equal((await broker.run('h1', stat, 20)).state, CommandState.TIMEOUT);
  const offline = await broker.run('down', stat, 5000);
  assert.equal(offline.state, CommandState.FAILED);
  assert.match(offline.error, /not connected/);
  const gone = broker.run('h1', stat, 5000);
  broker.hostGone('h1');
  assert.match((await gone).error, /disconnected/);
  const abort = new AbortController();
  const cancelled = broker.run('h2', stat, 5000, abort.signal);
  abort.abort();
  assert.match((await cancelled).error, /cancelled/);
  const held = [broker.run('h1', stat, 5000), broker.run('h1', stat, 5000), broker.run('h1', stat, 5000)];
  const refused = await broker.run('h1', stat, 5000);
  assert.equal(refused.state, CommandState.REFUSED);
  broker.failAll('stopping');
  for (const r of await Promise.all(held)) assert.equal(r.error, 'stopping');
});
